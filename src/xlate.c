/* xlate: being written */
