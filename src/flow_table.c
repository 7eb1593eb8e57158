/* flow_table: being written */
