"""A reference point for `bench/fanout.py`: each frame built once, raw writes per socket.

Not a design, a ceiling: what one Python process on uvloop reaches when it skips
ASGI entirely. A bare `asyncio.Protocol` does the RFC 6455 handshake, and a core NATS
subscription turns each message into one complete WebSocket frame (server frames are
unmasked, so the bytes are the same for every client); every subscribed socket gets
those bytes appended to its pending list, and one callback per loop iteration writes
each socket's pending frames with a single `transport.write`. A socket whose transport
buffer (what the kernel did not take yet) holds more than `--max-buffer` bytes skips
frames.
No auth, no per-client task, no per-client encoding.
"""

import argparse
import asyncio
import base64
import hashlib
import signal

import nats
from nats.aio.msg import Msg

from vigil.subjects import ANY, Subjects

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B65"
SUBSCRIBED = b'{"type":"subscribed","channel":"host.metrics","kind":"state"}'


def frame(opcode: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, size))
    elif size < 65_536:
        head = bytes((0x80 | opcode, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + size.to_bytes(8, "big")
    return head + payload


class Hub:
    def __init__(self, max_buffer: int) -> None:
        self.subscribed: set[Socket] = set()
        self.dirty: list[Socket] = []
        self.skipped = 0
        self._max_buffer = max_buffer
        self._flush_scheduled = False

    def broadcast(self, payload: bytes) -> None:
        data = frame(0x1, payload)
        for sock in self.subscribed:
            if not sock.pending:
                if sock.transport.get_write_buffer_size() > self._max_buffer:
                    self.skipped += 1
                    continue
                self.dirty.append(sock)
            sock.pending.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        dirty, self.dirty = self.dirty, []
        for sock in dirty:
            pending = sock.pending
            sock.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
            pending.clear()


class Socket(asyncio.Protocol):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.pending: list[bytes] = []
        self.transport: asyncio.Transport
        self._buffer = b""
        self._open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.subscribed.discard(self)

    def data_received(self, data: bytes) -> None:
        data = self._buffer + data
        if not self._open:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = data
                return
            self._handshake(data[:end])
            data = data[end + 4 :]
        while len(data) >= 6:  # client frames: masked, small
            size, head = data[1] & 0x7F, 6
            if size == 126:
                size, head = int.from_bytes(data[2:4], "big"), 8
            if len(data) < head + size:
                break
            mask, raw = data[head - 4 : head], data[head : head + size]
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(raw))
            self._frame(data[0] & 0x0F, payload)
            data = data[head + size :]
        self._buffer = data

    def _handshake(self, head: bytes) -> None:
        key = b""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self._open = True

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x1 and b'"subscribe"' in payload:
            self.hub.subscribed.add(self)
            self.transport.write(frame(0x1, SUBSCRIBED))
        elif opcode == 0x9:
            self.transport.write(frame(0xA, payload))
        elif opcode == 0x8:
            self.transport.write(frame(0x8, payload[:2]))
            self.transport.close()


async def serve(args: argparse.Namespace) -> None:
    hub = Hub(args.max_buffer)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Socket(hub), "127.0.0.1", args.port, backlog=4096)
    nc = await nats.connect(args.nats_url, name="bench-frames-hub")

    async def forward(msg: Msg) -> None:
        hub.broadcast(msg.data)

    subject = Subjects(args.prefix).host_metrics(ANY)
    await nc.subscribe(subject, cb=forward, pending_msgs_limit=1_000_000)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print('{"event": "ready"}', flush=True)
    await stop.wait()
    server.close()
    await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="frame-once fan-out hub (see fanout.py)")
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-buffer", type=int, default=4 * 2**20)
    parser.add_argument("--max-seconds", type=int, default=600, help="watchdog")
    args = parser.parse_args()
    signal.alarm(args.max_seconds)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args))
    else:
        uvloop.run(serve(args))


if __name__ == "__main__":
    main()
