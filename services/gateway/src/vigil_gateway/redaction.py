"""Keeping credentials out of logs.

uvicorn logs request paths with their query strings, and browsers and scripts put
`?token=` and `?api_key=` there; this filter blanks those values on uvicorn's loggers
before any handler sees them.
"""

import logging
import re
from typing import Any

_CREDENTIAL = re.compile(r"((?:token|api_key|access_token|refresh_token)=)[^&\s\"']+", re.I)
_LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    return _CREDENTIAL.sub(r"\1[redacted]", text)


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
