"""Alert rules on real containers (the local engine, the real collector, the alerter): a
busy container raises its CPU rule after the hold and resolves after the recovery once
its loop stops; one held to half a CPU (`--cpus 0.5`) raises its rule against its own
limit; OOM-killed, exited non-zero and a restart loop each raise their rule,
and no other container raises anything."""

import asyncio
import time

import pytest

from tests.alerter_support import alerter_settings_for, make_rule, run_alerter
from tests.docker_engine import Containers, docker
from tests.docker_support import docker_collector, heard, next_that
from tests.support import NatsServer, bus_client, run_collector, wait_for
from vigil.messages import AlertChanged, AlertSource, AlertState

HOST = "testhost"


@pytest.mark.alone  # spins a CPU and measures it
async def test_a_busy_container_raises_after_the_hold_and_resolves_after_recovery(
    nats_server: NatsServer, prefix: str, containers: Containers, admin_token: str
) -> None:
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.alerts(AlertSource.RULE), AlertChanged, stream=True) as alerts,
        run_alerter(alerter_settings_for(nats_server, prefix)) as alerter,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        rule = await make_rule(
            bus,
            admin_token,
            name="busy",
            target={"kind": "container", "name": f"vigil-{prefix}-busy-*"},
            condition={"kind": "metric", "metric": "cpu_percent", "threshold": 40},
            hold_s=3,
            recovery_s=3,
        )
        await wait_for(lambda: rule.id in alerter.evaluator.rules, "the rule read", 10)
        busy_id, busy = containers.run(
            "busy", "sh", "-c", "while :; do :; done & echo $! > /tmp/loop; exec sleep 3600"
        )
        containers.run("idle", "sleep", "3600")  # matches no rule: raises nothing
        started = time.monotonic()
        raised = await next_that(alerts, lambda a: True, "the busy rule raised", 30)
        assert time.monotonic() - started >= 3  # not before its hold
        assert raised.state is AlertState.RAISED
        assert raised.id == f"rule:{rule.id}:docker:{HOST}:{busy_id}"
        assert raised.value > 40
        assert busy in raised.message

        docker("exec", busy, "sh", "-c", "kill $(cat /tmp/loop)")
        stopped = time.monotonic()
        resolved = await next_that(alerts, lambda a: True, "the busy rule resolved", 30)
        assert time.monotonic() - stopped >= 3  # not before its recovery
        assert resolved.state is AlertState.RESOLVED
        assert resolved.id == raised.id


async def test_a_container_busy_at_its_own_cpu_limit_raises_its_cpu_of_limit_rule(
    nats_server: NatsServer, prefix: str, containers: Containers, admin_token: str
) -> None:
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.alerts(AlertSource.RULE), AlertChanged) as alerts,
        run_alerter(alerter_settings_for(nats_server, prefix)) as alerter,
        run_collector(docker_collector(nats_server, prefix, interval_s=1.0)),
    ):
        rule = await make_rule(
            bus,
            admin_token,
            name="at its limit",
            target={"kind": "container", "label": f"vigil.test={prefix}"},
            condition={"kind": "metric", "metric": "cpu_of_limit", "threshold": 60},
            hold_s=2,
        )
        await wait_for(lambda: rule.id in alerter.evaluator.rules, "the rule read", 10)
        busy_id, _ = containers.run(
            "halfcpu", "sh", "-c", "while :; do :; done", options=("--cpus", "0.5")
        )
        raised = await next_that(alerts, lambda a: True, "the cpu_of_limit rule raised", 30)
    assert raised.state is AlertState.RAISED
    assert raised.id == f"rule:{rule.id}:docker:{HOST}:{busy_id}"
    assert raised.metric == "cpu_of_limit"
    # a spinning shell takes a whole CPU unlimited (200 % of half a CPU): held to its limit
    assert 60 < raised.value < 130


