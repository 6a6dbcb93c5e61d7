"""Alert rules, evaluated without a bus: targets matched by glob, label and id; hold,
recovery and cooldown; status events; sources gone quiet; bad rules refused naming the
field."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from tests.support import host_sample
from vigil.messages import (
    AlertState,
    ContainerState,
    ContainerStats,
    ContainerStatusChanged,
    DockerStatsSampled,
    LogBatch,
    LogLine,
    Rule,
    RuleDraft,
)
from vigil_alerter.defaults import default_rules
from vigil_alerter.evaluation import Evaluator

HOST = "h1"
WEB = "aaaaaaaaaaaa"
DB = "bbbbbbbbbbbb"


def rule(rule_id: str, **draft: Any) -> Rule:
    values = {"name": rule_id, **draft}
    return Rule(
        **RuleDraft.model_validate(values).model_dump(),
        id=rule_id,
        created_by="test",
        created_at=datetime.now(UTC),
    )


def stats(
    container: str,
    name: str,
    cpu: float,
    memory: int = 100,
    limit: int = 1000,
    cpu_limit: float | None = None,
) -> ContainerStats:
    return ContainerStats(
        id=container,
        name=name,
        cpu_percent=cpu,
        memory_usage=memory,
        memory_limit=limit,
        network_rx=0,
        network_tx=0,
        image="img",
        state="running",
        memory_percent=memory / limit * 100,
        network_rx_per_s=0,
        network_tx_per_s=0,
        block_read=0,
        block_write=0,
        pids=1,
        cpu_limit=cpu_limit,
    )


def sample(*containers: ContainerStats) -> DockerStatsSampled:
    return DockerStatsSampled(
        host=HOST, time=datetime.now(UTC), interval_s=2, containers=list(containers)
    )


def status(
    container: str, name: str, state: ContainerState, event: str, **more: Any
) -> ContainerStatusChanged:
    return ContainerStatusChanged(
        host=HOST,
        id=container,
        name=name,
        image="img",
        status=state,
        event=event,
        time=datetime.now(UTC),
        **more,
    )


BUSY = {"kind": "metric", "metric": "cpu_percent", "threshold": 80}


def test_a_busy_container_is_raised_after_the_hold_and_resolved_after_recovery() -> None:
    evaluator = Evaluator(
        [
            rule(
                "busy",
                target={"kind": "container", "name": "web*"},
                condition=BUSY,
                hold_s=4,
                recovery_s=6,
                severity="critical",
                labels={"team": "web"},
            )
        ]
    )
    hot = sample(stats(WEB, "web-1", 95), stats(DB, "db", 99))
    assert evaluator.docker_sample(hot, 100) == []
    assert evaluator.docker_sample(hot, 102) == []
    [raised] = evaluator.docker_sample(hot, 104)
    assert raised.state is AlertState.RAISED
    assert raised.id == f"rule:busy:docker:{HOST}:{WEB}"
    assert (raised.rule, raised.severity, raised.labels) == ("busy", "critical", {"team": "web"})
    assert raised.source == "rule"
    assert raised.value == 95
    assert raised.threshold == 80
    assert "web-1" in raised.message
    assert evaluator.docker_sample(hot, 106) == []  # raised once

    cool = sample(stats(WEB, "web-1", 5))
    assert evaluator.docker_sample(cool, 108) == []
    assert evaluator.docker_sample(hot, 110) == []  # a spike within recovery: still raised
    assert evaluator.docker_sample(cool, 112) == []
    assert evaluator.docker_sample(cool, 116) == []
    [resolved] = evaluator.docker_sample(cool, 118)
    assert resolved.state is AlertState.RESOLVED
    assert resolved.id == raised.id


def test_a_dip_shorter_than_the_hold_raises_nothing() -> None:
    evaluator = Evaluator([rule("r", target={"kind": "container"}, condition=BUSY, hold_s=5)])
    hot, cool = sample(stats(WEB, "web", 95)), sample(stats(WEB, "web", 5))
    for now, which in ((0, hot), (2, hot), (4, cool), (6, hot), (8, hot)):
        assert evaluator.docker_sample(which, now) == []


def test_cooldown_keeps_a_resolved_alert_down_for_a_while() -> None:
    evaluator = Evaluator([rule("r", target={"kind": "container"}, condition=BUSY, cooldown_s=30)])
    hot, cool = sample(stats(WEB, "web", 95)), sample(stats(WEB, "web", 5))
    assert [a.state for a in evaluator.docker_sample(hot, 0)] == [AlertState.RAISED]
    assert [a.state for a in evaluator.docker_sample(cool, 2)] == [AlertState.RESOLVED]
    assert evaluator.docker_sample(hot, 10) == []
    assert [a.state for a in evaluator.docker_sample(hot, 33)] == [AlertState.RAISED]


def test_containers_are_chosen_by_label_and_by_id() -> None:
    by_label = rule("lab", target={"kind": "container", "label": "tier=db"}, condition=BUSY)
    by_id = rule("id", target={"kind": "container", "id": WEB + "0" * 52}, condition=BUSY)
    evaluator = Evaluator([by_label, by_id])
    evaluator.container_status(
        status(DB, "db", ContainerState.RUNNING, "start", labels={"tier": "db"}), 0
    )
    raised = evaluator.docker_sample(sample(stats(WEB, "web", 95), stats(DB, "db", 95)), 1)
    assert sorted(a.id for a in raised) == [
        f"rule:id:docker:{HOST}:{WEB}",
        f"rule:lab:docker:{HOST}:{DB}",
    ]


def test_memory_against_the_containers_own_limit() -> None:
    condition = {"kind": "metric", "metric": "memory_of_limit", "threshold": 90}
    evaluator = Evaluator([rule("mem", target={"kind": "container"}, condition=condition)])
    [raised] = evaluator.docker_sample(sample(stats(WEB, "web", 0, memory=950, limit=1000)), 0)
    assert raised.value == pytest.approx(95.0)


def test_cpu_against_the_containers_own_limit_and_none_without_one() -> None:
    condition = {"kind": "metric", "metric": "cpu_of_limit", "threshold": 80}
    evaluator = Evaluator([rule("cpu", target={"kind": "container"}, condition=condition)])
    batch = sample(
        stats(WEB, "web", 45.0, cpu_limit=0.5),  # 45 % of one CPU: 90 % of its half CPU
        stats(DB, "db", 300.0),  # three CPUs, but no limit: not evaluated
    )
    [raised] = evaluator.docker_sample(batch, 0)
    assert raised.id == f"rule:cpu:docker:{HOST}:{WEB}"
    assert raised.value == pytest.approx(90.0)
    [resolved] = evaluator.docker_sample(sample(stats(WEB, "web", 45.0, cpu_limit=2.0)), 1)
    assert (resolved.state, resolved.value) == (AlertState.RESOLVED, pytest.approx(22.5))


def test_a_host_cpu_alert_names_the_busiest_containers_of_the_hosts_latest_batch() -> None:
    cpu = {"kind": "metric", "metric": "cpu_percent", "threshold": 90}
    disk = {"kind": "metric", "metric": "disk_percent", "threshold": 90}
    evaluator = Evaluator(
        [
            rule("cpu", target={"kind": "host"}, condition=cpu),
            rule("disk", target={"kind": "host"}, condition=disk),
        ]
    )
    evaluator.docker_sample(sample(stats(WEB, "web", 20.0), stats(DB, "db", 150.0)), 0)
    raised = evaluator.host_sample(host_sample(cpu=95, disks={"/": 99}), 1)
    by_rule = {alert.rule: alert for alert in raised}
    assert [c.name for c in by_rule["cpu"].culprits or []] == ["db", "web"]
    assert by_rule["cpu"].message.endswith("busiest: db 150%, web 20%")
    assert by_rule["disk"].culprits is None  # a disk names no one
    evaluator.drop_source(f"host:{HOST}")  # another replica's now: its batch forgotten
    evaluator.set_rules([rule("cpu2", target={"kind": "host"}, condition=cpu)], 2)
    [again] = evaluator.host_sample(host_sample(cpu=95), 3)
    assert again.culprits is None


def test_the_default_host_rules_hold_30_s_over_90_percent_as_the_collector_did() -> None:
    evaluator = Evaluator(default_rules(datetime.now(UTC)))
    assert evaluator.host_sample(host_sample(cpu=95, memory=50, disks={"/": 99}), 0) == []
    assert evaluator.host_sample(host_sample(cpu=20, memory=50, disks={"/": 99}), 20) == []
    raised = evaluator.host_sample(host_sample(cpu=95, memory=50, disks={"/": 99}), 30)
    [disk] = raised  # the spike of CPU was shorter than the hold
    assert disk.id == f"rule:defa017000000003:host:{HOST}"
    assert (disk.metric, disk.threshold, disk.value) == ("disk_percent", 90, 99)
    [cpu] = evaluator.host_sample(host_sample(cpu=95, memory=50, disks={"/": 99}), 60)
    assert cpu.id == f"rule:defa017000000001:host:{HOST}"
    assert evaluator.host_sample(host_sample(cpu=10, memory=50, disks={"/": 10}), 70) == []
    resolved = evaluator.host_sample(host_sample(cpu=10, memory=50, disks={"/": 10}), 100)
    assert {a.id: a.state for a in resolved} == {
        cpu.id: AlertState.RESOLVED,
        disk.id: AlertState.RESOLVED,
    }


def test_status_events_raise_and_running_again_resolves() -> None:
    target = {"kind": "container", "name": "job"}
    evaluator = Evaluator(
        [
            rule("exit", target=target, condition={"kind": "status", "event": "exited_nonzero"}),
            rule("oom", target=target, condition={"kind": "status", "event": "oom_killed"}),
            rule("sick", target=target, condition={"kind": "status", "event": "unhealthy"}),
        ]
    )
    running = ContainerState.RUNNING
    assert evaluator.container_status(status(WEB, "job", running, "start"), 0) == []
    [oom] = evaluator.container_status(status(WEB, "job", running, "oom"), 1)
    assert oom.rule == "oom"
    assert oom.state is AlertState.RAISED
    [died] = evaluator.container_status(
        status(WEB, "job", ContainerState.EXITED, "die", exit_code=137), 1
    )
    assert died.rule == "exit"
    assert died.value == 137
    again = evaluator.container_status(status(WEB, "job", running, "start"), 5)
    assert sorted((a.rule, a.state) for a in again) == [
        ("exit", AlertState.RESOLVED),
        ("oom", AlertState.RESOLVED),
    ]
    [sick] = evaluator.container_status(
        status(WEB, "job", running, "health_status", health="unhealthy"), 6
    )
    assert sick.rule == "sick"
    clean = evaluator.container_status(
        status(WEB, "job", ContainerState.EXITED, "die", exit_code=0), 7
    )
    assert [(a.rule, a.state) for a in clean] == [("sick", AlertState.RESOLVED)]


def test_a_restart_loop_raises_and_its_window_passing_resolves() -> None:
    condition = {"kind": "status", "event": "restart_loop", "restarts": 3, "window_s": 60}
    evaluator = Evaluator([rule("loop", target={"kind": "container"}, condition=condition)])
    died = status(WEB, "web", ContainerState.EXITED, "die", exit_code=1)
    assert evaluator.container_status(died, 0) == []
    assert evaluator.container_status(died, 10) == []
    [raised] = evaluator.container_status(died, 20)
    assert raised.state is AlertState.RAISED
    assert raised.value == 3
    assert evaluator.tick(59) == []
    [resolved] = evaluator.tick(61)
    assert resolved.state is AlertState.RESOLVED


def test_a_source_gone_quiet_raises_and_speaking_again_resolves() -> None:
    evaluator = Evaluator(
        [
            rule(
                "quiet",
                target={"kind": "container", "hosts": "h*"},
                condition={"kind": "stale", "after_s": 10},
            )
        ]
    )
    evaluator.docker_sample(sample(), 0)
    assert evaluator.tick(9) == []
    [raised] = evaluator.tick(11)
    assert raised.state is AlertState.RAISED
    assert raised.metric == "stale"
    evaluator.docker_sample(sample(), 12)
    [resolved] = evaluator.tick(13)
    assert resolved.state is AlertState.RESOLVED


def test_a_rule_removed_resolves_its_alerts() -> None:
    busy = rule("r", target={"kind": "container"}, condition=BUSY)
    evaluator = Evaluator([busy])
    evaluator.docker_sample(sample(stats(WEB, "web", 95)), 0)
    [resolved] = evaluator.set_rules([], 1)
    assert resolved.state is AlertState.RESOLVED
    assert resolved.id == f"rule:r:docker:{HOST}:{WEB}"


def test_a_removed_container_resolves_its_alerts() -> None:
    evaluator = Evaluator([rule("r", target={"kind": "container"}, condition=BUSY)])
    evaluator.docker_sample(sample(stats(WEB, "web", 95)), 0)
    [resolved] = evaluator.container_status(
        status(WEB, "web", ContainerState.REMOVED, "destroy"), 1
    )
    assert resolved.state is AlertState.RESOLVED


@pytest.mark.parametrize(
    ("draft", "named"),
    [
        (
            {
                "target": {"kind": "container"},
                "condition": {"kind": "metric", "metric": "load_1", "threshold": 1},
            },
            "condition.metric: container targets carry",
        ),
        (
            {"target": {"kind": "host"}, "condition": {"kind": "status", "event": "oom_killed"}},
            "status events are of containers and pods",
        ),
        (
            {"target": {"kind": "container", "name": "web.*[a-z]+"}, "condition": BUSY},
            "target.container.name",
        ),
        (
            {"target": {"kind": "container", "label": "a b"}, "condition": BUSY},
            "target.container.label",
        ),
        ({"target": {"kind": "container", "id": "XYZ"}, "condition": BUSY}, "target.container.id"),
        ({"target": {"kind": "vm"}, "condition": BUSY}, "target"),
        ({"target": {"kind": "host"}, "condition": {**BUSY, "threshold": -1}}, "threshold"),
        ({"target": {"kind": "host"}, "condition": BUSY, "hold_s": -3}, "hold_s"),
        (
            {
                "target": {"kind": "pod", "workload": "Replica Set/web"},
                "condition": {"kind": "status", "event": "crash_loop"},
            },
            "target.pod.workload",
        ),
    ],
)
def test_bad_rules_are_refused_naming_the_field(draft: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RuleDraft.model_validate({"name": "bad", **draft})
    assert named in str(refused.value)


def test_a_log_pattern_seen_n_times_in_its_window_raises_and_the_window_passing_resolves() -> None:
    condition = {"kind": "log", "pattern": r"ERROR\s+\w+", "count": 3, "window_s": 60}
    evaluator = Evaluator(
        [rule("log", target={"kind": "container", "name": "web"}, condition=condition)]
    )
    evaluator.container_status(status(WEB, "web", ContainerState.RUNNING, "start"), 0)
    assert evaluator.followed_logs() == [(HOST, WEB)]

    def lines(*texts: str) -> LogBatch:
        return LogBatch(
            host=HOST,
            container=WEB,
            lines=[LogLine(time=datetime.now(UTC), stream="stdout", text=t) for t in texts],
        )

    assert evaluator.log_batch(lines("ERROR disk", "all fine", "error lower"), 1) == []
    [raised] = evaluator.log_batch(lines("ERROR again", "ERROR  twice"), 2)
    assert raised.state is AlertState.RAISED
    assert (raised.metric, raised.value, raised.threshold) == ("log", 3.0, 3.0)
    assert evaluator.tick(60) == []
    [resolved] = evaluator.tick(62)
    assert resolved.state is AlertState.RESOLVED


def test_a_log_rule_is_of_containers() -> None:
    with pytest.raises(ValidationError) as refused:
        RuleDraft.model_validate(
            {"name": "x", "target": {"kind": "host"}, "condition": {"kind": "log", "pattern": "x"}}
        )
    assert "log patterns are of containers" in str(refused.value)
