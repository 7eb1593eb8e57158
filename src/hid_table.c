/* hid_table: being written */
