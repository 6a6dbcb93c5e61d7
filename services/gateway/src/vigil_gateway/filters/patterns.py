"""Patterns that come from clients, compiled for RE2: linear time, bounded memory.

A client's regular expression (the `regex` filter of a log channel) runs on every line
of the views that use it, and a container name glob (`name` of a merged view) on every
container, so both run on RE2 (`google-re2`): its matching time grows with the text,
never exponentially as a backtracking engine's can, so no pattern can stall the event
loop that every client shares. Each pattern's compiled program and DFA cache share
`MAX_MEM_BYTES`: a pattern whose program does not fit is refused, as is one longer
than `MAX_PATTERN_CHARS`. RE2 has no backreferences and no lookaround; a pattern that
uses them is refused with a message that says so.
"""

import re2

from vigil import patterns

MAX_PATTERN_CHARS = 200  # as a channel's filter parameter (`vigil.names`)
MAX_MEM_BYTES = 256 * 1024  # a third for the program, the rest for the DFA cache


class InvalidPattern(ValueError):
    """A pattern RE2 will not run; `str()` says why, in words a client can act on."""


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = MAX_MEM_BYTES
    options.never_capture = True  # only whether a line matches: no groups to track
    options.log_errors = False  # a client's typo is not the gateway's error
    return options


_OPTIONS = _options()


def compile_regex(pattern: str) -> "re2._Regexp[str]":
    """`pattern` compiled for searching lines, or `InvalidPattern` saying what is wrong."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidPattern(f"is longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise InvalidPattern(patterns.problem(exc, MAX_MEM_BYTES)) from None


def compile_glob(glob: str) -> "re2._Regexp[str]":
    """A glob (`*` any run of characters, `?` one, the rest literal) as a pattern that
    must match a whole name."""
    if len(glob) > MAX_PATTERN_CHARS:
        raise InvalidPattern(f"is longer than {MAX_PATTERN_CHARS} characters")
    try:
        return patterns.compile_glob(glob)
    except re2.error as exc:
        raise InvalidPattern(patterns.problem(exc, MAX_MEM_BYTES)) from None
