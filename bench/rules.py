"""The cost of alert rules: 1,000 rules over 100 containers, a stats batch every 2 s,
against the same flow with no rules, in the same run.

Two measures:

1. **The alerter as production runs it**: a real nats-server, two `python -m
   vigil_alerter` processes (default settings, but no default host rules), one under a
   prefix whose ALERT_RULES holds 1,000 rules, one under a prefix with none (the
   baseline: the same subscriptions, the same messages parsed, leases, ticks). This
   process publishes the same Docker stats batch of 100 containers (and their status
   once, so labels are known) to both prefixes every `--interval` seconds for
   `--seconds`; the CPU time of each alerter over the run is read from /proc (ns
   resolution), as % of one core.
2. **The evaluation alone** (in this process): a batch parsed and evaluated, with 1,000
   rules and with none, timed over `--rounds` batches; the difference is what the rules
   cost per batch.

The rules: 900 by container name (9 per container), 90 by label (each on a group of
10 containers), 10 on every container (name `*`); metric conditions (CPU, memory, memory
against its limit) with holds, and status conditions. Each container thus meets 28
rules; a third of the containers run hot, so rules raise and stay raised. The target:
1,000 rules over 100 containers every 2 s cost <= 3 % of a core.

    .venv/bin/python bench/rules.py [--seconds 40] [--interval 2] [--rounds 300]
"""

import argparse
import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.alerter_support import container
from tests.support import NatsServer, bus_client
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.messages import (
    ContainerState,
    ContainerStatusChanged,
    DockerStatsSampled,
    Rule,
    RuleDraft,
)
from vigil.records import Records
from vigil.streams import ALERT_RULES, ALERTS
from vigil_alerter.evaluation import Evaluator

HOST = "benchhost"
CONTAINERS = 100
TARGET_PERCENT = 3.0


def container_id(n: int) -> str:
    return f"{n:012x}"


def rules() -> list[Rule]:
    made = []
    conditions: list[dict[str, Any]] = [
        {"kind": "metric", "metric": "cpu_percent", "threshold": 50},
        {"kind": "metric", "metric": "memory_percent", "threshold": 80},
        {"kind": "metric", "metric": "memory_of_limit", "threshold": 90},
        {"kind": "status", "event": "exited_nonzero"},
        {"kind": "status", "event": "restart_loop", "restarts": 3, "window_s": 300},
    ]
    for n in range(1000):
        if n < 900:
            target: dict[str, Any] = {"kind": "container", "name": f"svc-{n % CONTAINERS}"}
        elif n < 990:
            target = {"kind": "container", "label": f"group=g{n % 10}"}
        else:
            target = {"kind": "container", "name": "*"}
        draft = RuleDraft.model_validate(
            {
                "name": f"rule {n}",
                "target": target,
                "condition": conditions[n % len(conditions)],
                "hold_s": 4,
                "recovery_s": 4,
            }
        )
        made.append(
            Rule(
                **draft.model_dump(),
                id=f"{n:016x}",
                created_by="bench",
                created_at=datetime.now(UTC),
            )
        )
    return made


def batch() -> DockerStatsSampled:
    return DockerStatsSampled(
        host=HOST,
        time=datetime.now(UTC),
        interval_s=2.0,
        containers=[
            container(container_id(n), f"svc-{n}", 90.0 if n % 3 == 0 else 5.0)
            for n in range(CONTAINERS)
        ],
    )


