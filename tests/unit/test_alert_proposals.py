"""Actions rules propose: which fit which target (the rest refused, naming the field),
and the concrete proposal a raised alert carries — the container to restart or whose
service's last deploy to roll back, or the Deployment or StatefulSet of a pod to scale —
fresh at each raising, none resolved."""

import argparse
from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.test_rule_evaluation import BUSY, HOST, WEB, rule, sample, stats
from vigil.messages import AlertState, ProposedAction, RuleDraft
from vigil_alerter.evaluation import Evaluator
from vigil_alerter.proposing import proposed
from vigil_alerter.targets import PodFacts
from vigil_cli.commands import alerts
from vigil_cli.commands.alert_rules import draft_of
from vigil_cli.errors import CliError

CRASH_LOOP = {"kind": "status", "event": "crash_loop"}


@pytest.mark.parametrize(
    ("draft", "named"),
    [
        (
            {"target": {"kind": "host"}, "condition": BUSY, "propose": {"action": "restart"}},
            "propose.action: a host rule may propose nothing, not restart",
        ),
        (
            {
                "target": {"kind": "container"},
                "condition": BUSY,
                "propose": {"action": "scale", "replicas": 2},
            },
            "propose.action: a container rule may propose restart or rollback, not scale",
        ),
        (
            {"target": {"kind": "pod"}, "condition": CRASH_LOOP, "propose": {"action": "rollback"}},
            "propose.action: a pod rule may propose scale, not rollback",
        ),
        (
            {"target": {"kind": "host"}, "condition": BUSY, "propose": {"action": "rollback"}},
            "propose.action: a host rule may propose nothing, not rollback",
        ),
        (
            {"target": {"kind": "pod"}, "condition": CRASH_LOOP, "propose": {"action": "restart"}},
            "propose.action: a pod rule may propose scale, not restart",
        ),
        (
            {"target": {"kind": "pod"}, "condition": CRASH_LOOP, "propose": {"action": "scale"}},
            "propose.replicas: scale needs it",
        ),
        (
            {
                "target": {"kind": "container"},
                "condition": BUSY,
                "propose": {"action": "restart", "replicas": 1},
            },
            "propose.replicas: scale needs it, and only scale takes it",
        ),
        (
            {
                "target": {"kind": "container"},
                "condition": {"kind": "stale", "after_s": 60},
                "propose": {"action": "restart"},
            },
            "propose: a stale condition is of a whole source",
        ),
        (
            {"target": {"kind": "container"}, "condition": BUSY, "propose": {"action": "delete"}},
            "propose.action",
        ),
        (
            {
                "target": {"kind": "pod"},
                "condition": CRASH_LOOP,
                "propose": {"action": "scale", "replicas": -1},
            },
            "propose.replicas",
        ),
    ],
)
def test_a_proposal_that_does_not_fit_the_rule_is_refused_naming_why(
    draft: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        RuleDraft.model_validate({"name": "bad", **draft})
    assert named in str(refused.value)


@pytest.mark.parametrize(
    ("action", "described"),
    [
        ("restart", f"restart container web-1 on {HOST}"),
        ("rollback", f"roll back the last deploy of web-1 on {HOST}"),
    ],
)
def test_a_container_rules_alert_proposes_acting_on_that_container_once_per_raising(
    action: str, described: str
) -> None:
    evaluator = Evaluator(
        [
            rule(
                "busy",
                target={"kind": "container", "name": "web*"},
                condition=BUSY,
                propose={"action": action},
            )
        ]
    )
    hot, cool = sample(stats(WEB, "web-1", 95)), sample(stats(WEB, "web-1", 5))
    [raised] = evaluator.docker_sample(hot, 100)
    assert raised.state is AlertState.RAISED
    proposal = raised.proposal
    assert proposal is not None
    assert (proposal.action, proposal.host, proposal.container, proposal.name) == (
        action,
        HOST,
        WEB,
        "web-1",
    )
    assert proposal.done is None
    assert f"proposed: {described}" in raised.message
    assert raised.model_dump(mode="json")["proposal"]["container"] == WEB  # on the wire

    [resolved] = evaluator.docker_sample(cool, 102)
    assert resolved.state is AlertState.RESOLVED
    assert resolved.proposal is None
    assert "proposal" not in resolved.model_dump(mode="json")

    [again] = evaluator.docker_sample(hot, 104)
    assert again.proposal is not None
    assert again.proposal.id != proposal.id  # a new raising, a new proposal: confirmable anew


def test_a_rule_without_a_proposal_proposes_nothing() -> None:
    evaluator = Evaluator([rule("busy", target={"kind": "container"}, condition=BUSY)])
    [raised] = evaluator.docker_sample(sample(stats(WEB, "web-1", 95)), 100)
    assert raised.proposal is None
    assert "proposal" not in raised.model_dump(mode="json")


def pod(owner_kind: str | None, owner_name: str | None, **labels: str) -> PodFacts:
    facts = PodFacts("c1", "shop", "web-5d8f9-x2x7k", labels=dict(labels))
    facts.owner_kind, facts.owner_name = owner_kind, owner_name
    return facts


SCALE = rule(
    "crashing",
    target={"kind": "pod", "namespace": "shop"},
    condition=CRASH_LOOP,
    propose={"action": "scale", "replicas": 0},
)


def scaled(found: ProposedAction | None) -> tuple[object, ...] | None:
    if found is None:
        return None
    return (found.cluster, found.namespace, found.kind, found.name, found.replicas)


def test_a_pod_rules_alert_proposes_scaling_the_workload_that_owns_the_pod() -> None:
    deployment_pod = pod("ReplicaSet", "web-5d8f9", **{"pod-template-hash": "5d8f9"})
    assert scaled(proposed(SCALE, deployment_pod)) == ("c1", "shop", "deployment", "web", 0)
    stateful_pod = pod("StatefulSet", "db")
    assert scaled(proposed(SCALE, stateful_pod)) == ("c1", "shop", "statefulset", "db", 0)
    found = proposed(SCALE, deployment_pod)
    assert found is not None
    assert found.describe() == "scale deployment shop/web in c1 to 0 replicas"

    # nothing a scale could act on: no proposal rather than a guess
    assert proposed(SCALE, pod(None, None)) is None  # a bare pod
    assert proposed(SCALE, pod("Job", "backup")) is None
    assert proposed(SCALE, pod("ReplicaSet", "web-5d8f9")) is None  # not a Deployment's
    assert proposed(SCALE, pod("ReplicaSet", "web-1", **{"pod-template-hash": "5d8f9"})) is None


def cli_rule(*flags: str) -> RuleDraft:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    alerts.add_parser(commands)
    return draft_of(parser.parse_args(["alerts", "rules", "add", "r", *flags]))


def test_the_cli_says_a_rules_proposal_with_propose() -> None:
    restart = cli_rule("--container", "web-*", "--metric", "cpu_percent", "--above", "90",
                       "--propose", "restart")  # fmt: skip
    assert restart.propose is not None
    assert (restart.propose.action, restart.propose.replicas) == ("restart", None)
    rollback = cli_rule("--container", "web-*", "--status", "restart_loop", "--propose", "rollback")
    assert rollback.propose is not None
    assert (rollback.propose.action, rollback.propose.replicas) == ("rollback", None)
    scale = cli_rule("--namespace", "shop", "--status", "crash_loop", "--propose", "scale=0")
    assert scale.propose is not None
    assert (scale.propose.action, scale.propose.replicas) == ("scale", 0)
    with pytest.raises(CliError, match="restart or rollback \\(containers\\), scale=N"):
        cli_rule("--container", "web-*", "--status", "oom_killed", "--propose", "scale")
    with pytest.raises(ValidationError, match="a container rule may propose restart or rollback"):
        cli_rule("--container", "web-*", "--status", "oom_killed", "--propose", "scale=1")
