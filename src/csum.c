/* csum: being written */
