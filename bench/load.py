"""Load: N authenticated dashboards on `/ws` against real gateway processes, for a time.

Starts a private nats-server, the real auth service and `--gateways` real gateway
processes (`python -m vigil_gateway`) on loopback, logs in as admin, and connects
`--clients` WebSocket clients (`load_clients.py`, in `--client-procs` processes), each
subscribed to one channel of every kind:

- *state* `docker.stats`: a `DockerStatsSampled` batch of `--containers` simulated
  containers (`tests/fleet.py`'s Fleet) every `--stats-s` (2 s), published on JetStream
  as the collector would;
- *stream* `docker.logs`: `--chatty` containers (announced with
  `ContainerStatusChanged`) each writing a `LogBatch` of `--log-lines` lines every
  `--log-s`; client i watches container i mod `--chatty`;
- *journal* `deploy`: one deploy's journal, a `DeployEvent` every `--journal-s`, which
  every client (every `--journal-every`th) replays from its start and then follows.

Faults that need real services beside these publishers (`--fault kill-deployer`: two
deployer replicas on the machine's Docker engine; `--fault restart-dockerd`: a dockerd
of the bench's own and a real collector) start them from `load_services.py`.

Every message is stamped with its publish time; clients measure publish-to-receive
latency against the same clock. Every second the gateways' CPU and RSS are sampled
(psutil). At the end clients report what they saw; journal loss is counted by cursor:
each client must have seen every sequence published (a client that reconnected
resumed with `since`).

    .venv/bin/python bench/load.py                          # 1000 clients, 10 minutes
    .venv/bin/python bench/load.py --clients 5000 --seconds 60
    .venv/bin/python bench/load.py --seconds 60 --json out.json

Columns: error rate = (connects or subscriptions refused + `error` frames + sockets the
server closed) / (a handshake and each subscription of every client); p50/p99 =
publish-to-receive latency of the updates delivered (~2.5 % histogram buckets);
journal lost = sequences published that a client never received, summed over clients
(must be 0). Loopback only; every child dies with this process, and each has its own
watchdog.
"""

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats.errors
import psutil
from fanout import ADMIN_PASSWORD, gateway_limits, login
from fanout_processes import BenchError, Children, Process, free_port, read_event, tell, wait_http
from load_clients import BIN_S
from load_faults import FAULTS, accept_rate, recovery_s, stale_figures
from load_report import figures_of, latency_of, print_table, summarize, timeline_of
from load_services import SERVICE_FAULTS, SERVICES_OF, WatchedEngine

from tests.docker_support import announce_container
from tests.fleet import Fleet
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.lifecycle import stop_task
from vigil.messages import (
    DeployEvent,
    DeployState,
    DeployStep,
    LogBatch,
    LogLine,
    StepState,
)
from vigil.provision import provision
from vigil.settings import VigilSettings
from vigil.streams import DEPLOY_EVENTS, LATEST, LOGS

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
HOST = "loadhost"

Fault = Callable[["Stack"], Awaitable[dict[str, Any]]]
ALL_FAULTS: dict[str, Fault] = FAULTS | SERVICE_FAULTS


