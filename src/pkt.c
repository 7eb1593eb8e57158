/* pkt: being written */
