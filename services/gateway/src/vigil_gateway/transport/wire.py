"""The WebSocket wire under the gateway's sockets: frames built once, written directly,
and no task per socket once it is open.

uvicorn does the handshake, and the ASGI app (FastAPI's route) authenticates and
accepts, as usual. Past that, ASGI costs most at fan-out (an awaited `send` per frame
per socket, each encoding its own frame) and in memory (a task holding a chain of
coroutines per socket), so the gateway serves its WebSockets with `WireProtocol`,
uvicorn's own sans-I/O protocol with a `WebSocketWire` handed to the app in the scope:

- the gateway builds each message's frame bytes once (server frames are unmasked, so
  they are the same for every client) and writes each socket's pending frames with
  one `transport.write`; with compression on, sockets negotiate permessage-deflate
  without server context takeover, so each frame is compressed once, too;
- `Wire.writable` goes false when the kernel stops taking a socket's bytes (the
  transport's high-water mark), and `on_writable` says when it drained;
- once accepted, the app `detach`es the socket to a `Receiver` and returns: the
  protocol then hands it each client message and the close directly, and the socket
  lives on with no ASGI task, queue or request behind it.
"""

import functools
import socket
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from uvicorn.config import Config
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.server import ServerProtocol

WIRE_EXTENSION = "vigil.wire"


DEFLATE_WINDOW_BITS = 12
DEFLATE_MEMORY_LEVEL = 5  # uvicorn's choice: small contexts, many sockets


def _header(first_byte: int, size: int) -> bytes:
    if size < 126:
        return bytes((first_byte, size))
    if size < 65_536:
        return bytes((first_byte, 126)) + size.to_bytes(2, "big")
    return bytes((first_byte, 127)) + size.to_bytes(8, "big")


class Frame:
    """One text message, with its complete unmasked WebSocket frame, and the cursor of
    the message it came from (stream and journal channels; SSE sends it as `id:`).

    `deflated` is the same message compressed for permessage-deflate without context
    takeover: compressed once, the first time a socket that negotiated it needs it, and
    the same bytes for every such socket.
    """

    __slots__ = ("_deflated", "cursor", "data", "text")

    def __init__(self, text: str, cursor: int | None = None) -> None:
        payload = text.encode()
        self.text = text
        self.data = _header(0x81, len(payload)) + payload
        self.cursor = cursor
        self._deflated: bytes | None = None

    @property
    def deflated(self) -> bytes:
        if self._deflated is None:
            encoder = zlib.compressobj(wbits=-DEFLATE_WINDOW_BITS, memLevel=DEFLATE_MEMORY_LEVEL)
            data = encoder.compress(self.text.encode()) + encoder.flush(zlib.Z_SYNC_FLUSH)
            data = data[:-4]  # a sync flush ends with 00 00 ff ff, which the peer adds back
            self._deflated = _header(0xC1, len(data)) + data  # FIN, RSV1 (compressed), text
        return self._deflated

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Frame({self.text!r})"


Frames = tuple[Frame, ...]
"""What one message becomes for a socket: its frames, sent together and in order."""


class Receiver(Protocol):
    """Who gets a detached socket's client messages and its end."""

    def on_message(self, text: str | None) -> None:
        """A text message, or None for a binary one."""

    def on_closed(self, code: int) -> None:
        """The socket is closing or closed: by the client, by us, or lost (1006)."""


class Wire(Protocol):
    """What a connection needs of its socket, whatever the transport (WebSocket, SSE)."""

    writable: bool  # it takes bytes now; `on_writable` is called when that comes back
    on_writable: Callable[[], None] | None

    def write(self, frames: Sequence[Frame]) -> bool:
        """Hand `frames` to the client; False if the socket is closed."""

    def close(self, code: int, reason: str) -> None:
        """Close with `code` (the receiver hears `on_closed`)."""

    def detach(self, receiver: Receiver) -> None:
        """Hand client messages and the end to `receiver` from now on."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class _Inbox:
    """Stands in for the protocol's ASGI queue once detached: events go to the receiver."""

    __slots__ = ("_receiver",)

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def put_nowait(self, event: Mapping[str, Any]) -> None:
        if event["type"] == "websocket.receive":
            self._receiver.on_message(event.get("text"))
        elif event["type"] == "websocket.disconnect":
            self._receiver.on_closed(int(event.get("code", 1005)))