def statuses() -> list[ContainerStatusChanged]:
    return [
        ContainerStatusChanged(
            host=HOST,
            id=container_id(n),
            name=f"svc-{n}",
            image="img",
            status=ContainerState.RUNNING,
            event="snapshot",
            time=datetime.now(UTC),
            labels={"group": f"g{n % 10}"},
        )
        for n in range(CONTAINERS)
    ]


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread, in ns resolution (cpu_times() counts 10 ms ticks)."""
    total_ns = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total_ns += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total_ns / 1e9


def evaluation_alone(rounds: int) -> tuple[float, float]:
    """Microseconds per batch (parsed and evaluated): with 1,000 rules, with none."""
    data = batch().model_dump_json().encode()
    figures = []
    for rule_set in (rules(), []):
        evaluator = Evaluator(rule_set)
        for status in statuses():
            evaluator.container_status(status, 0.0)
        now = 1.0
        for _ in range(20):  # warm: the index filled, the alerts raised
            evaluator.docker_sample(DockerStatsSampled.model_validate_json(data), now)
            now += 2
        started = time.perf_counter()
        for _ in range(rounds):
            evaluator.docker_sample(DockerStatsSampled.model_validate_json(data), now)
            now += 2
        figures.append((time.perf_counter() - started) / rounds * 1e6)
    return figures[0], figures[1]


async def alerters(nats: NatsServer, seconds: float, interval: float) -> tuple[float, float]:
    """% of a core of the alerter with 1,000 rules, and of the one with none."""
    prefixes = {"rules": "benchrules", "baseline": "benchbase"}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    async with bus_client(nats, prefixes["rules"]) as bus:
        nats.provision(prefixes["rules"])
        nats.provision(prefixes["baseline"])
        kept = await Records.open(bus, ALERT_RULES, Rule)
        for rule in rules():
            await kept.put(rule.id, rule)
    buses = {}
    async with contextlib.AsyncExitStack() as stack:
        return await _run(nats, prefixes, processes, buses, stack, seconds, interval)


async def _run(
    nats: NatsServer,
    prefixes: dict[str, str],
    processes: dict[str, "subprocess.Popen[bytes]"],
    buses: dict[str, Bus],
    stack: contextlib.AsyncExitStack,
    seconds: float,
    interval: float,
) -> tuple[float, float]:
    try:
        for name, prefix in prefixes.items():
            env = {**os.environ, **nats.service_env(ServiceRole.ALERTER, prefix)}
            env["VIGIL_ALERTER_DEFAULT_RULES"] = "false"  # the baseline holds no rule at all
            processes[name] = subprocess.Popen(  # noqa: ASYNC220 (started once, not awaited)
                [sys.executable, "-m", "vigil_alerter"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        for name, prefix in prefixes.items():
            buses[name] = await stack.enter_async_context(bus_client(nats, prefix))
        await asyncio.sleep(5)  # both connected, rules read
        for bus in buses.values():
            for status in statuses():
                subject = bus.subjects.docker_status(HOST, status.id)
                await bus.nc.publish(subject, status.model_dump_json().encode())
        data = batch().model_dump_json().encode()
        for _ in range(3):  # the lease taken, the index filled
            for bus in buses.values():
                await bus.nc.publish(bus.subjects.docker_metrics(HOST), data)
            await asyncio.sleep(interval)
        before = {name: cpu_seconds(p.pid) for name, p in processes.items()}
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            beat = time.monotonic()
            for bus in buses.values():
                await bus.nc.publish(bus.subjects.docker_metrics(HOST), data)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - beat)))
        elapsed = time.monotonic() - started
        used = {name: cpu_seconds(p.pid) - before[name] for name, p in processes.items()}
        stored = await buses["rules"].js.stream_info(ALERTS.stream(buses["rules"].subjects))
        print(f"  (alerts the rules raised, proof they ran: {stored.state.messages})")
        return used["rules"] / elapsed * 100, used["baseline"] / elapsed * 100
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with_rules, without = evaluation_alone(args.rounds)
    per_interval = (with_rules - without) / (args.interval * 1e6) * 100
    print("evaluation alone (this process): one batch of 100 containers, parsed and evaluated")
    print(f"  1,000 rules: {with_rules:8.0f} us   no rules: {without:8.0f} us")
    print(
        f"  the rules' own cost: {with_rules - without:.0f} us per batch = "
        f"{per_interval:.2f} % of a core at one batch per {args.interval:g} s "
        f"(ratio {with_rules / without:.2f}x)"
    )

    with tempfile.TemporaryDirectory() as store:
        nats = NatsServer(Path(store) / "nats")
        nats.start()
        try:
            rules_cpu, base_cpu = asyncio.run(alerters(nats, args.seconds, args.interval))
        finally:
            nats.stop()
    print(f"alerter processes, {args.seconds:g} s of a batch every {args.interval:g} s:")
    print(f"  1,000 rules: {rules_cpu:.2f} % of a core   no rules: {base_cpu:.2f} %")
    added = rules_cpu - base_cpu
    ratio = rules_cpu / base_cpu if base_cpu else float("nan")
    print(f"  the rules add {added:.2f} % of a core (ratio {ratio:.2f}x)")
    print(f"  target: <= {TARGET_PERCENT} % of a core")


if __name__ == "__main__":
    main()
