"""What keeping metrics history costs, and how fast it answers: 100 containers and one
host sampled every 2 s, 30 days of it, on a private nats-server (operator mode, as in
production), written faster than real time.

- **Storage**: the simulated past is written into the tiers directly, through the
  service's own code (`frame.encode`, `Roller.publish`: the same message, id and TTL as
  a live roll-up): 1-min roll-ups for the last 7 days, 10-min and 1-h ones for 30 days, up
  to where the raw tier begins, and the watermarks there, as a replica leaves them. The
  roll-up figures are drawn from random walks (idle containers have zero rates, busy
  ones wander), their min/max/sum/last consistent. Then the raw tier's ~2 hours, as the
  collector publishes it (into `LATEST`, copied by JetStream into `HISTORY_RAW`).
  Printed: each stream's bytes and its files on disk (S2), per container.
- **CPU**: those raw hours are then rolled up by a `Roller` in this process (1-min
  windows, then 10-min ones, to now: the state a live service is in); its CPU time over
  the span of the samples is the % of one core at the real-time rate. The nats-server's
  CPU for the same samples is measured with LATEST copying them into the raw tier and,
  as the baseline, into a LATEST without the copy (another prefix).
- **Queries**: as live: a collector goes on publishing every 2 s, the history service
  (`python -m vigil_history`) rolls up, and once it has caught up it is asked over the
  bus, as the gateway will ask it: one container's 24 h at 1 min, and all 100
  containers over 7 d at a 7-day step (the table's sort): the first ask (its frames read
  from the stream) and the median of `--repeat` - 1 more (the frames the service kept).
  Baselines in the same run: one container's last hour at 1 min from the
  raw samples (read and rolled up by the client) against the service's answer for the
  same hour, and the 7 d read from the 1-min tier (the finest that covers it) against
  the coarsest tier the service picks (1 h).

    uv run --all-packages python bench/history.py [--containers 100] [--days 30]
        [--repeat 5]
"""

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.history_support import history_process
from tests.support import (
    NatsServer,
    auth_settings_for,
    bus_client,
    login,
    run_auth,
    serve_gateway,
)
from vigil import ctl
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.messages import (
    ContainerStats,
    CpuUsage,
    DiskIoRates,
    DockerStatsSampled,
    HistoryKind,
    HostMetricsSampled,
    LoadAverage,
    MemoryUsage,
    NetworkRates,
    QueryHistory,
    SwapUsage,
)
from vigil.operations import History
from vigil.streams import HISTORY, HISTORY_MARKS, HISTORY_RAW, LATEST
from vigil.subjects import Subjects
from vigil_gateway.settings import GatewaySettings
from vigil_history import store
from vigil_history.frame import Frame, encode
from vigil_history.roller import LOOKBACK_S, Roller
from vigil_history.rollup import Record, combine, roll_up_steps
from vigil_history.series import DOCKER, HOST, Schema, samples_of
from vigil_history.settings import HistorySettings

PREFIX = "bench"
BENCH_HOST = "host1"
BENCH_PASSWORD = "bench-admin-password"
CHART = ("cpu_percent", "memory_usage")
"""What a container's page draws (`web/src/views/ContainerDetail.tsx`)."""
CHART_QUERY = {"since": "24h", "step_s": 60, "series": ",".join(CHART)}
INTERVAL_S = 2


@dataclass
class Walker:
    """A container's figures, wandering."""

    name: str
    id: str
    busy: bool
    cpu: float
    memory: int
    rx: int = 0
    tx: int = 0
    block_read: int = 0
    block_write: int = 0

    def step(self, rng: random.Random, seconds: float) -> None:
        if self.busy:
            self.cpu = min(400.0, max(0.0, self.cpu + rng.gauss(0, 2)))
            self.memory = max(10**6, self.memory + int(rng.gauss(0, 10**6)))
            self.rx += int(rng.uniform(0, 2e5) * seconds)
            self.tx += int(rng.uniform(0, 1e5) * seconds)
            self.block_write += int(rng.uniform(0, 5e4) * seconds)
        else:
            self.cpu = round(rng.uniform(0, 0.05), 2)


def walkers(count: int, rng: random.Random) -> list[Walker]:
    return [
        Walker(
            f"app-{n:03d}",
            f"{rng.getrandbits(48):012x}",
            busy=n % 3 != 0,
            cpu=rng.uniform(0, 50),
            memory=rng.randrange(20 * 2**20, 2**30),
        )
        for n in range(count)
    ]