class Stack:
    """The processes of one run and the bus the simulated collector and deployer use."""

    def __init__(self, args: argparse.Namespace, kids: Children, store: Path) -> None:
        self.args, self.kids, self.store = args, kids, store
        self.prefix = "load" + uuid.uuid4().hex[:8]
        self.nats_port = free_port()
        self.nats: Process | None = None
        self.gateways: list[tuple[Process, int]] = []
        self.samples: list[dict[str, float]] = []  # t, cpu %, rss MiB (gateways summed)
        self.published: Counter[str] = Counter()
        self.journal_seqs: list[int] = []
        self.containers = [f"{n:012x}" for n in range(0xC0FFEE000, 0xC0FFEE000 + args.chatty)]
        self.deploy = "load-" + uuid.uuid4().hex[:8]
        self.bus: Bus | None = None
        self.client_procs: list[Process] = []  # the load generators
        self.journal_stored = 0  # what the journal's stream holds of the deploy at the end
        self.consumers_peak = 0  # the most JetStream consumers the account had at once
        self.collector_down = False  # the `kill-collector` fault: no stats meanwhile
        self.last_stats_at: float | None = None  # wall time of the last batch published
        self.deployers: list[Process] = []  # real replicas (`kill-deployer`)
        self.token = ""  # the admin's, for the real services' faults
        self.services = contextlib.AsyncExitStack()  # real services a fault started
        self.watched_engine: WatchedEngine | None = None  # `restart-dockerd`'s

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    async def start_nats(self) -> None:
        nats_bin = str(Path(PYTHON).parent / "nats-server")
        argv = [nats_bin, "-js", "-a", "127.0.0.1", "-p", str(self.nats_port)]
        self.nats = await self.kids.start("nats-server", [*argv, "-sd", str(self.store / "js")])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.nats_port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            # No locks on this private server (the bus's credentials are not what is
            # measured); the streams are made as the provisioner makes them.
            await provision(VigilSettings(nats_url=self.nats_url, subject_prefix=self.prefix))
            return
        raise BenchError("nats-server did not open its port")

    def env(self) -> dict[str, str]:
        return os.environ | {"VIGIL_NATS_URL": self.nats_url, "VIGIL_SUBJECT_PREFIX": self.prefix}

    async def start_gateway(self) -> int:
        port = free_port()
        env = self.env() | {"VIGIL_GATEWAY_PORT": str(port)} | gateway_limits(self.args.clients)
        env |= {"VIGIL_GATEWAY_DRAIN_WINDOW_S": str(self.args.drain_window)}
        if self.args.handshakes_per_s:
            env |= {"VIGIL_GATEWAY_MAX_HANDSHAKES_PER_S": str(self.args.handshakes_per_s)}
        n = len(self.gateways)
        proc = await self.kids.start(f"gateway-{n}", [PYTHON, "-m", "vigil_gateway"], env=env)
        await wait_http(f"http://127.0.0.1:{port}/readyz", 60, proc)
        self.gateways.append((proc, port))
        return port

    def live_gateways(self) -> list[Process]:
        return [proc for proc, _ in self.gateways if proc.returncode is None]


async def publish_all(stack: Stack, until: float) -> None:
    """The simulated collector and deployer, each at its own pace, until `until`."""
    bus, args = stack.bus, stack.args
    assert bus is not None
    fleet = Fleet(HOST, args.containers)

    async def every(period: float, what: str, send: Callable[[], Awaitable[None]]) -> None:
        next_at = time.monotonic()
        while next_at < until:
            if what == "state" and stack.collector_down:  # its collector is "dead"
                stack.published[f"{what} not sent"] += 1
            else:
                try:
                    await send()
                    stack.published[what] += 1
                except BusUnavailable:
                    stack.published[f"{what} failed"] += 1  # NATS away: the fault under test
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def stats() -> None:
        batch = fleet.batch(args.stats_s).model_copy(update={"time": datetime.now(UTC)})
        await bus.publish(bus.subjects.docker_metrics(HOST), batch)
        stack.last_stats_at = time.time()

    def logs(container: str) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            now = datetime.now(UTC)
            lines = [
                LogLine(time=now, stream="stdout", text=f"GET /api/items/{n} 200 {n * 7 % 91} ms")
                for n in range(args.log_lines)
            ]
            await bus.publish(
                bus.subjects.docker_logs(HOST, container),
                LogBatch(host=HOST, container=container, lines=lines),
            )

        return send

    async def journal() -> None:
        stack.journal_seqs.append(await publish_event(stack, len(stack.journal_seqs)))

    await asyncio.gather(
        every(args.stats_s, "state", stats),
        every(args.journal_s, "journal", journal),
        *(every(args.log_s, "stream", logs(c)) for c in stack.containers),
    )


async def publish_event(stack: Stack, n: int) -> int:
    assert stack.bus is not None
    step = list(DeployStep)[n % len(DeployStep)]
    event = DeployEvent(
        deploy_id=stack.deploy,
        step=step,
        status=StepState.PROGRESS,
        state=DeployState.RUNNING,
        message=f"event {n}: {step} progressing",
        percent=float(n % 100),
        time=datetime.now(UTC),
    )
    return await stack.bus.publish(stack.bus.subjects.deploy_events(stack.deploy), event)


async def sample(stack: Stack, until: float) -> None:
    """Gateways' CPU (100 = one core) and RSS every second."""
    procs: dict[int, psutil.Process] = {}
    start = time.monotonic()
    while time.monotonic() < until:
        cpu = rss = 0.0
        for gateway in stack.live_gateways():
            try:
                proc = procs.setdefault(gateway.pid, psutil.Process(gateway.pid))
                cpu += proc.cpu_percent()
                rss += proc.memory_info().rss / 2**20
            except psutil.NoSuchProcess:
                continue
        load = 0.0
        for client_proc in stack.client_procs:
            pid = client_proc.pid
            try:
                load += procs.setdefault(pid, psutil.Process(pid)).cpu_percent()
            except psutil.NoSuchProcess:
                continue
        sample = {"t": time.monotonic() - start, "cpu": cpu, "rss": rss, "load_cpu": load}
        stack.samples.append(sample)
        await asyncio.sleep(1.0)


