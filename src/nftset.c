/* nftset: being written */
