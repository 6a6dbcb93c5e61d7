"""Real parts for the alerter's tests and bench: the alerter as a task, rules made on
the bus as the gateway would make them, samples published as a collector would."""

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from tests.deploy_support import TEST_HOST
from tests.docker_engine import docker
from tests.support import NatsServer, running
from vigil import ctl
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.messages import (
    ContainerStats,
    CreateRule,
    DockerStatsSampled,
    Rule,
    RuleDraft,
)
from vigil.operations import Rules
from vigil_alerter.app import AlerterService, build_app
from vigil_alerter.settings import AlerterSettings

# Always true of a sleeping container: raised at its first stats sample.
CALM = {"kind": "metric", "metric": "cpu_percent", "threshold": 1000, "below": True}


def rule_proposing(name: str, action: str) -> dict[str, Any]:
    """A rule on the container `name` of the test host, raised at its first sample
    (`CALM`), whose alerts propose `action` (restart, rollback)."""
    return {
        "name": "calm",
        "target": {"kind": "container", "hosts": TEST_HOST, "name": name},
        "condition": CALM,
        "propose": {"action": action},
    }


# A test hears a change of rules, a lapsed restart window and a lease within a second;
# its rules are its own (the default host rules are seeded by the tests of them).
FAST = {"tick_s": 0.2, "lease_s": 3.0, "default_rules": False}


def alerter_settings_for(nats: NatsServer, prefix: str, **overrides: Any) -> AlerterSettings:
    values = {**nats.service(ServiceRole.ALERTER, prefix), **FAST}
    return AlerterSettings(**(values | overrides))


def run_alerter(
    settings: AlerterSettings,
) -> contextlib.AbstractAsyncContextManager[AlerterService]:
    """The alerter built by `build_app`, as a task; yields it once it evaluates."""
    return running(build_app(settings), "the alerter", 30)


async def make_rule(bus: Bus, token: str, **draft: Any) -> Rule:
    request = CreateRule(rule=RuleDraft.model_validate({"name": "rule", **draft}))
    return await ctl.call(bus, Rules.CREATE, request, token=token)


def container(container_id: str, name: str, cpu: float) -> ContainerStats:
    return ContainerStats(
        id=container_id,
        name=name,
        cpu_percent=cpu,
        memory_usage=1 << 20,
        memory_limit=1 << 30,
        network_rx=0,
        network_tx=0,
        image="img",
        state="running",
        memory_percent=0.1,
        network_rx_per_s=0,
        network_tx_per_s=0,
        block_read=0,
        block_write=0,
        pids=1,
    )


def docker_sample(host: str, *containers: ContainerStats) -> DockerStatsSampled:
    return DockerStatsSampled(
        host=host, time=datetime.now(UTC), interval_s=1.0, containers=list(containers)
    )


def restarts(name: str, since: int) -> list[str]:
    """The engine's `restart` events of the container from `since` (epoch s) until now."""
    listed = docker(
        "events",
        "--since",
        str(since),
        "--until",
        str(int(time.time()) + 1),
        "--filter",
        f"container={name}",
        "--filter",
        "event=restart",
        "--format",
        "{{.Action}}",
    )
    return listed.split()


def started_at(name: str) -> str:
    return docker("inspect", "-f", "{{.State.StartedAt}}", name).strip()
