"""Globs on names (`*` any run of characters, `?` one, the rest literal), run on RE2:
linear time whatever the glob, so a user's glob (a rule's target, a notification
channel's filter, a merged view's container names) cannot stall the service matching
it (DESIGN rule 9). Each is compiled once."""

import functools

import re2

_OPTIONS = re2.Options()
_OPTIONS.max_mem = 256 * 1024  # a name glob's program and DFA cache; more is refused
_OPTIONS.never_capture = True  # only whether a name matches
_OPTIONS.log_errors = False  # a user's glob is not the service's error


@functools.lru_cache(maxsize=4096)
def compile_glob(glob: str) -> "re2._Regexp[str]":
    """`glob` as a pattern that must match a whole name (`glob_matches`); `re2.error`
    when RE2 will not run it (one too big for its memory)."""
    parts = (".*" if char == "*" else "." if char == "?" else re2.escape(char) for char in glob)
    return re2.compile("(?s:" + "".join(parts) + ")", _OPTIONS)


def glob_matches(compiled: "re2._Regexp[str]", name: str) -> bool:
    return compiled.fullmatch(name) is not None
