"""One load-generator process of `bench/fanout.py`: many WebSocket clients on one loop.

Each client is a minimal RFC 6455 client on an `asyncio.Protocol` (handshake, masked
text frames out, unmasked frames in, pong for ping, optional permessage-deflate)
rather than the `websockets` library: on a 2-core machine the load generator shares
one core with nats-server and the publisher, so each microsecond per received frame
counts, and this one only parses the frame header, finds the timestamp and counts.
Every client subscribes to `host.metrics`, answers the gateway's `ping` heartbeat
with `pong`, and for every payload frame records the latency from the publish time
inside the message (`"time":"..."`, set by the publisher from the same clock) to the
moment the bytes arrived.

It talks to the parent over stdin/stdout, one JSON object per line:

    -> {"event": "ready", "connected": n, "failed": n, "errors": {...}}
    <- start SINCE_NS                     (reset the counters; ignore older messages)
    <- stop EXPECTED DRAIN_S              (wait up to DRAIN_S for EXPECTED per client)
    -> {"event": "report", ...}           (histogram, 100 ms receive bins, counts)
    <- quit

It exits by itself after `--max-seconds`, or when stdin closes.
"""

import argparse
import asyncio
import base64
import json
import math
import os
import signal
import sys
import time
import zlib
from collections import Counter
from datetime import datetime
from typing import cast
from urllib.parse import urlsplit

HIST_SCALE = 40  # log buckets per e-fold of microseconds: ~2.5 % wide
BIN_NS = 100_000_000  # receive-time bins, for deliveries per second over a window
TIME_KEY = b'"time":"'
PAYLOAD_PREFIXES = (b'{"type":"update"', b'{"host":"')  # vigil's update; the naive hub's raw


def bucket(latency_us: float) -> int:
    return int(math.log(max(latency_us, 1.0)) * HIST_SCALE)


def bucket_ms(index: int) -> float:
    """The middle of a histogram bucket, in milliseconds."""
    return math.exp((index + 0.5) / HIST_SCALE) / 1000


def percentile(histogram: Counter[int], fraction: float) -> float:
    total = sum(histogram.values())
    if not total:
        return math.nan
    rank = fraction * total
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return bucket_ms(index)
    return bucket_ms(max(histogram))


class Stats:
    """What every client of this process received since the last `start`."""

    def __init__(self) -> None:
        self.reset()
        self._sent_at: dict[bytes, int] = {}  # publish-time text -> ns, shared by clients

    def reset(self, since_ns: int = 0) -> None:
        self.since_ns = since_ns
        self.stale = 0
        self.histogram: Counter[int] = Counter()
        self.bins: Counter[int] = Counter()
        self.bin_max_us: dict[int, float] = {}
        self.received = 0
        self.max_us = 0.0
        self.other_frames = 0

    def sent_ns(self, stamp: bytes) -> int:
        ns = self._sent_at.get(stamp)
        if ns is None:
            if len(self._sent_at) > 50_000:
                self._sent_at.clear()
            ns = round(datetime.fromisoformat(stamp.decode()).timestamp() * 1e6) * 1000
            self._sent_at[stamp] = ns
        return ns


