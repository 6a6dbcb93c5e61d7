"""One load-generator process of `bench/load.py`: many dashboard-like WebSocket clients.

Each client is `fanout_clients`' minimal RFC 6455 client on an `asyncio.Protocol`; on
`/ws` it subscribes to three channels, one of each kind: `docker.stats` (state),
`docker.logs` of one of the chatty containers (stream) and `deploy` (journal, from
its start). It answers the gateway's `ping`, records the latency from the time inside
each update to its arrival, per kind, and every journal cursor it sees. When a socket
ends that this process did not close (a gateway killed or draining), the client
reconnects to the next gateway URL after a backoff with full jitter and resumes the
journal and the stream with `since` (their last cursor), as a real client would. It
notes when the stats are marked `stale` (their publisher stopped) and `fresh` again.

It talks to the parent over stdin/stdout, one JSON object per line:

    -> {"event": "ready", "connected": n, "failed": n, "errors": {...}}
    <- start SINCE_NS            (reset the latency figures; ignore older updates)
    <- report                    (-> {"event": "report", ...}: figures so far)
    <- stall N SECONDS           (N clients stop reading for SECONDS, then read again)
    <- quit

It exits by itself after `--max-seconds`, or when stdin closes.
"""

import argparse
import asyncio
import contextlib
import json
import random
import signal
import socket
import sys
import time
from collections import Counter
from datetime import datetime
from typing import Any

from fanout_clients import Client, bucket, upgrade_request

BIN_S = 0.5  # the timeline's resolution
KINDS = {"docker.stats": "state", "docker.logs": "stream", "deploy": "journal"}


class Figures:
    """What every client of this process saw since the last `start`."""

    def __init__(self) -> None:
        self.since_ns = 0
        self.histograms: dict[str, Counter[int]] = {kind: Counter() for kind in KINDS.values()}
        self.updates: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.closed: Counter[str] = Counter()
        self.reconnects: list[float] = []  # wall time of each successful re-subscription
        self.handshakes: list[float] = []  # wall time of each reconnection's accepted handshake
        self.recovery_s: list[float] = []  # from a socket's loss to its data flowing again
        self.gaps = 0
        self.refused: Counter[str] = Counter()  # handshakes or subscriptions refused, retried
        self.other_frames = 0  # fanout_clients.Client counts binary frames here
        # updates received per kind and per BIN_S of wall time: the flow around a fault
        self.timeline: dict[str, Counter[int]] = {kind: Counter() for kind in KINDS.values()}
        self.stale: list[float] = []  # wall time of each `stale` mark (the stats stopped)
        self.fresh: list[float] = []  # and of each `fresh` one (they came again)
        # latency of the clients that kept reading while others stalled, and of those
        # that stalled (not in `histograms`)
        self.during_stall: dict[str, Counter[int]] = {kind: Counter() for kind in KINDS.values()}
        self.stalled: dict[str, Counter[int]] = {kind: Counter() for kind in KINDS.values()}