async def count_consumers(stack: Stack) -> None:
    """Until cancelled: the account's JetStream consumers, twice a second (the peak):
    the gateways' shared feeds and the replays of the sockets catching up."""
    assert stack.bus is not None
    while True:
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            reply = await stack.bus.nc.request("$JS.API.INFO", b"", timeout=2)
            consumers = int(json.loads(reply.data).get("consumers", 0))
            stack.consumers_peak = max(stack.consumers_peak, consumers)
        await asyncio.sleep(0.5)


async def announce(stack: Stack) -> None:
    assert stack.bus is not None
    for container in stack.containers:
        await announce_container(stack.bus, HOST, container, f"chatty-{container[-3:]}")


async def connect_clients(stack: Stack, urls: list[str]) -> list[Process]:
    args = stack.args
    shares = [args.clients // args.client_procs] * args.client_procs
    shares[0] += args.clients - sum(shares)
    procs, offset = [], 0
    for i, count in enumerate(shares):
        argv = [PYTHON, str(HERE / "load_clients.py"), "--count", str(count)]
        argv += [f"--url={url}" for url in urls]
        argv += ["--offset", str(offset), "--host", HOST, "--deploy", stack.deploy]
        argv += ["--journal-every", str(args.journal_every)]
        argv += ["--containers", ",".join(stack.containers), "--max-seconds", str(args.watchdog)]
        procs.append(await stack.kids.start(f"clients-{i}", argv))
        stack.client_procs.append(procs[-1])
        offset += count
    ready = await asyncio.gather(*(read_event(p, "ready", 60 + args.clients / 20) for p in procs))
    connected = sum(r["connected"] for r in ready)
    print(f"{connected}/{args.clients} clients subscribed", file=sys.stderr)
    if not connected:
        raise BenchError("no client could connect")
    return procs


async def run(
    args: argparse.Namespace, kids: Children, store: Path, fault: Fault | None
) -> dict[str, Any]:
    stack = Stack(args, kids, store)
    counting: asyncio.Task[None] | None = None
    try:
        await stack.start_nats()
        env = stack.env() | {
            "VIGIL_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "VIGIL_AUTH_SIGNING_KEY_SECRET_FILE": str(store / "auth" / "signing-key-secret"),
        }
        await kids.start("auth", [PYTHON, "-m", "vigil_auth"], env=env)
        ports = [await stack.start_gateway() for _ in range(args.gateways)]
        token = stack.token = await login(f"http://127.0.0.1:{ports[0]}")
        settings = VigilSettings(nats_url=stack.nats_url, subject_prefix=stack.prefix)
        stack.bus = Bus(settings, name="load", streams=[LATEST, LOGS, DEPLOY_EVENTS])
        await stack.bus.connect()
        if args.fault in SERVICES_OF:
            await stack.services.enter_async_context(SERVICES_OF[args.fault](stack))
        await announce(stack)
        stack.journal_seqs.append(await publish_event(stack, 0))
        urls = [f"ws://127.0.0.1:{port}/ws?token={token}" for port in ports]
        counting = asyncio.create_task(count_consumers(stack))
        began = time.monotonic()
        clients = await connect_clients(stack, urls)
        connect_s = time.monotonic() - began
        tell(clients, f"start {time.time_ns()}")
        until = time.monotonic() + args.seconds
        jobs = [publish_all(stack, until), sample(stack, until + args.drain)]
        fault_figures: list[dict[str, Any]] = []
        if fault is not None:
            jobs.append(run_fault(stack, fault, args.seconds / 3, fault_figures))
        await asyncio.gather(*jobs)
        stream = DEPLOY_EVENTS.config(stack.bus.subjects).name
        # the simulated deploy's events only: a fault's real deploy shares the stream
        journal = stack.bus.subjects.deploy_events(stack.deploy)
        info = await stack.bus.js.stream_info(stream, subjects_filter=journal)
        stack.journal_stored = (info.state.subjects or {}).get(journal, 0)
        reports, caught_up_s = await collect(stack, clients)
        tell(clients, "quit")
        for proc in clients:
            await kids.stop(proc, within_s=10)
        result = summarize(stack, reports, connect_s)
        result["caught_up_s"] = caught_up_s
        if fault_figures:
            info = fault_figures[0]
            info["recovery_s"] = recovery_s(info, timeline_of(reports), BIN_S, args.stats_s)
            accepts = accept_rate(info, result["handshakes"], BIN_S)
            info["accepts_per_s"] = [n / BIN_S for n in accepts]  # handshakes accepted
            resubscribed = accept_rate(info, result["reconnects"], BIN_S)
            info["resubscribed_per_s"] = [n / BIN_S for n in resubscribed]  # all 3 live
            info["socket_recovery_s_p50_max"] = figures_of(result["recovery_s"])
            if info["fault"] == "stall":
                info["others_latency_ms"] = latency_of(reports, "during_stall")
                info["stalled_latency_ms"] = latency_of(reports, "stalled")
            if info["fault"] == "stats stopped":
                info |= stale_figures(info, result["stale"], result["fresh"])
        result["fault"] = fault_figures[0] if fault_figures else None
        return result
    finally:
        await stop_task(counting)
        await stack.services.aclose()
        if stack.bus is not None:
            await stack.bus.close()
        await kids.stop_all()


async def collect(stack: Stack, clients: list[Process]) -> tuple[list[Any], float | None]:
    """The clients' reports, once every client has the whole journal (or `--catch-up`
    seconds after the publishing ended); and how long that took (None: never)."""
    began = time.monotonic()
    while True:
        tell(clients, "report")
        reports = await asyncio.gather(*(read_event(c, "report", 60) for c in clients))
        seen = [n for r in reports for n in r["journal_seen"]]
        if min(seen) >= stack.journal_stored:
            return reports, time.monotonic() - began
        if time.monotonic() - began > stack.args.catch_up:
            return reports, None
        await asyncio.sleep(1.0)


async def run_fault(stack: Stack, fault: Fault, after_s: float, out: list[dict[str, Any]]) -> None:
    await asyncio.sleep(after_s)
    out.append(await fault(stack))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--clients", type=int, default=1000)
    add("--seconds", type=float, default=600.0)
    add("--gateways", type=int, default=1, help="gateway processes; clients round-robin")
    add("--client-procs", type=int, default=2, help="load-generator processes")
    add("--containers", type=int, default=100, help="containers in each stats batch")
    add("--stats-s", type=float, default=2.0)
    add("--chatty", type=int, default=10, help="containers whose logs are watched")
    add("--log-s", type=float, default=0.5, help="seconds between a container's log batches")
    add("--log-lines", type=int, default=5, help="lines per log batch")
    add("--journal-s", type=float, default=6.0, help="seconds between deploy events")
    add("--journal-every", type=int, default=1, help="every nth client watches the journal")
    add("--drain", type=float, default=5.0, help="seconds of sampling after the publishing")
    add("--catch-up", type=float, default=60.0, help="at most this long for late deliveries")
    add("--drain-window", type=float, default=10.0, help="a gateway's SIGTERM drain window")
    add("--handshakes-per-s", type=int, help="the gateways' handshake limit (default: none)")
    add("--fault", choices=sorted(ALL_FAULTS), help="inject this fault a third of the way in")
    add("--outage-s", type=float, default=5.0, help="nats-restart: seconds NATS is down")
    add("--engine-watchers", type=int, default=20, help="restart-dockerd: its stats watchers")
    add("--stalled", type=int, default=50, help="stall-clients: clients that stop reading")
    add("--stall-s", type=float, default=20.0, help="stall-clients: for this long")
    add("--keep", action="store_true", help="keep the children's logs and the NATS store")
    add("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    args.watchdog = int(300 + args.seconds + args.clients / 10)
    return args


def main(argv: list[str] | None = None, fault: Fault | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    signal.alarm(args.watchdog + 60)  # the last resort; children die with us (PDEATHSIG)
    store = Path(tempfile.mkdtemp(prefix="vigil-load-"))
    kids = Children(store, pin=False)
    fault = fault or (ALL_FAULTS[args.fault] if args.fault else None)
    try:
        result = asyncio.run(run(args, kids, store, fault))
    except BenchError as exc:
        for name in ("gateway-0", "gateway-1", "auth", "clients-0", "clients-1"):
            if tail := kids.tail(name):
                print(f"--- {name} log ---\n{tail}", file=sys.stderr)
        sys.exit(f"load: {exc}")
    finally:
        kids.kill_all()
        signal.alarm(0)
        if args.keep:
            print(f"logs kept in {store}", file=sys.stderr)
        else:
            shutil.rmtree(store, ignore_errors=True)
    print_table(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