def docker_sample(at: float, walkers: list[Walker], host: str) -> DockerStatsSampled:
    return DockerStatsSampled(
        host=host,
        time=datetime.fromtimestamp(at, UTC),
        interval_s=INTERVAL_S,
        containers=[
            ContainerStats(
                id=w.id,
                name=w.name,
                cpu_percent=round(w.cpu, 2),
                memory_usage=w.memory,
                memory_limit=2**31,
                network_rx=w.rx,
                network_tx=w.tx,
                image="registry.local/app:1.2.3",
                state="running",
                memory_percent=round(w.memory / 2**31 * 100, 2),
                network_rx_per_s=0.0,
                network_tx_per_s=0.0,
                block_read=w.block_read,
                block_write=w.block_write,
                pids=12,
            )
            for w in walkers
        ],
    )


def host_sample(at: float, rng: random.Random, host: str) -> HostMetricsSampled:
    cpu = round(rng.uniform(5, 60), 1)
    return HostMetricsSampled(
        host=host,
        time=datetime.fromtimestamp(at, UTC),
        interval_s=INTERVAL_S,
        cpu=CpuUsage(percent=cpu, per_core=[cpu] * 8),
        load=LoadAverage(one=1.5, five=1.2, fifteen=1.0),
        memory=MemoryUsage(total=2**35, available=2**34, used=2**34, percent=50.0),
        swap=SwapUsage(total=0, used=0, percent=0.0),
        filesystems=[],
        disk_io=DiskIoRates(
            read_bytes_per_s=1e5, write_bytes_per_s=2e5, read_ops_per_s=10, write_ops_per_s=20
        ),
        network=NetworkRates(
            rx_bytes_per_s=rng.uniform(0, 1e6),
            tx_bytes_per_s=rng.uniform(0, 1e6),
            rx_packets_per_s=100,
            tx_packets_per_s=100,
            rx_bytes_total=0,
            tx_bytes_total=0,
        ),
        uptime_s=1000.0,
    )


