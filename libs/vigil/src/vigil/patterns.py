"""Users' patterns on RE2: linear time whatever the pattern, so a user's glob (a rule's
target, a notification channel's filter, a merged view's container names) or regular
expression (a log filter, a log search) cannot stall the service matching it (DESIGN
rule 9). Globs on names (`*` any run of characters, `?` one, the rest literal) are each
compiled once; `problem` says why RE2 refused a pattern, in words a user can act on."""

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


SYNTAX = "https://github.com/google/re2/wiki/Syntax"


def problem(exc: re2.error, max_mem_bytes: int) -> str:
    """Why RE2 refused a pattern (compiled within `max_mem_bytes`)."""
    raw = exc.args[0] if exc.args else ""
    said = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    if "invalid escape sequence: \\" in said and said[-1:].isdigit():
        return f"backreferences ({said[-2:]}) are not supported: RE2 matches in linear time"
    if "invalid escape sequence: \\Z" in said:
        return "\\Z is not supported: use \\z for the end of the line"
    if "invalid perl operator" in said:
        return (
            "lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not supported: "
            "RE2 matches in linear time"
        )
    if "pattern too large" in said:
        return (
            f"is too large to run within {max_mem_bytes // 1024} KiB: "
            "use fewer or smaller repetitions"
        )
    if "repetition" in said:
        return f"{said}: a repetition counts at most 1000 ({{n,m}})"
    return f"{said} (RE2 syntax: {SYNTAX})"
