"""A host's CPU or memory alert names its busiest containers (the alerter's
`culprits`), with a real engine: a container spinning a CPU is the first culprit of the
default CPU rule's alert, and said in the alert's message; the default memory rule's
names the largest, largest first. The default rules are edited down to 0 % and no hold,
as an operator may edit them, so that the test's host crosses them at once."""

import pytest

from tests.alerter_support import alerter_settings_for, run_alerter
from tests.docker_engine import Containers
from tests.docker_support import docker_collector, heard, next_that
from tests.support import NatsServer, bus_client, run_collector, wait_for
from vigil.messages import AlertChanged, AlertSource, AlertState, MetricCondition, Rule
from vigil.records import Records
from vigil.streams import ALERT_RULES
from vigil_alerter.defaults import MARKERS

HOST = "testhost"
CPU, MEMORY = "defa017000000001", "defa017000000002"  # the default rules' ids


@pytest.mark.alone  # spins a CPU and measures it
async def test_the_default_cpu_rule_names_the_spinning_container_and_memory_the_largest(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    _, busy = containers.run("busy", "sh", "-c", "while :; do :; done")
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.alerts(AlertSource.RULE), AlertChanged) as alerts,
        run_alerter(alerter_settings_for(nats_server, prefix, default_rules=True)) as alerter,
        run_collector(docker_collector(nats_server, prefix, interval_s=2.0)),
    ):
        rules = await Records.open(bus, ALERT_RULES, Rule, MARKERS)
        for rule_id in (CPU, MEMORY):
            await rules.mutate(rule_id, _at_once)
        await wait_for(
            lambda: all(alerter.evaluator.rules[r].hold_s == 0 for r in (CPU, MEMORY)),
            "the edited rules read",
            10,
        )
        raised: dict[str, AlertChanged] = {}
        while len(raised) < 2:  # raised at the same host sample, in either order
            alert = await next_that(
                alerts,
                lambda a: a.rule in (CPU, MEMORY) and a.threshold == 0,
                "the CPU and memory alerts",
                30,
            )
            raised[alert.metric] = alert
    cpu, memory = raised["cpu_percent"], raised["memory_percent"]

    assert cpu.state is AlertState.RAISED
    assert cpu.id == f"rule:{CPU}:host:{HOST}"
    assert cpu.culprits is not None
    containers_named = [c for c in cpu.culprits if c.kind == "container"]
    processes_named = [c for c in cpu.culprits if c.kind == "process"]
    # the collector reads this host's /proc: the spinning shell is among its busiest
    assert 1 <= len(processes_named) <= 3
    assert any(p.name == "sh" and p.cpu_percent > 10 for p in processes_named)
    assert f"sh (pid {next(p.id for p in processes_named if p.name == 'sh')})" in cpu.message
    cpu = cpu.model_copy(update={"culprits": containers_named})
    assert 1 <= len(cpu.culprits) <= 3
    first = cpu.culprits[0]
    assert first.name == busy
    assert first.cpu_percent > 10  # a spinning shell, whatever else shares the machine
    assert [c.cpu_percent for c in cpu.culprits] == sorted(
        (c.cpu_percent for c in cpu.culprits), reverse=True
    )
    assert f"busiest: {busy} " in cpu.message
    assert memory.culprits is not None
    sizes = [c.memory_bytes for c in memory.culprits if c.kind == "container"]
    assert sizes == sorted(sizes, reverse=True)
    assert " MiB" in memory.message


def _at_once(rule: Rule) -> Rule:
    assert isinstance(rule.condition, MetricCondition)
    condition = rule.condition.model_copy(update={"threshold": 0.0})
    return rule.model_copy(update={"condition": condition, "hold_s": 0.0})
