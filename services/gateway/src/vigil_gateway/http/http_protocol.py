"""The gateway's HTTP listener: uvicorn's httptools protocol, with every request head
bounded in time and size, and every answer taken by the client in time.

uvicorn starts a request once its head (request line and headers) is complete, and
until then waits for it with no deadline and gathers it with no limit: a client that
sends a header line every few seconds holds a connection forever, and one that sends
an endless line grows the gateway's memory. Every request (a WebSocket handshake is
one: it is upgraded only once its head is complete) therefore meets, until its head
is complete:

- a deadline, `head_timeout_s` from the connection (or, on a kept-alive one, from the
  request's first byte): then 408, and the connection closes;
- size limits: a request line over `MAX_LINE_BYTES` is answered 414, a head over
  `max_head_bytes` or with more than `MAX_HEADERS` headers 431 — each really sent,
  then the connection closes;
- a cap on heads in progress at once, `max_pending_heads`: past it the one that has
  waited longest is closed (408), so a flood of half-sent requests cannot hold every
  connection while a client that sends its head at once is never the one to go.

The limits on the line and the header count are those `websockets` applies to a
handshake, so a head that passes here passes there too.

An answer (a poll's page, an SSE stream) goes out through the transport's buffer; a
client that stops reading it would hold that buffer, and its connection, for ever. So
once the buffer is full (the transport pauses writing), the client has `send_timeout_s`
to take some of it, or the connection is cut. The kernel's share of that buffer is
capped as a WebSocket's is (`send_buffer_bytes`), so a client that stops reading is
noticed, not met by megabytes of kernel memory first.

An answer given while the request's body is still coming (413 as a body passes the
limit, 408, 431) is followed by a lingering close, as nginx's: the gateway sends its
FIN, then reads and drops what still comes for `LINGER_S` (or `LINGER_BYTES`), and only
then closes. Closed at once, the socket would answer the client's next bytes with a
reset, which throws away the answer the client had not read yet.
"""

import asyncio
import http
import socket
from collections import OrderedDict
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from websockets.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS

MAX_LINE_BYTES = MAX_LINE_LENGTH  # 8 KiB
MAX_HEADERS = MAX_NUM_HEADERS  # 128
LINGER_S = 2.0
LINGER_BYTES = 4 * 1024**2


class HeadLimitedProtocol(HttpToolsProtocol):
    """Set by `http_protocol` for one server: its limits and its heads in progress."""

    head_timeout_s: ClassVar[float] = 5.0
    max_head_bytes: ClassVar[int] = 32_768
    max_pending_heads: ClassVar[int] = 1000
    send_timeout_s: ClassVar[float] = 30.0
    send_buffer_bytes: ClassVar[int] = 0  # the kernel's send buffer; 0: its autotuning
    pending: ClassVar["OrderedDict[HeadLimitedProtocol, None]"]

    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = False
        self._refusal: tuple[int, str] | None = None  # found while parsing, sent after
        self._refused = False
        self._send_timer: asyncio.TimerHandle | None = None
        self._request_open = False  # a request has begun whose body has not all come
        self._lingering: _LingeringClose | None = None

    # -- the head's deadline and the cap on heads in progress ------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._lingering = _LingeringClose(transport, self)
        super().connection_made(self._lingering)  # type: ignore[arg-type]
        sock = transport.get_extra_info("socket")
        if self.send_buffer_bytes and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer_bytes)
        self._start_head()
        while len(self.pending) > self.max_pending_heads:
            oldest = next(iter(self.pending))
            oldest._refuse(
                408, "too many requests whose head has not come: this one waited longest"
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_head()
        if self._lingering is not None:
            self._lingering.lost()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        super().connection_lost(exc)

    # -- a client that stops reading its answer -------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.send_timeout_s, self.transport.abort)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def on_message_begin(self) -> None:
        self._request_open = True
        super().on_message_begin()
        if not self._in_head:  # the next request on a kept-alive connection
            self._start_head()

    def _start_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self.pending[self] = None
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _end_head(self) -> None:
        self._in_head = False
        self.pending.pop(self, None)
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_bytes == 0 and self.cycle is None:  # a connection that said nothing
            self._end_head()
            self.transport.close()
            return
        self._refuse(408, f"the request's head did not come within {self.head_timeout_s:g} s")

    # -- sizes ---------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None and self._lingering.drop(len(data)):
            return
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._refusal is None and self._in_head and self._head_bytes > self.max_head_bytes:
            self._refusal = (431, f"the request's head is over {self.max_head_bytes} bytes")
        if self._refusal is not None:
            self._refuse(*self._refusal)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_LINE_BYTES and self._refusal is None:
            self._refusal = (414, f"the request line is over {MAX_LINE_BYTES} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if self._refusal is not None:
            return
        if len(self.headers) > MAX_HEADERS:
            self._refusal = (431, f"the request has over {MAX_HEADERS} headers")
        parsed = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if parsed > self.max_head_bytes:  # a head that came whole, in one read
            self._refusal = (431, f"the request's head is over {self.max_head_bytes} bytes")

    def on_headers_complete(self) -> None:
        if self._refusal is not None:  # refused: the request never starts
            return
        self._end_head()
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        if self._refusal is None:  # a refused handshake is answered here, not upgraded
            super().handle_websocket_upgrade()

    def on_body(self, body: bytes) -> None:
        if self._refusal is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._request_open = False
        if self._refusal is None:
            super().on_message_complete()

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` saying `message`, and close (once)."""
        self._end_head()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        phrase = http.HTTPStatus(status).phrase
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, phrase.encode(), len(body), body)
        )
        self.transport.close()


class _LingeringClose:
    """The connection's transport, as uvicorn sees it: its `close` lingers while the
    request's body is still coming (see the module's docstring); all else is the
    transport's own."""

    def __init__(self, transport: asyncio.Transport, protocol: HeadLimitedProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closing = False
        self._dropped = 0
        self._timer: asyncio.TimerHandle | None = None

    def close(self) -> None:
        transport = self._transport
        if self._closing or transport.is_closing():
            return
        self._closing = True
        upgraded = transport.get_protocol() is not self._protocol  # a WebSocket's now
        if upgraded or not self._protocol._request_open or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()  # the answer, then our FIN
        transport.resume_reading()  # read what still comes, to drop it
        self._timer = asyncio.get_running_loop().call_later(LINGER_S, transport.close)

    def drop(self, count: int) -> bool:
        """Whether `count` bytes that came are dropped (closing), closing for good
        past `LINGER_BYTES`."""
        if not self._closing:
            return False
        self._dropped += count
        if self._dropped > LINGER_BYTES:
            self._transport.close()
        return True

    def lost(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def is_closing(self) -> bool:
        return self._closing or self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def http_protocol(
    head_timeout_s: float,
    max_head_bytes: int,
    max_pending_heads: int,
    send_timeout_s: float,
    send_buffer_bytes: int,
) -> type[HeadLimitedProtocol]:
    """`HeadLimitedProtocol` with these limits, and heads in progress of its own."""
    return type(
        "HeadLimitedProtocol",
        (HeadLimitedProtocol,),
        {
            "head_timeout_s": head_timeout_s,
            "max_head_bytes": max_head_bytes,
            "max_pending_heads": max_pending_heads,
            "send_timeout_s": send_timeout_s,
            "send_buffer_bytes": send_buffer_bytes,
            "pending": OrderedDict(),
        },
    )
