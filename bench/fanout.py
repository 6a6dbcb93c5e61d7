"""WebSocket fan-out: the Vigil gateway against a naive FastAPI hub, in one run.

Starts a private nats-server, the real auth service and the real gateway
(`python -m vigil_gateway`) as child processes, logs in as admin over
`POST /api/auth/token`, and connects N WebSocket clients with that one token (spread
over several load processes, `fanout_clients.py`), each subscribed to `host.metrics`
on `/ws`. A separate publisher (`fanout_publisher.py`) then sends ~1 KB
`HostMetricsSampled` messages on JetStream at a fixed rate, one host subject per
message (host.metrics is a state channel: a newer value of the same subject replaces
a queued one, so a repeated subject would hide lag), each stamped with its publish
time; clients measure publish-to-receive latency against the same clock. Then the
same clients, publisher and durations run against the baselines:

- `naive` (`fanout_naive.py`): FastAPI, core NATS subscription,
  `for ws in clients: await ws.send_text(m)`, no auth, no parsing;
- `frames` (`fanout_frames.py`, only when asked for): a bare asyncio.Protocol server
  that builds each frame once and writes the same bytes to every socket, one write
  per socket per loop iteration: a ceiling for Python on this machine, not a design.

Each server gets two modes on the same connections: *steady* (`--rate` msg/s for
`--seconds`) and *saturate* (enough msg/s to offer `--saturate-offered` deliveries/s
for `--saturate-seconds`: the most deliveries/s the server manages; a backlog left by
steady counts in it). The server under test is pinned to CPU 0, everything else (nats,
publisher, clients) to the other CPUs. Every child dies with this process
(PR_SET_PDEATHSIG) and has its own watchdog alarm; the whole run has one too.

    uv run --all-packages python bench/fanout.py                 # 1000 clients, 10 msg/s
    uv run --all-packages python bench/fanout.py --clients 5000
    uv run --all-packages python bench/fanout.py --servers vigil,naive,frames --timeline
    uv run --all-packages python bench/fanout.py --servers vigil --deflate
    uv run --all-packages python bench/fanout.py --servers vigil --profile /tmp/prof

Columns: msg/s = what the publisher achieved; dlv/s = payload frames received per
second by all clients while the publisher ran; p50/p99/max = publish-to-receive
latency of the messages delivered (histogram, ~2.5 % buckets); delivered = received /
(published x clients) after waiting up to `--drain` s; srv CPU % = server threads'
CPU from /proc/<pid>/task/*/schedstat over the publishing window (100 = one core);
RSS MiB = server RSS at the end of the window; KB/conn = (RSS after connecting - RSS
before) / clients; load CPU % = the client processes together. On 2 CPUs the clients
share one core with nats: when load CPU % nears 100, the load generator is the limit,
and even below that the clients' own time per frame is part of the latency.
`--profile DIR` writes py-spy stacks (collapsed, `--nonblocking`) of the server per
mode; py-spy must be installed (e.g. `.tools/bin/pip install py-spy`).
"""

import argparse
import asyncio
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fanout_clients import BIN_NS, percentile
from fanout_processes import (
    BenchError,
    Children,
    Process,
    cpu_ns,
    free_port,
    provision_when_up,
    read_event,
    rss_mib,
    tell,
    wait_http,
)

from vigil.settings import VigilSettings

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
ADMIN_PASSWORD = "bench-admin-password"
SERVERS = ("vigil", "naive", "frames")


@dataclass
class Row:
    server: str
    mode: str
    clients: int
    rate: float
    deliveries_s: float
    p50: float
    p99: float
    max_ms: float
    delivered: float
    cpu: float
    rss: float
    kb_per_conn: float
    load_cpu: float


