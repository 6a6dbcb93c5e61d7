"""Globs (`*` any run, `?` one character) compiled for RE2: linear time, whatever the
pattern."""

import re2


def compile_glob(glob: str) -> "re2._Regexp[str]":
    parts = [".*" if char == "*" else "." if char == "?" else re2.escape(char) for char in glob]
    return re2.compile("".join(parts))


def glob_matches(compiled: "re2._Regexp[str]", text: str) -> bool:
    return compiled.fullmatch(text) is not None