@pytest.mark.timeout(150)
async def test_oom_non_zero_exit_and_a_restart_loop_each_raise_their_rule(
    nats_server: NatsServer, prefix: str, containers: Containers, admin_token: str
) -> None:
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.alerts(AlertSource.RULE), AlertChanged, stream=True) as alerts,
        run_alerter(alerter_settings_for(nats_server, prefix)) as alerter,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        ours = {"kind": "container", "label": f"vigil.test={prefix}"}
        rules = {
            event: await make_rule(bus, admin_token, name=event, target=ours, condition=condition)
            for event, condition in (
                ("oom_killed", {"kind": "status", "event": "oom_killed"}),
                ("exited_nonzero", {"kind": "status", "event": "exited_nonzero"}),
                (
                    "restart_loop",
                    {"kind": "status", "event": "restart_loop", "restarts": 3, "window_s": 60},
                ),
            )
        }
        await wait_for(
            lambda: set(alerter.evaluator.rules) == {r.id for r in rules.values()},
            "the rules read",
            10,
        )
        oom_id, _ = containers.run(
            "oom",
            "sh",
            "-c",
            "x=0123456789; while :; do x=$x$x; done",
            options=("--memory=8m", "--memory-swap=8m"),
        )
        exit_id, _ = containers.run("exit", "sh", "-c", "sleep 1; exit 3")
        loop_id, _ = containers.run(
            "loop", "sh", "-c", "sleep 0.3; exit 0", options=("--restart=always",)
        )
        wanted = {
            (rules["oom_killed"].id, oom_id),
            (rules["exited_nonzero"].id, exit_id),
            (rules["restart_loop"].id, loop_id),
        }
        seen: dict[tuple[str | None, str], AlertChanged] = {}
        named = {rule.id: event for event, rule in rules.items()}
        deadline = asyncio.get_running_loop().time() + 90  # an engine and a stack, 2 cores
        while not wanted <= seen.keys():
            left = deadline - asyncio.get_running_loop().time()
            missing = sorted((named[rule], container) for rule, container in wanted - seen.keys())
            alert = await next_that(alerts, lambda a: True, f"raises of {missing}", left)
            container = alert.id.rsplit(":", 1)[1]
            if alert.state is AlertState.RAISED:
                seen[(alert.rule, container)] = alert
        assert seen[(rules["exited_nonzero"].id, exit_id)].value == 3
        assert seen[(rules["restart_loop"].id, loop_id)].value >= 3
        # what each container did raised only its own rules: the exits of the loop are 0,
        # and of the OOM-killed container's, 137 (a non-zero exit too)
        raised = {(rule, container) for rule, container in seen}
        assert (rules["exited_nonzero"].id, loop_id) not in raised
        assert (rules["oom_killed"].id, exit_id) not in raised
        assert (rules["oom_killed"].id, loop_id) not in raised


async def test_a_log_pattern_seen_enough_times_raises_its_rule(
    nats_server: NatsServer, prefix: str, containers: Containers, admin_token: str
) -> None:
    settings = alerter_settings_for(nats_server, prefix, log_lease_s=3.0)
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.alerts(AlertSource.RULE), AlertChanged, stream=True) as alerts,
        run_alerter(settings) as alerter,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        rule = await make_rule(
            bus,
            admin_token,
            name="boom",
            target={"kind": "container", "label": f"vigil.test={prefix}"},
            condition={"kind": "log", "pattern": r"ERROR boom \d+", "count": 5, "window_s": 60},
        )
        await wait_for(lambda: rule.id in alerter.evaluator.rules, "the rule read", 10)
        quiet_id, _ = containers.run("quiet", "sh", "-c", "while :; do echo fine; sleep 0.2; done")
        loud_id, loud = containers.run(
            "loud", "sh", "-c", 'i=0; while :; do echo "ERROR boom $i"; i=$((i+1)); sleep 0.2; done'
        )
        raised = await next_that(alerts, lambda a: True, "the log rule raised", 30)
        assert raised.id == f"rule:{rule.id}:docker:{HOST}:{loud_id}"
        assert raised.metric == "log"
        assert raised.value >= 5
        assert loud in raised.message
        assert quiet_id not in raised.id
