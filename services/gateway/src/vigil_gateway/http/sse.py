"""Server-Sent Events: every channel as a `text/event-stream`, for clients whose network
blocks WebSockets.

An SSE stream is a connection like a WebSocket's, with the same admission, credentials,
limits, backpressure, revocation and drain, over an `SseWire`: each frame becomes an
event whose `data:` is the JSON a WebSocket client would get and whose `id:` is the
message's cursor, so a reconnect with `Last-Event-ID` (browsers send it by themselves)
or `?since=` resumes without loss. A comment line every heartbeat keeps proxies from
closing an idle stream, and the headers stop them from buffering or compressing it.
When the gateway closes a stream it sends a last `close` event with the code and
reason the WebSocket would have had.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from vigil.channels import ChannelRef
from vigil.messages import CloseCode, ErrorCode
from vigil_gateway.access.credentials import read_credentials
from vigil_gateway.delivery import channel_admission
from vigil_gateway.delivery.options import Options
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.http.http_auth import refusal, refused
from vigil_gateway.replica.gateway import Gateway
from vigil_gateway.session.admission import Refusal
from vigil_gateway.transport.wire import Frame, Receiver

HEADERS = {
    "Cache-Control": "no-cache, no-transform",  # no-transform: proxies must not compress
    "X-Accel-Buffering": "no",  # nginx: pass each event on at once
    "Connection": "keep-alive",
}
RETRY_MS = 2000  # how long a browser waits before it reconnects by itself
BUFFERED_CHUNKS = 64  # written but not yet sent: past this the connection's backlog holds


def event(frame: Frame) -> bytes:
    head = b"id: %d\n" % frame.cursor if frame.cursor is not None else b""
    return head + b"data: " + frame.text.encode() + b"\n\n"


class SseWire:
    """A `Wire` whose bytes go out as the body of a streaming HTTP response."""

    def __init__(self, heartbeat_s: float) -> None:
        self._heartbeat_s = heartbeat_s
        self._chunks: list[bytes] = []
        self._ready = asyncio.Event()
        self._closed = False
        self._receiver: Receiver | None = None
        self.writable = True
        self.on_writable: Callable[[], None] | None = None

    def write(self, frames: Sequence[Frame]) -> bool:
        if self._closed:
            return False
        self._chunks.append(b"".join([event(frame) for frame in frames]))
        if len(self._chunks) >= BUFFERED_CHUNKS:
            self.writable = False
        self._ready.set()
        return True

    def close(self, code: int, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        data = json.dumps({"type": "close", "code": code, "reason": reason})
        self._chunks.append(f"event: close\ndata: {data}\n\n".encode())
        self._ready.set()
        self.ended(code)

    def detach(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def pause_reading(self) -> None:
        """An SSE client sends nothing after its request."""

    def resume_reading(self) -> None:
        """An SSE client sends nothing after its request."""

    def ended(self, code: int = CloseCode.GOING_AWAY) -> None:
        """The stream is over (closed by us, or the client went away)."""
        self._closed = True
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            receiver.on_closed(code)

    async def body(self) -> AsyncIterator[bytes]:
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            while True:
                if not self._chunks:
                    try:
                        await asyncio.wait_for(self._ready.wait(), self._heartbeat_s)
                    except TimeoutError:
                        yield b": keepalive\n\n"
                        continue
                self._ready.clear()
                chunks, self._chunks = self._chunks, []
                if chunks:
                    yield b"".join(chunks)
                if not self.writable:
                    self.writable = True
                    if self.on_writable is not None:
                        self.on_writable()
                if self._closed and not self._chunks:
                    return
        finally:
            self.ended()


async def stream(
    request: Request, gateway: Gateway, channel: ChannelRef, options: Options
) -> StreamingResponse:
    """The channel as an event stream, for an admitted client that may see it."""
    address = request.client.host if request.client else None
    decision = await gateway.admission.decide(read_credentials(request))
    if isinstance(decision, Refusal):
        gateway.audit.refused(f"GET {request.url.path}", None, decision.reason, address=address)
        gateway.metrics.closes[decision.code] += 1
        retry = 1.0 if decision.error in (ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED) else None
        raise refusal(decision.error, decision.reason, retry_after_s=retry)
    try:  # said as a status, before the stream; the stream's own opening admits it
        channel_admission.check(
            decision, channel, action="subscribe", audit=gateway.audit, address=address
        )
        gateway.filter_quota.check(decision, channel)
    except ChannelRefused as exc:
        raise refused(exc) from None
    wire = SseWire(gateway.settings.heartbeat_interval_s)
    await gateway.sessions.attach(
        wire, decision, address, channel=channel, options=options, pings=False
    )
    return StreamingResponse(
        wire.body(),
        media_type="text/event-stream",
        headers=HEADERS,
        background=BackgroundTask(wire.ended),  # also when the body never started
    )
