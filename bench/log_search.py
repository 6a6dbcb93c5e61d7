"""How fast a regex search over the kept logs answers: `--lines` lines (a million by
default) of `--containers` containers, kept as the collector keeps them (batches of 100
in the LOGS stream of a private nats-server, operator mode as in production), searched
by the history service over the bus as the gateway asks it.

Printed: the first page (100 hits, newest first) and the whole scan (every page until
the cursor ends, each bounded as the service bounds it), their hits against what
`grep -E` counts in the same text written to a file — the baseline, run in the same
process tree — and the ratio; and what the stream holds against the raw text.

    uv run --all-packages python bench/log_search.py [--lines 1000000] [--containers 10]
"""

import argparse
import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.history_support import run_history
from tests.support import NatsServer, bus_client
from vigil import ctl
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.messages import LogBatch, LogHits, LogLine, LogSourceRef, SearchLogs
from vigil.operations import History
from vigil.streams import LOGS
from vigil_history.settings import HistorySettings

PREFIX = "bench"
HOST = "host1"
PATTERN = r"ERROR .*timed? ?out"
BATCH = 100
PATHS = ["/api/orders", "/api/users", "/healthz", "/api/cart", "/static/app.js"]


def text_of(rng: random.Random, n: int) -> str:
    if rng.random() < 0.001:
        return f"ERROR request {n} to upstream db-{n % 7} timed out after 3000 ms"
    path = rng.choice(PATHS)
    return f"INFO request {n} GET {path} status=200 took={rng.randint(1, 900)}ms user={n % 977}"


async def write(bus: Bus, lines: int, containers: int, text_file: Path) -> None:
    """The lines, in batches, round robin over the containers; the same text to a file."""
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(minutes=30)
    pending: list[asyncio.Future[object]] = []
    with text_file.open("w") as out:
        for first in range(0, lines, BATCH):
            container = f"{first // BATCH % containers:012x}"
            batch = [
                LogLine(
                    time=start + timedelta(milliseconds=n),
                    stream="stdout",
                    text=text_of(rng, n),
                )
                for n in range(first, min(first + BATCH, lines))
            ]
            out.writelines(line.text + "\n" for line in batch)
            message = LogBatch(host=HOST, container=container, lines=batch)
            subject = bus.subjects.docker_logs(HOST, container)
            pending.append(await bus.js.publish_async(subject, message.model_dump_json().encode()))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)


def grep_count(text_file: Path) -> tuple[int, float]:
    began = time.perf_counter()
    done = subprocess.run(
        ["grep", "-cE", PATTERN, str(text_file)], capture_output=True, text=True, check=False
    )
    return int(done.stdout.strip() or 0), time.perf_counter() - began


async def whole_search(bus: Bus) -> tuple[float, float, int, int]:
    """Seconds to the first page, seconds to the end, hits, pages."""
    request = SearchLogs(sources=[LogSourceRef(kind="docker", host=HOST)], pattern=PATTERN)
    began = time.perf_counter()
    first_page_s = 0.0
    hits = pages = 0
    while True:
        page: LogHits = await ctl.call(bus, History.SEARCH_LOGS, request, timeout_s=60)
        pages += 1
        hits += len(page.hits)
        if pages == 1:
            first_page_s = time.perf_counter() - began
        if page.cursor is None:
            return first_page_s, time.perf_counter() - began, hits, pages
        request = request.model_copy(update={"cursor": page.cursor})


def row(*cells: object) -> None:
    print("| " + " | ".join(str(cell) for cell in cells) + " |")


async def bench(nats: NatsServer, root: Path, args: argparse.Namespace) -> None:
    settings = HistorySettings(**nats.service(ServiceRole.HISTORY, PREFIX), roll=False)
    text_file = root / "lines.txt"
    async with bus_client(nats, PREFIX) as bus:
        began = time.monotonic()
        await write(bus, args.lines, args.containers, text_file)
        print(f"kept {args.lines:,} lines in {time.monotonic() - began:.0f} s")
        stream = (await bus.js.stream_info(LOGS.stream(bus.subjects))).state
        raw = text_file.stat().st_size
        grep_hits, grep_s = grep_count(text_file)
        async with run_history(settings):
            await whole_search(bus)  # the first consumer of a stream is slower: not counted
            first_s, whole_s, hits, pages = await whole_search(bus)
    print()
    row("what", "figure", "target")
    row("---", "---", "---")
    row("first page (100 hits, newest first)", f"{first_s * 1000:.0f} ms", "<= 1 s")
    row(f"whole scan ({pages} pages)", f"{whole_s:.2f} s", "<= 5 s")
    row("baseline: `grep -cE` over the same text", f"{grep_s:.2f} s", "")
    row("ratio, whole scan / grep", f"{whole_s / grep_s:.1f}x", "")
    row("hits: search / grep", f"{hits:,} / {grep_hits:,}", "equal")
    row("LOGS stream / raw text", f"{stream.bytes / raw:.2f}x ({stream.bytes:,} B)", "")
    if hits != grep_hits:
        raise SystemExit("the search and grep disagree")


async def run(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="vigil-bench-log-search-"))
    nats = NatsServer(store_dir=root / "nats")
    nats.start()
    try:
        await bench(nats, root, args)
    finally:
        nats.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--containers", type=int, default=10)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
