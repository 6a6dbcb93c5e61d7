"""The answer to input that fails validation: 422, saying what was wrong, always.

FastAPI's own answer echoes each wrong value (`input`), and fails to encode one that
is not JSON (a `NaN` once made a 500 of a 422). This one keeps each error's `loc`,
`msg` and `type` as FastAPI shapes them (clients read `detail[0].loc` and `.msg`), and
echoes a value only when it encodes as JSON, is short, and is not a secret.
"""

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

_ECHO_MAX_CHARS = 100
_SECRET_WORDS = ("password", "token", "secret", "key")


async def invalid_input(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": [_error(error) for error in errors]}, status_code=422)


def _error(error: dict[str, Any]) -> dict[str, Any]:
    loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "invalid"))
    context = error.get("ctx") or {}
    if error.get("type") == "json_invalid" and "error" in context:
        message = f"the body is not valid JSON: {context['error']}"
    shaped: dict[str, Any] = {"type": str(error.get("type", "invalid")), "loc": loc, "msg": message}
    value = error.get("input")
    secret = any(word in str(part).lower() for part in loc for word in _SECRET_WORDS)
    if not secret and (echo := _echo(value)) is not None:
        shaped["input"] = echo
    return shaped


def _echo(value: Any) -> Any:
    """`value` if it is short JSON (a long string cut short), else None."""
    if isinstance(value, str):
        return value[:_ECHO_MAX_CHARS]
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return value if len(encoded) <= _ECHO_MAX_CHARS else None
