"""Request bodies bounded before anything reads them, on every route.

A pure ASGI middleware, first in the gateway's stack, so no route, dependency or
credential check runs for a body that is too large or too slow:

- a `Content-Length` over `max_bytes` is answered 413 at once, and the body is never
  read (nor the app called);
- a body without one (chunked) is counted as it arrives and answered 413 the moment
  it passes `max_bytes`;
- a body that has not arrived `timeout_s` after the request began is answered 408.

Each refusal says what was wrong, in the gateway's error shape, and closes the
connection (`Connection: close`), so the rest of a refused body is never read.
"""

import asyncio
import contextlib
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.messages import ErrorCode


class _Refused(Exception):
    """The body broke a bound; the answer has been sent."""


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _refuse(
                send,
                400,
                ErrorCode.INVALID_MESSAGE,
                "Content-Length must be a whole number of bytes",
            )
            return
        if declared is not None and declared > self.max_bytes:
            await _refuse(
                send,
                413,
                ErrorCode.LIMIT_REACHED,
                self._too_large(f"{declared} bytes are declared"),
            )
            return
        deadline = time.monotonic() + self.timeout_s
        received = 0
        complete = False  # the whole body is in: later receives wait for a disconnect
        answered = False  # we answered: what the app sends after is dropped

        async def bounded_receive() -> Message:
            nonlocal received, complete, answered
            if complete:
                return await receive()
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                answered = True
                await _refuse(
                    send,
                    408,
                    ErrorCode.TIMEOUT,
                    f"the request body did not come within {self.timeout_s:g} s",
                )
                raise _Refused from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > self.max_bytes and not answered:
                    answered = True
                    await _refuse(
                        send,
                        413,
                        ErrorCode.LIMIT_REACHED,
                        self._too_large(f"more than {self.max_bytes} came"),
                    )
                    raise _Refused
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        with contextlib.suppress(_Refused):  # answered already; the app gave up reading
            await self.app(scope, bounded_receive, guarded_send)

    def _too_large(self, what: str) -> str:
        return (
            f"the request body is too large: {what}, the most is {self.max_bytes} bytes"
            " (VIGIL_GATEWAY_MAX_BODY_BYTES)"
        )


def _content_length(scope: Scope) -> int | None:
    """The declared length; None without one, -1 for one that is not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return None


async def _refuse(send: Send, status: int, code: ErrorCode, message: str) -> None:
    body = json.dumps({"detail": {"code": code, "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the rest of the body is never read
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