class WebSocketWire:
    """A `Wire` over uvicorn's WebSocket protocol."""

    __slots__ = ("_protocol", "on_writable", "writable")

    def __init__(self, protocol: "WireProtocol") -> None:
        self._protocol = protocol
        self.on_writable: Callable[[], None] | None = None
        # The kernel takes bytes: false from the transport's high-water mark until it
        # drained (a plain attribute: it is read for every frame put to every socket).
        self.writable = True

    @property
    def open(self) -> bool:
        protocol = self._protocol
        return not (protocol.close_sent or protocol.disconnected)

    def write(self, frames: Sequence[Frame]) -> bool:
        """Hand `frames` to the socket; False if it is closed."""
        protocol = self._protocol
        if protocol.close_sent or protocol.disconnected:
            return False
        if protocol.conn.extensions:
            self._write_deflated(frames)
        elif len(frames) == 1:
            protocol.transport.write(frames[0].data)
        else:
            protocol.transport.write(b"".join([frame.data for frame in frames]))
        return True

    def _write_deflated(self, frames: Sequence[Frame]) -> None:
        protocol = self._protocol
        if protocol.shares_deflate:  # the bytes every such socket gets
            protocol.transport.write(b"".join([frame.deflated for frame in frames]))
            return
        for frame in frames:  # compressed for this socket alone
            protocol.conn.send_text(frame.text.encode())
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))

    def close(self, code: int, reason: str) -> None:
        """Send a close frame now (what ASGI's `websocket.close` does, without awaiting)."""
        protocol = self._protocol
        if not self.open or protocol.transport.is_closing():
            return
        protocol.conn.send_close(code, reason)
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))
        protocol.close_sent = True
        protocol.resume_reading()  # to hear the client's close reply
        # A peer that never answers the close may read nothing at all: a plain close
        # would wait for the bytes it never takes, so the socket is aborted.
        protocol.close_timer = protocol.loop.call_later(
            protocol.close_timeout, protocol.transport.abort
        )
        protocol.queue.put_nowait({"type": "websocket.disconnect", "code": code})

    def detach(self, receiver: Receiver) -> None:
        """From now on, client messages and the close go to `receiver`, and the socket
        stays open when the ASGI app returns."""
        self._protocol.detach(receiver)

    def pause_reading(self) -> None:
        self._protocol.pause_reading()

    def resume_reading(self) -> None:
        self._protocol.resume_reading()


class WireProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, with a `Wire` in the scope and detaching; with
    compression on, it offers permessage-deflate without server context takeover, so
    frames can be compressed once for all sockets."""

    receiver: Receiver | None = None
    wire: WebSocketWire | None = None
    send_buffer_bytes = 0  # the kernel's send buffer of each socket; 0: its autotuning

    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        if config.ws_per_message_deflate:
            deflate = ServerPerMessageDeflateFactory(
                server_no_context_takeover=True,
                server_max_window_bits=DEFLATE_WINDOW_BITS,
                compress_settings={"memLevel": DEFLATE_MEMORY_LEVEL},
            )
            self.conn = ServerProtocol(
                extensions=[deflate], max_size=config.ws_max_size, logger=self.conn.logger
            )

    @functools.cached_property
    def shares_deflate(self) -> bool:
        """The socket's deflate takes the shared compressed frames (the client did not
        ask for a smaller window than ours)."""
        return any(
            isinstance(extension, PerMessageDeflate)
            and extension.local_no_context_takeover
            and extension.local_max_window_bits == DEFLATE_WINDOW_BITS
            for extension in self.conn.extensions
        )

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if self.send_buffer_bytes and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer_bytes)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.handshake_initiated and self.conn.handshake_exc is not None:
            # websockets refused the handshake (a line or the headers too large) and
            # queued its answer (414, 431), which uvicorn never sends: send it, close.
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:  # the app's task has not run yet: it will see the wire
            self.wire = WebSocketWire(self)
            scope["extensions"][WIRE_EXTENSION] = self.wire

    def detach(self, receiver: Receiver) -> None:
        self.receiver = receiver
        queued, inbox = self.queue, _Inbox(receiver)
        self.queue = inbox  # type: ignore[assignment]
        while not queued.empty():  # what the client sent before the app detached
            inbox.put_nowait(queued.get_nowait())
        # What the handshake needed, and the app will not ask again.
        self.request = self.response = self.scope = None  # type: ignore[assignment]
        self.resume_reading()

    def send_receive_event_to_app(self) -> None:
        receiver = self.receiver
        if receiver is None:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return
        if self.curr_msg_data_type != "text":
            receiver.on_message(None)
            return
        try:
            text = data.decode()
        except UnicodeDecodeError:
            self.conn.send_close(1007, "text frames must be UTF-8")
            self.handle_parser_exception()
            return
        receiver.on_message(text)

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.wire is not None:
            self.wire.writable = False

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.wire is not None:
            self.wire.writable = True
            if self.wire.on_writable is not None:
                self.wire.on_writable()

    async def run_asgi(self) -> None:
        """As uvicorn's, except that a detached socket stays open when the app returns."""
        try:
            await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
        if self.receiver is None and self.close_timer is None:
            self.transport.close()


def wire_of(scope: Mapping[str, Any]) -> WebSocketWire | None:
    wire = scope.get("extensions", {}).get(WIRE_EXTENSION)
    return wire if isinstance(wire, WebSocketWire) else None


def wire_protocol(send_buffer_bytes: int) -> type[WireProtocol]:
    """`WireProtocol`, each socket's kernel send buffer set to `send_buffer_bytes`."""
    return type("WireProtocol", (WireProtocol,), {"send_buffer_bytes": send_buffer_bytes})
