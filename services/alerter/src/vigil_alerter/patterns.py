"""The regular expressions of log rules, compiled for RE2: linear time in the line,
bounded memory, so no pattern an operator writes can stall the alerter (the gateway
runs clients' log filters the same way). RE2 has no backreferences and no lookaround:
a pattern that uses them is refused, saying so."""

import re2

MAX_MEM_BYTES = 256 * 1024


class InvalidPattern(ValueError):
    """A pattern RE2 will not run; `str()` says why."""


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = MAX_MEM_BYTES
    options.never_capture = True
    options.log_errors = False
    return options


_OPTIONS = _options()


def compile_regex(pattern: str) -> "re2._Regexp[str]":
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        said = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        raise InvalidPattern(
            f"not a pattern RE2 runs (no backreferences, no lookaround): {said}"
        ) from None