class Client(asyncio.Protocol):
    def __init__(self, stats: Stats, request: bytes, deflate: bool) -> None:
        self.stats = stats
        self.request = request
        self.received = 0  # payload frames since the last reset
        self.close_code: int | None = None
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._deflate_offered = deflate
        self._inflate: zlib._Decompress | None = None
        self._upgraded = False
        self._pending = b""
        self._transport: asyncio.Transport | None = None

    # -- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(f"closed before subscribed: {exc}"))
        self._transport = None

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        if self._pending:
            data = self._pending + data
            self._pending = b""
        if not self._upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._pending = data
                return
            self._handshake(data[:end])
            data = data[end + 4 :]
        pos, size = 0, len(data)
        while size - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            if size - pos < head + length:
                break
            payload = data[pos + head : pos + head + length]
            pos += head + length
            self._frame(b0, payload, now)
        if pos < size:
            self._pending = data[pos:]

    # -- protocol -----------------------------------------------------------------

    def _handshake(self, head: bytes) -> None:
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            self._fail(f"handshake refused: {status.decode(errors='replace')}")
            return
        self._upgraded = True
        if self._deflate_offered and b"permessage-deflate" in head.lower():
            self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        self._send(0x1, b'{"type":"subscribe","channel":"host.metrics"}')

    def _frame(self, b0: int, payload: bytes, now: int) -> None:
        opcode = b0 & 0x0F
        if opcode == 0x1:
            if b0 & 0x40 and self._inflate is not None:  # RSV1: a compressed message
                payload = self._inflate.decompress(payload + b"\x00\x00\xff\xff")
            self._text(payload, now)
        elif opcode == 0x9:
            self._send(0xA, payload)
        elif opcode == 0x8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._fail(f"closed by the server: {self.close_code}")
        else:
            self.stats.other_frames += 1

    def _text(self, payload: bytes, now: int) -> None:
        stats = self.stats
        if not payload.startswith(PAYLOAD_PREFIXES):
            if payload.startswith(b'{"type":"ping"'):  # the gateway's heartbeat
                self._send(0x1, b'{"type":"pong"}')
            elif payload.startswith(b'{"type":"subscribed"') and not self.subscribed.done():
                self.subscribed.set_result(None)
            elif payload.startswith(b'{"type":"error"') and not self.subscribed.done():
                self._fail(f"refused: {payload[:160].decode(errors='replace')}")
            else:
                stats.other_frames += 1
            return
        start = payload.find(TIME_KEY) + len(TIME_KEY)
        stamp = payload[start : payload.index(b'"', start)]
        at = now // BIN_NS
        stats.bins[at] += 1  # throughput counts every payload frame, even a stale one
        sent = stats.sent_ns(stamp)
        if sent < stats.since_ns:  # left over from before this measurement
            stats.stale += 1
            return
        latency_us = (now - sent) / 1000
        stats.histogram[bucket(latency_us)] += 1
        if latency_us > stats.bin_max_us.get(at, 0.0):
            stats.bin_max_us[at] = latency_us
        stats.received += 1
        self.received += 1
        if latency_us > stats.max_us:
            stats.max_us = latency_us

    def _send(self, opcode: int, payload: bytes) -> None:
        if self._transport is None:
            return
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    def _fail(self, reason: str) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(reason))
        if self._transport is not None:
            self._transport.close()


def upgrade_request(url: str, deflate: bool) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if deflate:  # what browsers offer
        lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode()


async def open_clients(args: argparse.Namespace, stats: Stats) -> tuple[list[Client], Counter[str]]:
    loop = asyncio.get_running_loop()
    host, port, request = upgrade_request(args.url, args.deflate)
    gate = asyncio.Semaphore(args.concurrency)
    errors: Counter[str] = Counter()

    async def one() -> Client | None:
        async with gate:
            try:
                _, client = await loop.create_connection(
                    lambda: Client(stats, request, args.deflate), host, port
                )
                await asyncio.wait_for(client.subscribed, args.connect_timeout)
            except (OSError, TimeoutError) as exc:
                errors[str(exc)[:120] or type(exc).__name__] += 1
                return None
            return client

    opened = await asyncio.gather(*(one() for _ in range(args.count)))
    return [c for c in opened if c is not None], errors


def emit(event: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


async def wait_for_all(clients: list[Client], expected: int, drain_s: float) -> None:
    deadline = time.monotonic() + drain_s
    while time.monotonic() < deadline:
        if all(c.received >= expected or c.close_code is not None for c in clients):
            return
        await asyncio.sleep(0.05)


async def run(args: argparse.Namespace) -> None:
    stats = Stats()
    clients, errors = await open_clients(args, stats)
    emit("ready", connected=len(clients), failed=args.count - len(clients), errors=errors)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        if line[0] == "start":
            stats.reset(int(line[1]))
            for client in clients:
                client.received = 0
        elif line[0] == "stop":
            await wait_for_all(clients, int(line[1]), float(line[2]))
            closed = Counter(str(c.close_code) for c in clients if c.close_code is not None)
            emit(
                "report",
                histogram=stats.histogram,
                bins=stats.bins,
                bin_max_ms={at: us / 1000 for at, us in stats.bin_max_us.items()},
                received=stats.received,
                max_ms=stats.max_us / 1000,
                other_frames=stats.other_frames,
                stale=stats.stale,
                closed=closed,
                short=sum(c.received < int(line[1]) for c in clients),
            )
        elif line[0] == "quit":
            break


def main() -> None:
    parser = argparse.ArgumentParser(description="WebSocket fan-out clients (see fanout.py)")
    parser.add_argument("--url", required=True, help="ws://host:port/ws?token=...")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight")
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    parser.add_argument("--max-seconds", type=int, default=600, help="watchdog")
    args = parser.parse_args()
    signal.alarm(args.max_seconds)  # SIGALRM's default action ends the process
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