def modes(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    """(mode, msg/s, seconds) for each measurement on one set of connections."""
    planned = [("steady", args.rate, args.seconds)]
    if args.saturate_seconds > 0:
        rate = max(args.saturate_offered / args.clients, 1.0)
        planned.append(("saturate", rate, args.saturate_seconds))
    return planned


async def login(base: str) -> str:
    """An admin access token from the gateway (retried while auth is starting)."""
    async with httpx.AsyncClient() as http:
        deadline = time.monotonic() + 30
        while True:
            reply = await http.post(
                f"{base}/api/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
            )
            if reply.status_code == 200:
                return str(reply.json()["access_token"])
            if time.monotonic() > deadline:
                raise BenchError(f"login failed: {reply.status_code} {reply.text[:200]}")
            await asyncio.sleep(0.2)


def gateway_limits(clients: int) -> dict[str, str]:
    """Admission limits raised for N sockets of one user that connect at once (the
    benchmark measures streaming, not admission). A gateway without such a setting
    ignores it."""
    return {
        "VIGIL_GATEWAY_MAX_CONNECTIONS": str(max(10_000, clients + 100)),
        "VIGIL_GATEWAY_MAX_CONNECTIONS_PER_USER": str(clients + 100),
        "VIGIL_GATEWAY_MAX_HANDSHAKES_PER_S": "100000",
        "VIGIL_GATEWAY_SHARE_RATE_LIMIT": "false",  # each socket its own 10 requests/min
    }


async def start_server(
    args: argparse.Namespace, kids: Children, name: str, nats_url: str, prefix: str
) -> tuple[Process, str]:
    """The server under test on a free port, ready; returns it and its WebSocket URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if name == "vigil":
        env = os.environ | {
            "VIGIL_NATS_URL": nats_url,
            "VIGIL_SUBJECT_PREFIX": prefix,
            "VIGIL_GATEWAY_PORT": str(port),
        }
        argv = [PYTHON, *shlex.split(args.gateway_args)]
        env |= gateway_limits(args.clients) | dict(args.gateway_env)
        server = await kids.start("gateway", argv, role="server", env=env)
        await wait_http(f"{base}/readyz", 30, server)
        return server, f"ws://127.0.0.1:{port}/ws?token={await login(base)}"
    script = HERE / f"fanout_{name}.py"
    argv = [PYTHON, str(script), "--nats-url", nats_url, "--prefix", prefix, "--port", str(port)]
    server = await kids.start(name, [*argv, "--max-seconds", str(args.watchdog)], role="server")
    if name == "naive":
        await wait_http(f"{base}/healthz", 30, server)
    else:
        await read_event(server, "ready", 30)
    return server, f"ws://127.0.0.1:{port}/ws"


async def connect_clients(
    args: argparse.Namespace, kids: Children, name: str, ws_url: str
) -> tuple[list[Process], int]:
    shares = [args.clients // args.client_procs] * args.client_procs
    shares[0] += args.clients - sum(shares)
    began = time.monotonic()
    clients = []
    for i, count in enumerate(shares):
        argv = [PYTHON, str(HERE / "fanout_clients.py"), "--url", ws_url, "--count", str(count)]
        argv += ["--max-seconds", str(args.watchdog)] + (["--deflate"] if args.deflate else [])
        clients.append(await kids.start(f"{name}-clients-{i}", argv))
    within = 60 + args.clients / 50
    ready = await asyncio.gather(*(read_event(c, "ready", within) for c in clients))
    connected = sum(r["connected"] for r in ready)
    errors = sum((Counter(r["errors"]) for r in ready), Counter[str]())
    failed = f"; {args.clients - connected} failed: {dict(errors)}" if errors else ""
    took = time.monotonic() - began
    print(f"[{name}] {connected} clients subscribed in {took:.1f} s{failed}", file=sys.stderr)
    if not connected:
        raise BenchError(f"{name}: no client could connect")
    return clients, connected


async def measure(
    args: argparse.Namespace, kids: Children, name: str, nats_url: str, prefix: str
) -> list[Row]:
    server, ws_url = await start_server(args, kids, name, nats_url, prefix)
    await asyncio.sleep(1.0)
    rss_before = rss_mib(server.pid)
    clients, connected = await connect_clients(args, kids, name, ws_url)
    await asyncio.sleep(1.0)
    kb_per_conn = (rss_mib(server.pid) - rss_before) * 1024 / connected
    rows = []
    for mode, rate, seconds in modes(args):
        tell(clients, f"start {time.time_ns()}")
        argv = [PYTHON, str(HERE / "fanout_publisher.py"), "--nats-url", nats_url]
        argv += ["--prefix", prefix, "--rate", str(rate), "--seconds", str(seconds)]
        publisher = await kids.start(f"{name}-publisher-{mode}", argv)
        await read_event(publisher, "started", 30)
        cpu0, load0, wall0 = cpu_ns(server.pid), sum(cpu_ns(c.pid) for c in clients), time.time()
        profiler = await start_profiler(args, kids, server.pid, f"{name}-{mode}", seconds)
        done = await read_event(publisher, "done", seconds + 30)
        cpu1, load1, wall1 = cpu_ns(server.pid), sum(cpu_ns(c.pid) for c in clients), time.time()
        rss = rss_mib(server.pid)
        await publisher.wait()
        tell(clients, f"stop {done['published']} {args.drain}")
        within = args.drain + 60
        reports = await asyncio.gather(*(read_event(c, "report", within) for c in clients))
        if profiler is not None:
            await asyncio.wait_for(profiler.wait(), 30)
        histogram: Counter[int] = Counter()
        bins: Counter[int] = Counter()
        for report in reports:
            histogram.update({int(k): v for k, v in report["histogram"].items()})
            bins.update({int(k): v for k, v in report["bins"].items()})
        first, last = -(-done["t0_ns"] // BIN_NS), done["t1_ns"] // BIN_NS  # whole bins inside
        if args.timeline:
            print_timeline(f"{name} {mode}", bins, reports, first)
        in_window = sum(n for at, n in bins.items() if first <= at < last)
        wall = wall1 - wall0
        expected = max(done["published"] * connected, 1)
        rows.append(
            Row(
                server=name,
                mode=mode,
                clients=connected,
                rate=done["published"] * 1e9 / (done["t1_ns"] - done["t0_ns"]),
                deliveries_s=in_window / max((last - first) * BIN_NS / 1e9, 1e-9),
                p50=percentile(histogram, 0.50),
                p99=percentile(histogram, 0.99),
                max_ms=max(r["max_ms"] for r in reports),
                delivered=sum(r["received"] for r in reports) / expected,
                cpu=(cpu1 - cpu0) / 1e7 / wall,
                rss=rss,
                kb_per_conn=kb_per_conn,
                load_cpu=(load1 - load0) / 1e7 / wall,
            )
        )
        closed = sum((Counter(r["closed"]) for r in reports), Counter[str]())
        if closed:
            print(f"[{name}] {mode}: sockets closed by the server: {dict(closed)}", file=sys.stderr)
    tell(clients, "quit")
    for proc in [*clients, server]:
        await kids.stop(proc, within_s=10)
    return rows


def print_timeline(label: str, bins: Counter[int], reports: list[Any], first: int) -> None:
    """Deliveries and the worst latency per second of receive time."""
    worst: dict[int, float] = {}
    for report in reports:
        for at, ms in report["bin_max_ms"].items():
            second = (int(at) - first) // 10
            worst[second] = max(worst.get(second, 0.0), ms)
    counts: Counter[int] = Counter()
    for at, n in bins.items():
        counts[(at - first) // 10] += n
    print(f"[{label}] second: deliveries, worst latency ms", file=sys.stderr)
    for second in sorted(counts):
        print(f"  {second:>4}: {counts[second]:>8} {worst.get(second, 0):>9.1f}", file=sys.stderr)


async def start_profiler(
    args: argparse.Namespace, kids: Children, pid: int, label: str, seconds: float
) -> Process | None:
    if args.profile is None:
        return None
    out = Path(args.profile) / f"{label}.txt"
    argv = [args.py_spy, "record", "-p", str(pid), "-d", str(max(int(seconds) - 1, 1)), "-r", "200"]
    argv += ["--nonblocking", "--format", "raw", "-o", str(out)]
    return await kids.start(f"py-spy-{label}", argv)


async def run(args: argparse.Namespace, kids: Children, store: Path) -> list[Row]:
    try:
        nats_port, prefix = free_port(), "bench" + uuid.uuid4().hex[:10]
        nats_url = f"nats://127.0.0.1:{nats_port}"
        nats_bin = str(Path(PYTHON).parent / "nats-server")
        argv = [nats_bin, "-js", "-a", "127.0.0.1", "-p", str(nats_port), "-sd", str(store)]
        await kids.start("nats-server", argv)
        # No locks on this private server (the bus's credentials are not what is measured);
        # the streams are made as the provisioner makes them.
        await provision_when_up(VigilSettings(nats_url=nats_url, subject_prefix=prefix))
        env = os.environ | {"VIGIL_NATS_URL": nats_url, "VIGIL_SUBJECT_PREFIX": prefix}
        if "vigil" in args.servers:
            secret_file = store / "auth" / "signing-key-secret"  # made at its first start
            env |= {
                "VIGIL_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "VIGIL_AUTH_SIGNING_KEY_SECRET_FILE": str(secret_file),
            }
            await kids.start("auth", [PYTHON, "-m", "vigil_auth"], env=env)
        rows: list[Row] = []
        for name in args.servers:
            # Each server its own subjects and streams: a state feed replays the newest
            # value of every subject to each new client, which must start empty.
            own = prefix if name == "vigil" else f"{prefix}-{name}"
            rows += await measure(args, kids, name, nats_url, own)
        return rows
    finally:
        await kids.stop_all()


def print_table(args: argparse.Namespace, rows: list[Row]) -> None:
    where = "not pinned" if args.no_pin else "server pinned to CPU 0, the rest on the others"
    deflate = ", clients offer permessage-deflate" if args.deflate else ""
    print(f"\nfan-out of ~1 KB host samples to host.metrics subscribers ({where}, "
          f"{os.cpu_count()} CPUs{deflate})")  # fmt: skip
    head = (f"{'server':<7}{'mode':<9}{'clients':>8}{'msg/s':>8}{'dlv/s':>9}{'p50 ms':>9}"
            f"{'p99 ms':>9}{'max ms':>9}{'delivered':>10}{'srv CPU%':>9}{'RSS MiB':>8}"
            f"{'KB/conn':>8}{'load CPU%':>10}")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r.server:<7}{r.mode:<9}{r.clients:>8}{r.rate:>8.1f}{r.deliveries_s:>9.0f}"
              f"{r.p50:>9.1f}{r.p99:>9.1f}{r.max_ms:>9.1f}{r.delivered:>10.3f}{r.cpu:>9.1f}"
              f"{r.rss:>8.0f}{r.kb_per_conn:>8.1f}{r.load_cpu:>10.1f}")  # fmt: skip
    by = {(r.server, r.mode): r for r in rows}
    for other in ("naive", "frames"):
        for mode, _, _ in modes(args):
            vigil, base = by.get(("vigil", mode)), by.get((other, mode))
            if vigil and base and base.deliveries_s and base.p99 and base.cpu:
                print(
                    f"vigil/{other:<6} {mode:<8}: "
                    f"deliveries/s x{vigil.deliveries_s / base.deliveries_s:.2f}, "
                    f"p99 x{vigil.p99 / base.p99:.2f}, CPU x{vigil.cpu / base.cpu:.2f}"
                )


def server_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SERVERS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"servers are among {', '.join(SERVERS)}: {text!r}")
    return names


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--clients", type=int, default=1000)
    add("--client-procs", type=int, default=2, help="load-generator processes")
    add("--rate", type=float, default=10.0, help="steady msg/s")
    add("--seconds", type=float, default=20.0, help="steady duration")
    add("--saturate-offered", type=float, default=300_000, help="deliveries/s offered")
    add("--saturate-seconds", type=float, default=5.0, help="0 skips the saturate mode")
    add("--drain", type=float, default=5.0, help="wait for late deliveries, s")
    add("--servers", type=server_list, default=["vigil", "naive"], help=",".join(SERVERS))
    add("--deflate", action="store_true", help="clients offer permessage-deflate")
    add("--no-pin", action="store_true", help="do not pin CPUs")
    add("--gateway-args", default="-m vigil_gateway", help="what the gateway's python runs")
    add("--gateway-env", type=lambda s: tuple(s.split("=", 1)), action="append", default=[],
        metavar="KEY=VALUE", help="extra gateway environment (e.g. to raise limits)")  # fmt: skip
    add("--timeline", action="store_true", help="deliveries and worst latency per second")
    add("--profile", metavar="DIR", help="py-spy stacks of the server per mode")
    args = parser.parse_args()
    if args.profile is not None:
        args.py_spy = shutil.which("py-spy") or str(HERE.parent / ".tools" / "bin" / "py-spy")
        if not Path(args.py_spy).exists():
            parser.error("--profile needs py-spy (e.g. `.tools/bin/pip install py-spy`)")
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    per_server = args.seconds + args.saturate_seconds + 2 * args.drain + args.clients / 50
    args.watchdog = int(120 + 2 * len(args.servers) * per_server)
    return args


def main() -> None:
    args = parse_args()
    signal.alarm(args.watchdog + 60)  # the last resort; children die with us (PDEATHSIG)
    store = Path(tempfile.mkdtemp(prefix="vigil-fanout-"))
    kids = Children(store, pin=not args.no_pin)
    try:
        rows = asyncio.run(run(args, kids, store / "nats"))
    except BenchError as exc:
        for name in ("gateway", "auth", *SERVERS):
            if tail := kids.tail(name):
                print(f"--- {name} log ---\n{tail}", file=sys.stderr)
        sys.exit(f"fanout: {exc}")
    finally:
        kids.kill_all()
        shutil.rmtree(store, ignore_errors=True)
    print_table(args, rows)


if __name__ == "__main__":
    main()
