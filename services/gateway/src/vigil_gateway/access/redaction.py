"""Keeping credentials out of logs.

uvicorn logs request paths with their query strings, and browsers and scripts put
`?token=` and `?api_key=` there; this filter blanks those values on uvicorn's loggers
before any handler sees them. A parameter's name counts as the server reads it:
percent-decoded (`?%74oken=` is `token`, as Starlette reads it; twice-encoded too) and
in any case, so no spelling of a credential's name slips through.
"""

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

CREDENTIAL_NAMES = frozenset({"token", "api_key", "access_token", "refresh_token"})
REDACTED = "[redacted]"
_QUERY = re.compile(r"\?([^\s\"']+)")  # a query string in a log line
_SEPARATOR = re.compile(r"([&;])")
# Anywhere else in a line (a message, not a query string): the plain spellings.
_CREDENTIAL = re.compile(r"((?:token|api_key|access_token|refresh_token)=)[^&\s\"']+", re.I)
_LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    return _CREDENTIAL.sub(r"\1" + REDACTED, _QUERY.sub(_redact_query, text))


def _redact_query(found: re.Match[str]) -> str:
    parts = _SEPARATOR.split(found.group(1))
    return "?" + "".join(_redact_parameter(part) for part in parts)


def _redact_parameter(part: str) -> str:
    raw_name, has_value, _ = part.partition("=")
    decoded = part
    for _ in range(3):  # `%2574oken` is `%74oken` once decoded, `token` twice
        decoded = unquote_plus(decoded)
    name, decoded_has_value, _ = decoded.partition("=")
    if name.strip().lower() not in CREDENTIAL_NAMES or not (has_value or decoded_has_value):
        return part
    return f"{raw_name if has_value else name}={REDACTED}"


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        return True


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def install() -> None:
    """Add the filter to uvicorn's loggers, once."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in logger.filters):
            logger.addFilter(RedactCredentials())