def record(
    schema: Schema, key: str, id_: str, rng: random.Random, walker: Walker | None, samples: int
) -> Record:
    """A plausible roll-up of `samples` samples: each series' min <= last <= max, its sum
    within them."""
    stats = []
    for series in schema.series:
        if walker is None or walker.busy:
            centre = {
                "cpu_percent": int(walker.cpu * 100) if walker else 3000,
                "memory_usage": walker.memory if walker else 0,
                "pids": 12,
            }.get(series.name, rng.randrange(0, 2 * 10**6))
            spread = max(1, centre // 20)
            low, high = max(0, centre - spread), centre + spread
        else:
            low = high = {"memory_usage": walker.memory, "pids": 12, "cpu_percent": 2}.get(
                series.name, 0
            )
        stats += [low, high, (low + high) // 2 * samples, rng.randint(low, high)]
    return Record(key, id_, samples, samples, stats)


def raw_start(settings: HistorySettings) -> int:
    """Where the written roll-ups end and the raw samples begin: a whole coarsest step,
    within what the raw tier keeps."""
    step = settings.tiers[-1].step_s
    kept = HISTORY_RAW.max_age.total_seconds() if HISTORY_RAW.max_age else 3600.0
    return (int(time.time() - kept) // step + 1) * step


async def write_tiers(
    bus: Bus, roller: Roller, docker: list[Walker], days: int, until: int
) -> None:
    """The simulated past before `until` into every tier as far back as it keeps
    (at most `days`), as the roller publishes it."""
    rng = random.Random(22)
    for tier in roller.tiers:
        first = until - min(days * 86400, tier.retention_s)
        samples = int(tier.step_s / INTERVAL_S)
        for window in range(first - first % tier.step_s, until, tier.step_s):
            for w in docker:
                w.step(rng, tier.step_s)
            rows = {
                DOCKER: [record(DOCKER, w.name, w.id, rng, w, samples) for w in docker],
                HOST: [record(HOST, BENCH_HOST, "", rng, None, samples)],
            }
            for schema, records in rows.items():
                frame = encode(window, tier.step_s, len(schema.series), records)
                subject = bus.subjects.history(tier.name, schema.kind, BENCH_HOST)
                await roller.publish(subject, frame, tier, window)
    kv = await bus.kv(HISTORY_MARKS)
    for tier in roller.tiers:  # as a replica leaves them: done up to `until`
        for kind in ("docker", "host"):
            await kv.put(f"{tier.name}.{kind}.{BENCH_HOST}", str(until).encode())


def raw_samples(docker: list[Walker], since: int, prefix: Subjects) -> list[tuple[str, bytes]]:
    """The collector's messages from `since` to now, every 2 s: subject and payload."""
    rng = random.Random(23)
    made = []
    for n in range(int((time.time() - since) / INTERVAL_S)):
        at = since + n * INTERVAL_S
        for w in docker:
            w.step(rng, INTERVAL_S)
        made.append(
            (
                prefix.docker_metrics(BENCH_HOST),
                docker_sample(at, docker, BENCH_HOST).model_dump_json().encode(),
            )
        )
        made.append(
            (
                prefix.host_metrics(BENCH_HOST),
                host_sample(at, rng, BENCH_HOST).model_dump_json().encode(),
            )
        )
    return made


def disk_bytes(store_dir: Path, stream: str) -> int:
    total = 0
    for path in store_dir.rglob("*"):
        if path.is_file() and f"/streams/{stream}/" in str(path):
            total += path.stat().st_size
    return total


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def timed(times: int, call: Any) -> tuple[float, float, Any]:
    """The first call's ms, the median of the others', and the answer."""
    taken = []
    result = None
    for _ in range(max(1, times)):
        began = time.perf_counter()
        result = await call()
        taken.append(time.perf_counter() - began)
    return taken[0] * 1000, median_ms(taken[1:] or taken), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="vigil-bench-history-"))
    nats = NatsServer(store_dir=root / "nats")
    nats.start()
    try:
        await bench(nats, root, args)
    finally:
        nats.stop()
        shutil.rmtree(root, ignore_errors=True)


def row(*cells: object) -> None:
    print("| " + " | ".join(str(cell) for cell in cells) + " |")


async def bench(nats: NatsServer, root: Path, args: argparse.Namespace) -> None:
    settings = HistorySettings(**nats.service(ServiceRole.HISTORY, PREFIX), roll=False)
    docker = walkers(args.containers, random.Random(21))
    since = raw_start(settings)
    async with bus_client(nats, PREFIX) as bus:
        roller = Roller(bus, settings)
        await roller.open()
        began = time.monotonic()
        await write_tiers(bus, roller, docker, args.days, since)
        print(f"wrote {args.days} simulated days of roll-ups in {time.monotonic() - began:.0f} s")
        samples = raw_samples(docker, since, bus.subjects)
        await cpu_of_history(nats, bus, roller, samples, since)

        await asyncio.sleep(2)  # let the last blocks be written
        print()
        row("stream", "messages", "bytes (logical)", "on disk", "on disk per container")
        row("---", "---", "---", "---", "---")
        total = 0
        for spec in (HISTORY, HISTORY_RAW):
            name = spec.stream(bus.subjects)
            state = (await bus.js.stream_info(name)).state
            disk = disk_bytes(root / "nats", name)
            total += disk
            per = disk / args.containers / 1e6
            row(
                name,
                state.messages,
                f"{state.bytes / 1e6:.1f} MB",
                f"{disk / 1e6:.1f} MB",
                f"{per:.2f} MB",
            )
        print(
            f"\nstorage per container for {args.days} days, all tiers: "
            f"**{total / args.containers / 1e6:.2f} MB** (target <= 2 MB for 30 days)"
        )
        # as live: the collector goes on publishing, the service rolls up and answers
        live = asyncio.create_task(collector(bus, docker))
        process = history_process(settings.model_copy(update={"replica": "bench", "roll": True}))
        try:
            await caught_up(bus, settings)
            await queries(nats, bus, settings, args)
        finally:
            live.cancel()
            process.terminate()
            process.wait(timeout=15)


async def collector(bus: Bus, docker: list[Walker]) -> None:
    """A sample of every container and of the host every 2 s, as the collector sends."""
    rng = random.Random(24)
    while True:
        at = time.time()
        for w in docker:
            w.step(rng, INTERVAL_S)
        await bus.nc.publish(
            bus.subjects.docker_metrics(BENCH_HOST),
            docker_sample(at, docker, BENCH_HOST).model_dump_json().encode(),
        )
        await bus.nc.publish(
            bus.subjects.host_metrics(BENCH_HOST),
            host_sample(at, rng, BENCH_HOST).model_dump_json().encode(),
        )
        await asyncio.sleep(INTERVAL_S - (time.time() - at))


async def caught_up(bus: Bus, settings: HistorySettings) -> None:
    """Until the service has rolled the first tier up to the last minute or so."""
    kv = await bus.kv(HISTORY_MARKS)
    tier = settings.tiers[0]
    for _ in range(600):
        entry = await kv.get(f"{tier.name}.docker.{BENCH_HOST}")
        if entry.value and int(entry.value) >= time.time() - 2 * tier.step_s:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError("the history service did not catch up in 5 minutes")


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def cpu_of_history(
    nats: NatsServer, bus: Bus, roller: Roller, samples: list[tuple[str, bytes]], since: int
) -> None:
    """The raw tier's last hours written as the collector publishes (its server CPU, and a
    LATEST without the copy as the baseline), then rolled up by a replica (its CPU)."""
    assert nats.process is not None
    server = psutil.Process(nats.process.pid)

    async def ingest(into: Bus) -> float:
        before = cpu_s(server)
        for subject, payload in samples:
            await into.nc.publish(into.subjects.prefix + subject.removeprefix(PREFIX), payload)
        await into.nc.flush()
        await asyncio.sleep(1.0)  # the server's storing, after the last publish
        return cpu_s(server) - before

    with_copy = await ingest(bus)
    async with bus_client(nats, "benchbase") as base:
        await base.js.add_stream(replace(LATEST.config(base.subjects), republish=None))
        without_copy = await ingest(base)
    span = time.time() - since
    began_cpu, began = time.process_time(), time.perf_counter()
    windows = await roller.roll()
    cpu = time.process_time() - began_cpu
    wall = time.perf_counter() - began
    extra = cpu + max(0.0, with_copy - without_copy)
    print()
    row(f"CPU over {span / 60:.0f} min of samples, % of one core at the real-time rate", "")
    row("---", "---")
    row(f"history roll-ups ({windows} windows; {wall:.2f} s)", f"**{cpu / span * 100:.3f} %**")
    row("nats-server ingest, LATEST + its raw copy", f"{with_copy / span * 100:.3f} %")
    row("nats-server ingest, LATEST alone (baseline)", f"{without_copy / span * 100:.3f} %")
    row("extra for history (roll-ups + copy)", f"**{extra / span * 100:.3f} %** (target <= 2 %)")


async def queries(
    nats: NatsServer, bus: Bus, settings: HistorySettings, args: argparse.Namespace
) -> None:
    now = time.time()

    async def ask(**fields: Any) -> Any:
        return await ctl.call(bus, History.QUERY, QueryHistory(**fields), timeout_s=30)

    def since(seconds: float) -> datetime:
        return datetime.fromtimestamp(now - seconds, UTC)

    until = since(0)
    for _ in range(100):  # until the service answers
        try:
            await ask(kind=HistoryKind.HOST, host=BENCH_HOST, start=since(600), step_s=60)
            break
        except ctl.Refused:
            raise
        except Exception:
            await asyncio.sleep(0.1)
    one = {"kind": HistoryKind.CONTAINER, "host": BENCH_HOST, "container": "app-001"}
    # in this order, each range's first ask reads its frames from the stream
    hour_ms, hour_again, hour = await timed(
        args.repeat, lambda: ask(**one, start=since(3600), end=until, step_s=60)
    )
    week_ms, week_again, week = await timed(
        args.repeat,
        lambda: ask(
            kind=HistoryKind.CONTAINERS,
            host=BENCH_HOST,
            start=since(7 * 86400),
            end=until,
            step_s=7 * 86400,
        ),
    )
    day_ms, day_again, day = await timed(
        args.repeat, lambda: ask(**one, start=since(86400), end=until, step_s=60)
    )
    chart_ms, chart_again, _ = await timed(
        args.repeat,
        lambda: ask(**one, start=since(86400), end=until, step_s=60, series=list(CHART)),
    )
    raw = HISTORY_RAW.stream(bus.subjects)
    history = HISTORY.stream(bus.subjects)

    async def raw_hour() -> int:
        samples = []
        subject = bus.subjects.raw_metrics_copy(bus.subjects.docker_metrics(BENCH_HOST))
        async for payload in store.read(
            bus.js, raw, subject, now - 3600, now, store.sample_time, before=LOOKBACK_S
        ):
            samples += [s for s in samples_of("docker", payload)["docker"] if s.key == "app-001"]
        return len(roll_up_steps(DOCKER, samples, now - 3600, now, 60))

    async def finest_week() -> int:
        subject = bus.subjects.history(settings.tiers[0].name, DOCKER.kind, BENCH_HOST)
        records = []
        async for payload in store.read(
            bus.js, history, subject, now - 7 * 86400, now, store.frame_time
        ):
            records += Frame(payload).records()
        return len(combine(DOCKER, records))

    _, base_hour_ms, _ = await timed(args.repeat, raw_hour)
    _, base_week_ms, _ = await timed(max(2, args.repeat // 2), finest_week)

    def tiers(answer: Any) -> str:
        return "+".join(span.tier for span in answer.tiers)

    print()
    row(
        "query (over the bus)",
        "first ms (frames read)",
        "again ms (median; frames kept)",
        "points",
        "from",
        "baseline ms (median)",
        "ratio to first",
    )
    row(*["---"] * 7)
    row(
        "1 container, 24 h at 1 min (target <= 50 ms)",
        f"**{day_ms:.1f}**",
        f"**{day_again:.1f}**",
        len(day.entries[0].times),
        tiers(day),
        "",
        "",
    )
    row(
        "the same, the 2 series its chart draws (the dashboard asks so)",
        f"**{chart_ms:.1f}**",
        f"**{chart_again:.1f}**",
        len(day.entries[0].times),
        tiers(day),
        "",
        "",
    )
    row(
        f"{args.containers} containers, 7 d at a 7-d step: the table's sort (target <= 500 ms)",
        f"**{week_ms:.1f}**",
        f"**{week_again:.1f}**",
        f"{len(week.entries)} x {len(week.entries[0].times)}",
        tiers(week),
        f"{base_week_ms:.1f} (the 1-min tier read whole, in this process)",
        f"{base_week_ms / week_ms:.1f}x",
    )
    row(
        "1 container, last hour at 1 min",
        f"{hour_ms:.1f}",
        f"{hour_again:.1f}",
        len(hour.entries[0].times),
        tiers(hour),
        f"{base_hour_ms:.1f} (the raw samples read and rolled up, in this process)",
        f"{base_hour_ms / hour_ms:.1f}x",
    )
    await at_the_gateway(nats, bus, settings, args, chart_again)


async def at_the_gateway(
    nats: NatsServer,
    bus: Bus,
    settings: HistorySettings,
    args: argparse.Namespace,
    over_the_bus_ms: float,
) -> None:
    """The 24 h chart as the dashboard asks it (its 2 series): `GET /api/history/...` of
    a real gateway (and auth) in this process; then asked again once the next minute is
    rolled up (the frame the service published joins the frames it keeps)."""
    auth = auth_settings_for(nats, PREFIX, admin_password=BENCH_PASSWORD)
    gateway_settings = GatewaySettings(**nats.service(ServiceRole.GATEWAY, PREFIX))
    async with run_auth(auth), serve_gateway(gateway_settings) as address:
        token = (await login(nats, PREFIX, "admin", BENCH_PASSWORD)).access_token
        path = f"/api/history/docker/{BENCH_HOST}/containers/app-001"
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as http:

            async def chart() -> int:
                answer = await http.get(path, params=CHART_QUERY, headers=headers)
                answer.raise_for_status()
                return len(answer.content)

            first_ms, again_ms, size = await timed(args.repeat, chart)
            kv = await bus.kv(HISTORY_MARKS)
            tier = settings.tiers[0]

            async def mark() -> int:
                return int((await kv.get(f"{tier.name}.docker.{BENCH_HOST}")).value or b"0")

            before = await mark()
            for _ in range(300):  # the next minute rolled up: within 2.5 minutes
                if await mark() > before:
                    break
                await asyncio.sleep(0.5)
            later_ms, _, _ = await timed(1, chart)
    print()
    row("the 24 h chart at the gateway (REST, the 2 series it draws)", "ms", "answer")
    row("---", "---", "---")
    row(
        "first ask (the service had read its frames over the bus)",
        f"{first_ms:.1f}",
        f"{size / 1e3:.0f} kB",
    )
    row("again (median)", f"**{again_ms:.1f}**", f"over the bus alone: {over_the_bus_ms:.1f} ms")
    row("a minute later: a new minute rolled up, the range moved", f"**{later_ms:.1f}**", "")


if __name__ == "__main__":
    main()
