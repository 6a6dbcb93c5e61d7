"""Secrets taken out of log lines before they leave the collector (seed 000).

Default patterns: passwords in URLs, bearer tokens, AWS access key ids and secret
keys, JWTs, and private keys (a PEM block is redacted line by line from its BEGIN to
its END, so the follower keeps one `Redactor` per container). Operators add their
own regular expressions; each match is replaced by `[REDACTED]`.
"""

import re

MARK = "[REDACTED]"

_URL_PASSWORD = re.compile(r"(?P<keep>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#\s@]+:)[^@/\s]+(?=@)")
_BEARER = re.compile(r"(?P<keep>\b(?i:bearer)\s+)[A-Za-z0-9._~+/=-]{8,}")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b")
_AWS_SECRET = re.compile(
    r"(?P<keep>(?i:aws_?secret_?access_?key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{40}"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")
_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
_KEY_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
_KEY_INLINE = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----"
)

DEFAULT_PATTERNS = (_URL_PASSWORD, _BEARER, _AWS_KEY_ID, _AWS_SECRET, _JWT)
_HINTS = {  # what a line holds (lower-cased) for each default pattern to match it
    _URL_PASSWORD: ("://",),
    _BEARER: ("bearer",),
    _AWS_KEY_ID: ("akia", "asia", "agpa", "aida", "aroa"),
    _AWS_SECRET: ("secret",),
    _JWT: ("eyj",),
}
_KEY_HINT = "private key"
_ANY_HINT = re.compile(
    "|".join(re.escape(hint) for hint in (*(h for hs in _HINTS.values() for h in hs), _KEY_HINT))
)


def _replace(match: re.Match[str]) -> str:
    keep = match.groupdict().get("keep")
    return (keep or "") + MARK


class Redactor:
    """Redacts one stream of lines (it remembers an open private-key block)."""

    def __init__(self, extra: list[re.Pattern[str]], *, defaults: bool = True) -> None:
        self._defaults = defaults
        self._extra = extra
        self._in_key = False

    def line(self, text: str) -> str:
        if self._defaults:
            # A default pattern runs only on a line holding its hint: most lines hold none.
            lowered = text.lower()
            if self._in_key or _ANY_HINT.search(lowered) is not None:
                text = self._private_keys(text)
                lowered = text.lower()
                for pattern in DEFAULT_PATTERNS:
                    if any(hint in lowered for hint in _HINTS[pattern]):
                        text = pattern.sub(_replace, text)
        for pattern in self._extra:
            text = pattern.sub(_replace, text)
        return text

    def _private_keys(self, text: str) -> str:
        text = _KEY_INLINE.sub(MARK, text)
        if self._in_key:
            end = _KEY_END.search(text)
            if end is None:
                return MARK
            self._in_key = False
            return MARK + text[end.end() :]
        begin = _KEY_BEGIN.search(text)
        if begin is not None:
            self._in_key = True
            return text[: begin.start()] + MARK
        return text


def compile_patterns(patterns: list[str]) -> list[re.Pattern[str]]:
    """The operator's patterns; a bad one fails at start-up, naming it."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ValueError(f"redaction pattern {pattern!r}: {exc}") from exc
    return compiled
