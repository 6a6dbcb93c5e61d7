"""The WebSocket wire under the gateway's sockets: frames built once, written directly.

uvicorn does the handshake and reads the client's frames into the ASGI app, as usual.
Sending is where ASGI costs most at fan-out (an awaited `send` per frame per socket,
each encoding its own frame), so the gateway serves its WebSockets with `WireProtocol`,
uvicorn's own sans-I/O protocol plus a `Wire`, handed to the app in the scope: the
gateway builds each frame's bytes once (server frames are unmasked, so they are the
same for every client) and writes each socket's pending frames with one
`transport.write`. A socket that negotiated permessage-deflate gets its frames encoded
by the protocol instead. `Wire.writable` goes false when the kernel stops taking a
socket's bytes (the transport's high-water mark); the outbox then holds and shapes
what follows until `on_writable` says the socket drained.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

WIRE_EXTENSION = "vigil.wire"


class Frame:
    """One text message, with its complete unmasked WebSocket frame."""

    __slots__ = ("data", "text")

    def __init__(self, text: str) -> None:
        payload = text.encode()
        size = len(payload)
        if size < 126:
            head = bytes((0x81, size))
        elif size < 65_536:
            head = bytes((0x81, 126)) + size.to_bytes(2, "big")
        else:
            head = bytes((0x81, 127)) + size.to_bytes(8, "big")
        self.text = text
        self.data = head + payload

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Frame({self.text!r})"


class Wire:
    """What a connection needs of its socket: write frames, close, know if it drains."""

    def __init__(self, protocol: "WireProtocol") -> None:
        self._protocol = protocol
        self.on_writable: Callable[[], None] | None = None

    @property
    def writable(self) -> bool:
        return self._protocol.writable.is_set() and self.open

    @property
    def open(self) -> bool:
        protocol = self._protocol
        return not (protocol.close_sent or protocol.disconnected)

    @property
    def buffered(self) -> int:
        """Bytes the kernel has not taken yet."""
        return self._protocol.transport.get_write_buffer_size()

    def write(self, frames: Sequence[Frame]) -> bool:
        """Hand `frames` to the socket; False if it is closed."""
        protocol = self._protocol
        if not self.open:
            return False
        conn = protocol.conn
        if conn.extensions:  # compressed per socket: the protocol encodes each frame
            for frame in frames:
                conn.send_text(frame.text.encode())
            protocol.transport.write(b"".join(conn.data_to_send()))
        elif len(frames) == 1:
            protocol.transport.write(frames[0].data)
        else:
            protocol.transport.write(b"".join([frame.data for frame in frames]))
        return True

    def close(self, code: int, reason: str) -> None:
        """Send a close frame now (what ASGI's `websocket.close` does, without awaiting)."""
        protocol = self._protocol
        if not self.open or protocol.transport.is_closing():
            return
        protocol.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        protocol.conn.send_close(code, reason)
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))
        protocol.close_sent = True
        if protocol.read_paused:
            protocol.read_paused = False
            protocol.transport.resume_reading()
        protocol.close_timer = protocol.loop.call_later(
            protocol.close_timeout, protocol.transport.close
        )


class WireProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, with a `Wire` in the scope's extensions."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:  # the app's task has not run yet: it will see the wire
            self.wire = Wire(self)
            scope["extensions"][WIRE_EXTENSION] = self.wire

    def resume_writing(self) -> None:
        super().resume_writing()
        wire: Wire | None = getattr(self, "wire", None)
        if wire is not None and wire.on_writable is not None:
            wire.on_writable()


def wire_of(scope: Mapping[str, Any]) -> Wire | None:
    wire = scope.get("extensions", {}).get(WIRE_EXTENSION)
    return wire if isinstance(wire, Wire) else None
