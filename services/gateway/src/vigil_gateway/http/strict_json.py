"""Request bodies parsed as strict JSON, on every route.

Python's `json` takes `NaN`, `Infinity` and `-Infinity`, and turns a number too large
for a float (`1e999`) into infinity: values no JSON peer can read back, which broke
answers that echo them (500). Every route of the gateway reads its body through
`StrictJsonRequest` (routes are made by `StrictJsonRoute`), which refuses those, and
nesting too deep to parse, as invalid JSON: FastAPI then answers 422 saying why.
"""

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

_NOT_JSON_NUMBER = "{} is not a JSON number: send a finite number"


class _NotStrict(ValueError):
    def __init__(self, message: str, token: str) -> None:
        super().__init__(message)
        self.token = token


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStrict(f"{text[:40]} is too large for a number (a 64-bit float)", text)
    return value


def _constant(name: str) -> Any:
    raise _NotStrict(_NOT_JSON_NUMBER.format(name), name)


def loads(body: bytes) -> Any:
    """`body` as strict JSON, or `json.JSONDecodeError` saying what is wrong."""
    doc = body.decode(errors="replace")
    try:
        return json.loads(doc, parse_float=_finite, parse_constant=_constant)
    except _NotStrict as exc:
        raise json.JSONDecodeError(str(exc), doc, max(0, doc.find(exc.token))) from None
    except RecursionError:
        raise json.JSONDecodeError("nested too deep", doc, 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer of more digits than Python converts
        raise json.JSONDecodeError("a whole number has more than 4300 digits", doc, 0) from None


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose body is read as strict JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict
