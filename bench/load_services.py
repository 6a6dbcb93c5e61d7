"""Real services beside `bench/load.py`'s simulated publishers, for the faults that need
them (`--fault kill-deployer`).

- `kill-deployer`: two real deployer replicas (`python -m vigil_deployer`) serve the
  host `deployhost` on the machine's Docker engine, with a short lease so that a dead
  replica's deploy is taken over within seconds. The fault starts a real deploy through
  a gateway (`POST /api/deploys`, the busybox image, health "running for 60 s" so that
  it is long), watches its journal from its start over `/ws` as a dashboard would,
  SIGKILLs the replica running it once it reaches its health wait, and measures how
  long the other replica took to end it, and whether the watcher got every event the
  journal holds. Every container it made is labelled `vigil-bench=<prefix>` and
  removed at the end.
- `restart-dockerd`: a dockerd of the bench's own (`tests/docker_engine.SecondEngine`:
  own socket, data root and network namespace; the machine's engine is never touched)
  runs two containers, a real collector (`python -m vigil_collector`) publishes their
  stats as host `enginehost`, and `--engine-watchers` dashboards on `/ws` watch
  `docker.stats` of that host. The fault stops that engine, waits `--outage-s` and
  starts it again: how long until the collector said the engine was down and the
  watchers were told `stale` (with its reason), and from the restart until they got
  `fresh` and stats again.
"""

import asyncio
import contextlib
import json
import shutil
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from fanout_processes import BenchError
from load_report import figures_of
from nats.js.api import DeliverPolicy
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.docker_engine import BUSYBOX_IMAGE, SecondEngine, busybox_image, busybox_rootfs, docker
from vigil.messages import DeployEvent, DeployStep, DockerSourceChanged, StepState

if TYPE_CHECKING:
    from load import Stack

PYTHON = sys.executable
DEPLOY_HOST = "deployhost"
ENGINE_HOST = "enginehost"
ENGINE_STATS_S = 1.0  # the collector's Docker stats interval
LEASE_S = 3.0  # a replica silent this long is dead: the other takes its deploys over
REPLICAS = 2


@contextlib.asynccontextmanager
async def deployer_replicas(stack: "Stack") -> AsyncIterator[None]:
    """Two deployer replicas of `deployhost`; their containers removed after."""
    await asyncio.to_thread(busybox_image)  # made locally once: a deploy needs no registry
    env = stack.env() | {
        "VIGIL_DEPLOYER_HOST": DEPLOY_HOST,
        "VIGIL_DEPLOYER_LEASE_S": str(LEASE_S),
        "VIGIL_DEPLOYER_SWEEP_INTERVAL_S": "0.5",
        "VIGIL_DEPLOYER_STOP_TIMEOUT_S": "1",
    }
    try:
        for n in range(REPLICAS):
            proc = await stack.kids.start(
                f"deployer-{n}", [PYTHON, "-m", "vigil_deployer"], env=env
            )
            stack.deployers.append(proc)
        for n in range(REPLICAS):
            await _until_logged(stack, f"deployer-{n}", "deploying to docker", 30)
        yield
    finally:
        await asyncio.to_thread(remove_bench_containers, stack.prefix)


def remove_bench_containers(prefix: str) -> None:
    ids = docker("ps", "-aq", "--filter", f"label=vigil-bench={prefix}").split()
    if ids:
        docker("rm", "-f", *ids)


async def _until_logged(stack: "Stack", name: str, words: str, within_s: float) -> str:
    """The first line of a child's log holding `words`, once it is there."""
    path = stack.kids.logs / f"{name}.log"
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        for line in text.splitlines():
            if words in line:
                return line
        await asyncio.sleep(0.1)
    raise BenchError(f"{name} never logged {words!r}:\n{stack.kids.tail(name)}")


