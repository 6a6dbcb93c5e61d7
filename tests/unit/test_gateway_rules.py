"""Rules on the gateway itself, without a bus: a replica's sample of itself (`Sampler`)
read by metric conditions, a replica gone silent is stale, one that stops cleanly is
forgotten; the default gateway rules; bad gateway rules refused naming the field."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.test_rule_evaluation import rule
from vigil.messages import AlertState, GatewaySampled, RuleDraft
from vigil_alerter.defaults import default_rules
from vigil_alerter.evaluation import Evaluator
from vigil_gateway.replica.sampling import Sampler

SOCKETS_OVER_2 = {
    "target": {"kind": "gateway", "replicas": "gw-*"},
    "condition": {"kind": "metric", "metric": "sockets", "threshold": 2},
}


def sampled(replica: str = "gw-1", sockets: int = 0, **figures: Any) -> GatewaySampled:
    values = {"max_sockets": 10, "sockets_percent": sockets * 10.0, "send_failures_per_s": 0.0}
    return GatewaySampled(
        replica=replica,
        time=datetime.now(UTC),
        interval_s=5,
        sockets=sockets,
        **(values | figures),
    )


def test_a_replica_samples_its_sockets_against_the_limit_and_its_failed_sends_per_second() -> None:
    sampler = Sampler("gw-1", max_sockets=200)
    first = sampler.sample(sockets=10, send_failures_total=7, now=100.0)
    assert (first.sockets_percent, first.send_failures_per_s, first.leaving) == (5.0, 0.0, False)
    second = sampler.sample(sockets=150, send_failures_total=57, now=105.0)
    assert (second.replica, second.max_sockets, second.interval_s) == ("gw-1", 200, 5.0)
    assert (second.sockets_percent, second.send_failures_per_s) == (75.0, 10.0)
    assert sampler.sample(0, 57, 110.0, leaving=True).leaving


def test_a_sockets_rule_raises_naming_the_replica_the_figure_and_the_limit() -> None:
    evaluator = Evaluator([rule("socks", **SOCKETS_OVER_2)])
    assert evaluator.gateway_sample(sampled(sockets=2), 0) == []
    assert evaluator.gateway_sample(sampled("other", sockets=9), 0) == []  # not its glob
    [raised] = evaluator.gateway_sample(sampled(sockets=3), 1)
    assert raised.id == "rule:socks:gateway:gw-1"
    assert (raised.state, raised.host, raised.metric) == (AlertState.RAISED, "gw-1", "sockets")
    assert (raised.value, raised.threshold) == (3, 2)
    assert raised.message == "socks: sockets of gateway gw-1 is 3, over 2"
    [resolved] = evaluator.gateway_sample(sampled(sockets=1), 2)
    assert (resolved.state, resolved.id) == (AlertState.RESOLVED, raised.id)


def test_a_silent_replica_goes_stale_and_one_that_leaves_is_forgotten() -> None:
    stale = {"kind": "stale", "after_s": 10}
    evaluator = Evaluator([rule("quiet", target={"kind": "gateway"}, condition=stale)])
    evaluator.gateway_sample(sampled("gw-1"), 0)
    evaluator.gateway_sample(sampled("gw-2"), 0)
    assert evaluator.tick(5) == []
    evaluator.gateway_sample(sampled("gw-2"), 8)
    [raised] = evaluator.tick(11)  # gw-2 spoke again in time; gw-1 did not
    assert evaluator.tick(12) == []
    assert raised.id == "rule:quiet:stale:gateway:gw-1"
    assert raised.message == "quiet: gateway gw-1 silent for 11 s"
    [gone] = evaluator.gateway_sample(sampled("gw-1").model_copy(update={"leaving": True}), 13)
    assert (gone.id, gone.state) == (raised.id, AlertState.RESOLVED)
    evaluator.gateway_sample(sampled("gw-2").model_copy(update={"leaving": True}), 14)
    assert evaluator.tick(100) == []  # both stopped cleanly: neither is stale


def test_the_default_gateway_rules_are_the_gateways_old_thresholds() -> None:
    evaluator = Evaluator(default_rules(datetime.now(UTC)))
    raised = evaluator.gateway_sample(sampled(sockets=9, sockets_percent=95.0), 0)
    [sockets] = raised  # at once: no hold, as the gateway raised them
    assert sockets.id == "rule:defa017000000004:gateway:gw-1"
    assert (sockets.metric, sockets.value, sockets.threshold) == ("sockets_percent", 95, 90)
    busy = sampled(sockets=9, sockets_percent=95.0, send_failures_per_s=12.0)
    [failing] = evaluator.gateway_sample(busy, 1)
    assert failing.id == "rule:defa017000000005:gateway:gw-1"
    assert evaluator.gateway_sample(sampled(), 20) == []  # recovery: 30 s clear
    assert evaluator.gateway_sample(sampled(), 49) == []
    resolved = evaluator.gateway_sample(sampled(), 50)
    assert {a.id for a in resolved} == {sockets.id, failing.id}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"target": {"kind": "gateway", "replicas": "gw 1"}}, "target.gateway.replicas"),
        ({"target": {"kind": "gateway", "pods": "x"}}, "target.gateway.pods"),
        (
            {"condition": {"kind": "metric", "metric": "cpu_percent", "threshold": 1}},
            "gateway targets carry send_failures_per_s, sockets, sockets_percent",
        ),
        (
            {"condition": {"kind": "status", "event": "oom_killed"}},
            "status events are of containers and pods, not gateways",
        ),
        ({"condition": {"kind": "log", "pattern": "x"}}, "log patterns are of containers"),
        ({"propose": {"action": "restart"}}, "a gateway rule may propose nothing, not restart"),
    ],
)
def test_bad_gateway_rules_are_refused_naming_what_is_wrong(change: dict, named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RuleDraft.model_validate({"name": "r", **SOCKETS_OVER_2, **change})
    assert named in str(refused.value)
