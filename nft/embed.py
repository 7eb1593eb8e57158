#!/usr/bin/env python3
"""Turns a text file into a C header holding it as a string constant."""
import sys

src, dst, name = sys.argv[1:4]
with open(src, encoding="utf-8") as f:
    text = f.read()
with open(dst, "w", encoding="utf-8") as f:
    f.write(f"/* generated from {src.split('/')[-1]} by nft/embed.py */\n")
    f.write(f"static const char {name}[] =\n")
    for line in text.splitlines(keepends=True):
        esc = line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        f.write(f'\t"{esc}"\n')
    f.write(";\n")