class JournalWatcher:
    """A dashboard on `/ws` watching one deploy's journal from its first event."""

    def __init__(self) -> None:
        self.events: list[tuple[int, DeployEvent, float]] = []  # cursor, event, wall time
        self.changed = asyncio.Event()

    async def watch(self, url: str, deploy_id: str) -> None:
        async with connect(url) as socket:
            frame = {"type": "subscribe", "channel": "deploy", "params": {"id": deploy_id}}
            await socket.send(json.dumps(frame))
            await self._read(socket)

    async def _read(self, socket: ClientConnection) -> None:
        async for raw in socket:
            message = json.loads(raw)
            if message.get("type") == "ping":
                await socket.send('{"type":"pong"}')
            elif message.get("type") == "update":
                event = DeployEvent.model_validate(message["data"])
                self.events.append((int(message["cursor"]), event, time.time()))
                self.changed.set()
                if event.step is DeployStep.DONE:
                    return

    async def first(self, matches: Callable[[DeployEvent], bool], within_s: float) -> float:
        """The wall time of the first event that matches, once it came."""
        deadline = time.monotonic() + within_s
        while True:
            for _, event, at in self.events:
                if matches(event):
                    return at
            left = deadline - time.monotonic()
            if left <= 0:
                said = [f"{e.step}/{e.status}" for _, e, _ in self.events[-6:]]
                raise BenchError(f"the deploy's journal never said what was awaited: {said}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


async def kill_deployer(stack: "Stack") -> dict[str, Any]:
    """A real deploy, its replica SIGKILLed at its health wait; the other must end it."""
    # The replicas start only now: a deployer answers the gateway's existence check of a
    # `deploy` channel, and would refuse the simulated journal's deploy, which it never ran.
    await stack.services.enter_async_context(deployer_replicas(stack))
    base = f"http://127.0.0.1:{stack.gateways[0][1]}"
    spec = {
        "host": DEPLOY_HOST,
        "name": f"bench-{stack.prefix}",
        "image": BUSYBOX_IMAGE,  # made by `deployer_replicas`
        "command": ["sleep", "3600"],
        "labels": {"vigil-bench": stack.prefix},
        "health": {"kind": "running", "seconds": 60},  # long: the kill lands inside it
    }
    headers = {"Authorization": f"Bearer {stack.token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
        reply = await http.post("/api/deploys", json=spec)
    if reply.status_code != 202:
        raise BenchError(f"POST /api/deploys: {reply.status_code} {reply.text[:300]}")
    deploy_id = str(reply.json()["id"])
    watcher = JournalWatcher()
    watching = asyncio.create_task(
        watcher.watch(f"{base.replace('http', 'ws')}/ws?token={stack.token}", deploy_id)
    )
    try:
        await watcher.first(
            lambda e: e.step is DeployStep.HEALTH and e.status is StepState.STARTED, 30
        )
        worker = next(e.worker for _, e, _ in reversed(watcher.events) if e.worker)
        victim = await _replica_of(stack, worker)
        at = time.time()
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        await asyncio.wait_for(asyncio.shield(watching), LEASE_S * 4 + 30)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    end = watcher.events[-1][1]
    ended_at = watcher.events[-1][2]
    stored = await _journal_cursors(stack, deploy_id)
    seen = [cursor for cursor, _, _ in watcher.events]
    return {
        "fault": "deployer SIGKILL mid-deploy",
        "at": at,
        "deploy": deploy_id,
        "killed_worker": worker,
        "ended_by": end.worker,
        "end_state": end.state.value,
        "end_message": end.message,
        "rolled_back": any(e.step is DeployStep.ROLLBACK for _, e, _ in watcher.events),
        "ended_after_kill_s": round(ended_at - at, 2),
        "journal_events_stored": len(stored),
        "journal_events_seen": len(seen),
        "journal_lost": len(set(stored) - set(seen)),
        "journal_repeated": len(seen) - len(set(seen)),
        "final": end.state.finished,
    }


def _at_health_wait(event: DeployEvent) -> bool:
    return event.step is DeployStep.HEALTH and event.status is StepState.STARTED


async def _replica_of(stack: "Stack", worker: str) -> Any:
    """The deployer process whose worker id is `worker` (each logs it when it starts)."""
    for n, proc in enumerate(stack.deployers):
        line = await _until_logged(stack, f"deployer-{n}", "deploying to docker", 5)
        if line.rstrip().endswith(worker):
            return proc
    raise BenchError(f"no deployer replica runs as {worker}")


async def _journal_cursors(stack: "Stack", deploy_id: str) -> list[int]:
    """The JetStream sequences the deploy's journal holds, read back from its start."""
    assert stack.bus is not None
    subject = stack.bus.subjects.deploy_events(deploy_id)
    reader = await stack.bus.js.subscribe(
        subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    cursors: list[int] = []
    try:
        while True:
            try:
                msg = await reader.next_msg(timeout=1.0)
            except TimeoutError:
                return cursors
            cursors.append(msg.metadata.sequence.stream)
    finally:
        await reader.unsubscribe()


# -- restart-dockerd ------------------------------------------------------------------


class StatsWatcher:
    """A dashboard on `/ws` watching `docker.stats` of one host: when its batches came,
    and when it was told `stale` (with the reason) and `fresh`."""

    def __init__(self) -> None:
        self.updates: list[float] = []
        self.stale: list[tuple[float, str | None]] = []
        self.fresh: list[float] = []

    async def watch(self, url: str, host: str) -> None:
        async with connect(url) as socket:
            frame = {"type": "subscribe", "channel": "docker.stats", "params": {"host": host}}
            await socket.send(json.dumps(frame))
            async for raw in socket:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await socket.send('{"type":"pong"}')
                elif kind == "update":
                    self.updates.append(time.time())
                elif kind == "stale":
                    self.stale.append((time.time(), message.get("reason")))
                elif kind == "fresh":
                    self.fresh.append(time.time())


class WatchedEngine:
    """The bench's own dockerd, its collector's reports and the dashboards watching."""

    def __init__(self, engine: SecondEngine) -> None:
        self.engine = engine
        self.watchers: list[StatsWatcher] = []
        self.reports: list[tuple[float, DockerSourceChanged]] = []  # the collector's

    def docker(self, *args: str) -> str:
        return docker("-H", self.engine.url, *args)


@contextlib.asynccontextmanager
async def watched_engine(stack: "Stack") -> AsyncIterator[None]:
    """Before the clients connect: the engine, its containers, the collector, watchers."""
    assert stack.bus is not None
    # a short path (the engine's sockets live under it) of letters and digits only (it
    # names the engine's containerd namespace: mkdtemp's `_` may not stand beside a `-`)
    root = Path(f"/tmp/vb{uuid.uuid4().hex[:10]}")
    await asyncio.to_thread(root.mkdir)
    engine = WatchedEngine(SecondEngine(root))
    watching: list[asyncio.Task[None]] = []
    reports = None
    try:
        await asyncio.to_thread(engine.engine.start)
        await asyncio.to_thread(_run_containers, engine, stack.prefix)

        async def heard(msg: Any) -> None:
            engine.reports.append((time.time(), DockerSourceChanged.model_validate_json(msg.data)))

        reports = await stack.bus.nc.subscribe(
            stack.bus.subjects.docker_source(ENGINE_HOST), cb=heard
        )
        env = stack.env() | {
            "VIGIL_COLLECTOR_HOST": ENGINE_HOST,
            "VIGIL_COLLECTOR_DOCKER": "on",
            "VIGIL_COLLECTOR_DOCKER_URL": engine.engine.url,
            "VIGIL_COLLECTOR_DOCKER_INTERVAL_S": str(ENGINE_STATS_S),
            "VIGIL_COLLECTOR_DOCKER_RETRY_MAX_S": "1",  # back soon after the engine is
            "VIGIL_COLLECTOR_INTERVAL_S": "5",
        }
        await stack.kids.start("collector", [PYTHON, "-m", "vigil_collector"], env=env)
        deadline = time.monotonic() + 30
        while not any(change.available for _, change in engine.reports):  # the host is known
            if time.monotonic() > deadline:
                raise BenchError(f"{ENGINE_HOST} not reported:\n{stack.kids.tail('collector')}")
            await asyncio.sleep(0.2)
        url = f"ws://127.0.0.1:{stack.gateways[0][1]}/ws?token={stack.token}"
        for _ in range(stack.args.engine_watchers):
            watcher = StatsWatcher()
            engine.watchers.append(watcher)
            watching.append(asyncio.create_task(watcher.watch(url, ENGINE_HOST)))
        deadline = time.monotonic() + 30
        while not all(w.updates for w in engine.watchers):  # stats flow to every watcher
            if time.monotonic() > deadline:
                raise BenchError(f"no stats of {ENGINE_HOST}:\n{stack.kids.tail('collector')}")
            await asyncio.sleep(0.2)
        stack.watched_engine = engine
        yield
    finally:
        for task in watching:
            task.cancel()
        for task in watching:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        if reports is not None:
            await reports.unsubscribe()
        await asyncio.to_thread(_remove_engine, engine, stack.prefix)


def _run_containers(engine: WatchedEngine, prefix: str) -> None:
    rootfs = busybox_rootfs()
    docker(
        "-H", engine.engine.url, "import", "-c", "ENV PATH=/bin", "-", BUSYBOX_IMAGE, stdin=rootfs
    )
    for n in range(2):
        engine.docker(
            "run", "-d", "--name", f"bench-{prefix}-{n}", "--label", f"vigil-bench={prefix}",
            "--network", "none", "--restart", "always",  # back with the engine
            "--stop-timeout", "1",  # `sleep` ignores SIGTERM: the engine stops in 1 s, not 10
            BUSYBOX_IMAGE, "sleep", "3600",
        )  # fmt: skip


def _remove_engine(engine: WatchedEngine, prefix: str) -> None:
    """Its containers, the engine, and its data root."""
    with contextlib.suppress(RuntimeError, OSError):
        if engine.engine.process is not None:
            ids = engine.docker("ps", "-aq", "--filter", f"label=vigil-bench={prefix}").split()
            if ids:
                engine.docker("rm", "-f", *ids)
    engine.engine.stop()
    shutil.rmtree(engine.engine.root, ignore_errors=True)


async def restart_dockerd(stack: "Stack") -> dict[str, Any]:
    """Stop the bench's own engine, wait `--outage-s`, start it again; until every
    watcher was told `fresh` (at most 30 s)."""
    engine = stack.watched_engine
    assert engine is not None
    at = time.time()
    await asyncio.to_thread(engine.engine.stop)
    stopped_at = time.time()
    await asyncio.sleep(stack.args.outage_s)
    restarted_at = time.time()
    await asyncio.to_thread(engine.engine.start)
    back_at = time.time()
    deadline = time.monotonic() + 30
    while not all(any(t > at for t in w.fresh) for w in engine.watchers):
        if time.monotonic() > deadline:
            break  # the figures say who got none
        await asyncio.sleep(0.2)
    again = [min(ts) for w in engine.watchers if (ts := [t for t in w.updates if t > back_at])]
    down = [t for t, report in engine.reports if t >= at and not report.available]
    up = [t for t, report in engine.reports if t >= at and report.available]
    stale = [[(t, why) for t, why in w.stale if t >= at] for w in engine.watchers]
    fresh = [
        min(t for t in w.fresh if t > at) for w in engine.watchers if any(t > at for t in w.fresh)
    ]
    return {
        "fault": "dockerd stopped + started",
        "at": at,
        "restarted_at": restarted_at,
        "back_at": back_at,
        "engine_stop_s": round(stopped_at - at, 2),
        "engine_start_s": round(back_at - restarted_at, 2),
        "watchers": len(engine.watchers),
        "reported_down_after_s": round(down[0] - at, 2) if down else None,
        "reported_up_after_restart_s": round(up[0] - restarted_at, 2) if up else None,
        "watchers_told_stale": sum(1 for marks in stale if marks),
        "stale_reasons": sorted({str(marks[0][1]) for marks in stale if marks}),
        "stale_after_s": figures_of([marks[0][0] - at for marks in stale if marks]),
        "watchers_told_fresh": len(fresh),
        "fresh_after_restart_s": figures_of([t - restarted_at for t in fresh]),
        "watchers_with_stats_again": len(again),
        "stats_after_restart_s": figures_of([t - restarted_at for t in again]),
    }


SERVICE_FAULTS = {"kill-deployer": kill_deployer, "restart-dockerd": restart_dockerd}
SERVICES_OF = {"restart-dockerd": watched_engine}  # started before the clients connect