class LoadClient(Client):
    """A dashboard: three subscriptions, latency per kind, journal cursors kept."""

    def __init__(
        self, figures: Figures, request: bytes, deck: "Deck", index: int, attempt: int
    ) -> None:
        super().__init__(figures, request, False)  # type: ignore[arg-type]
        self.figures = figures
        self.deck = deck
        self.index = index
        self.attempt = attempt
        self.waiting = {"state", "stream"} | ({"journal"} if deck.watches_journal(index) else set())

    def _handshake(self, head: bytes) -> None:
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            self._fail(f"handshake refused: {status.decode(errors='replace')}")
            return
        self._upgraded = True
        if self.attempt:  # a reconnection's handshake, accepted
            self.figures.handshakes.append(time.time())
        for subscribe in self.deck.subscriptions(self.index):
            self._send_text(json.dumps(subscribe).encode())

    def _send_text(self, payload: bytes) -> None:
        # fanout_clients' _send takes < 126 bytes; a subscribe with `since` may be more
        if self._transport is None:
            return
        mask = random.randbytes(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        size = len(payload)
        head = bytes((0x81, 0x80 | size)) if size < 126 else bytes((0x81, 0xFE)) + size.to_bytes(2)
        self._transport.write(head + mask + masked)

    def _text(self, payload: bytes, now: int) -> None:
        message: dict[str, Any] = json.loads(payload)
        kind = message.get("type")
        if kind == "update":
            self._update(message, now)
        elif kind == "ping":
            self._send_text(b'{"type":"pong"}')
        elif kind == "subscribed":
            self.waiting.discard(message["kind"])
            if not self.waiting and not self.subscribed.done():
                self.subscribed.set_result(None)
        elif kind == "gap":
            self.figures.gaps += int(message.get("dropped", 0))
        elif kind == "stale":
            self.figures.stale.append(time.time())
        elif kind == "fresh":
            self.figures.fresh.append(time.time())
        elif kind == "error":
            self.figures.errors[str(message.get("code"))] += 1
            if not self.subscribed.done():
                self._fail(f"refused: {payload[:160].decode(errors='replace')}")

    def _update(self, message: dict[str, Any], now: int) -> None:
        channel, data = message["channel"], message["data"]
        kind = KINDS.get(channel.split("?", 1)[0])
        if kind is None:
            return
        self.figures.updates[kind] += 1
        self.figures.timeline[kind][int(now / 1e9 / BIN_S)] += 1
        if kind == "journal":
            self.deck.journal[self.index].add(int(message["cursor"]))
        if kind == "stream":
            self.deck.stream_cursor[self.index] = int(message["cursor"])
            stamp = data["lines"][0]["time"]
        else:
            stamp = data["time"]
        sent = datetime.fromisoformat(stamp).timestamp() * 1e9
        latency = bucket((now - sent) / 1000)
        if self.index in self.deck.ever_stalled:
            self.figures.stalled[kind][latency] += 1
        elif sent >= self.figures.since_ns:
            self.figures.histograms[kind][latency] += 1
            if self.deck.stalled:
                self.figures.during_stall[kind][latency] += 1
        lost_at = self.deck.lost_at.pop(self.index, None)
        if lost_at is not None:
            self.figures.recovery_s.append(time.monotonic() - lost_at)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.deck.lost(self)


class Deck:
    """The clients of this process: what each subscribes to, where it connects next."""

    def __init__(self, args: argparse.Namespace, figures: Figures) -> None:
        self.args = args
        self.figures = figures
        self.urls: list[str] = args.url
        self.journal: list[set[int]] = [set() for _ in range(args.count)]
        self.stream_cursor: dict[int, int] = {}
        self.lost_at: dict[int, float] = {}
        self.clients: dict[int, LoadClient] = {}
        self.stalled: set[int] = set()  # clients that are not reading, for a while
        self.ever_stalled: set[int] = set()  # their latency is counted apart
        self.quitting = False
        self.tasks: set[asyncio.Task[None]] = set()

    def subscriptions(self, index: int) -> list[dict[str, Any]]:
        args = self.args
        container = args.containers[(args.offset + index) % len(args.containers)]
        logs: dict[str, Any] = {"type": "subscribe", "channel": "docker.logs"}
        logs["params"] = {"container": container, "host": args.host}
        journal: dict[str, Any] = {"type": "subscribe", "channel": "deploy"}
        journal["params"] = {"id": args.deploy}
        if index in self.stream_cursor:  # a resume: what came after the last cursor seen
            logs["since"] = self.stream_cursor[index]
        if self.journal[index]:
            journal["since"] = max(self.journal[index])
        stats = {"type": "subscribe", "channel": "docker.stats", "params": {"host": args.host}}
        return [stats, logs, journal] if self.watches_journal(index) else [stats, logs]

    def watches_journal(self, index: int) -> bool:
        return (self.args.offset + index) % self.args.journal_every == 0

    async def connect(self, index: int, attempt: int) -> LoadClient | None:
        loop = asyncio.get_running_loop()
        url = self.urls[(self.args.offset + index + attempt) % len(self.urls)]
        host, port, request = upgrade_request(url, False)
        try:
            _, client = await loop.create_connection(
                lambda: LoadClient(self.figures, request, self, index, attempt), host, port
            )
            await asyncio.wait_for(client.subscribed, self.args.connect_timeout)
        except (OSError, TimeoutError) as exc:
            self.figures.refused[str(exc)[:120] or type(exc).__name__] += 1
            return None
        self.clients[index] = client
        return client

    def lost(self, client: LoadClient) -> None:
        if self.quitting or self.clients.get(client.index) is not client:
            return
        del self.clients[client.index]
        self.figures.closed[str(client.close_code or "eof")] += 1
        self.lost_at[client.index] = time.monotonic()
        task = asyncio.get_running_loop().create_task(self.reconnect(client.index))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stall(self, count: int, seconds: float) -> None:
        """`count` clients stop reading, as a dashboard in a sleeping laptop would; the
        server's buffers fill and its per-kind policy applies; then they read again."""
        stalled = [client for _, client in sorted(self.clients.items())[:count]]
        for client in stalled:
            if client._transport is not None:
                client._transport.pause_reading()
                # a small window, as over a slow link, so the server's buffers fill soon
                sock = client._transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.stalled = {client.index for client in stalled}
        self.ever_stalled |= self.stalled
        await asyncio.sleep(seconds)
        self.stalled = set()
        for client in stalled:
            if client._transport is not None:
                client._transport.resume_reading()

    async def reconnect(self, index: int) -> None:
        """Backoff with full jitter (0..base*2^n, capped), to the next gateway each time."""
        for attempt in range(1, 12):
            await asyncio.sleep(random.uniform(0, min(8.0, self.args.backoff_s * 2**attempt)))
            if self.quitting:
                return
            if await self.connect(index, attempt) is not None:
                self.figures.reconnects.append(time.time())
                return
        self.figures.errors["gave up reconnecting"] += 1


async def open_all(deck: Deck) -> int:
    gate = asyncio.Semaphore(deck.args.concurrency)

    async def one(index: int) -> bool:
        async with gate:
            if await deck.connect(index, 0) is not None:
                return True
        for attempt in range(1, 6):  # refused (e.g. 1013, too many handshakes): back off
            await asyncio.sleep(random.uniform(0, deck.args.backoff_s * 2**attempt))
            if await deck.connect(index, attempt * len(deck.urls)) is not None:
                return True
        return False

    return sum(await asyncio.gather(*(one(i) for i in range(deck.args.count))))


def emit(event: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def report(deck: Deck) -> None:
    figures = deck.figures
    emit(
        "report",
        histograms=figures.histograms,
        updates=figures.updates,
        errors=figures.errors,
        refused=figures.refused,
        closed=figures.closed,
        gaps=figures.gaps,
        journal_seen=[len(seen) for i, seen in enumerate(deck.journal) if deck.watches_journal(i)],
        journal_max=[max(seen, default=0) for seen in deck.journal],
        reconnects=figures.reconnects,
        handshakes=figures.handshakes,
        recovery_s=figures.recovery_s,
        timeline=figures.timeline,
        stale=figures.stale,
        fresh=figures.fresh,
        during_stall=figures.during_stall,
        stalled=figures.stalled,
        open=len(deck.clients),
    )


async def run(args: argparse.Namespace) -> None:
    figures = Figures()
    deck = Deck(args, figures)
    connected = await open_all(deck)
    if connected < args.count:
        figures.errors["never connected"] += args.count - connected
    emit("ready", connected=connected, failed=args.count - connected, errors=figures.errors)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        if line[0] == "start":
            figures.since_ns = int(line[1])
            for histogram in figures.histograms.values():
                histogram.clear()
        elif line[0] == "report":
            report(deck)
        elif line[0] == "stall":
            task = loop.create_task(deck.stall(int(line[1]), float(line[2])))
            deck.tasks.add(task)
            task.add_done_callback(deck.tasks.discard)
        elif line[0] == "quit":
            break
    deck.quitting = True
    for task in list(deck.tasks):
        task.cancel()
    for client in list(deck.clients.values()):
        with contextlib.suppress(Exception):
            client._fail("quit")


def main() -> None:
    parser = argparse.ArgumentParser(description="dashboard-like load clients (see load.py)")
    parser.add_argument("--url", action="append", required=True, help="ws://.../ws?token=...")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--offset", type=int, default=0, help="index of the first client")
    parser.add_argument("--host", required=True)
    parser.add_argument("--containers", type=lambda s: s.split(","), required=True)
    parser.add_argument("--deploy", required=True)
    parser.add_argument("--journal-every", type=int, default=1, help="every nth watches it")
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight")
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument("--backoff-s", type=float, default=0.25, help="reconnect backoff base")
    parser.add_argument("--max-seconds", type=int, default=900, help="watchdog")
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
