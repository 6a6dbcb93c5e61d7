"""Alert rules through the gateway (`/api/alerts/rules`) and on the bus: operators write,
viewers read and are refused writing (at the gateway, and again by the alerter); bad
rules refused 422 naming what is wrong; a rule's alerts on `alerts.rule` after its hold,
resolved after its recovery, into the ALERTS stream (what the gateway's `alerts`
channel and the notifier read); replicas sharing the sources raise each alert once; the
default rules seeded once."""

import asyncio
import contextlib

import httpx
import pytest

from tests.alerter_support import (
    alerter_settings_for,
    container,
    docker_sample,
    make_rule,
    run_alerter,
)
from tests.docker_support import heard
from tests.support import NatsServer, bearer, bus_client, user_token, wait_for
from vigil import ctl
from vigil.access import Role
from vigil.messages import (
    AlertChanged,
    AlertSource,
    AlertState,
    DeleteRule,
    DockerStatsSampled,
    ErrorCode,
    ListRules,
)
from vigil.operations import Rules
from vigil.streams import ALERT_RULES
from vigil_alerter.app import AlerterService

RULES = "/api/alerts/rules"
BUSY = {
    "name": "busy web",
    "target": {"kind": "container", "hosts": "h*", "name": "web-*"},
    "condition": {"kind": "metric", "metric": "cpu_percent", "threshold": 80},
    "hold_s": 2,
    "recovery_s": 2,
    "severity": "critical",
    "labels": {"team": "web"},
}
WEB = "0123456789ab"


async def test_operators_write_rules_and_viewers_only_read_them(
    alerter: AlerterService,
    http: httpx.AsyncClient,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
) -> None:
    async with bus_client(nats_server, prefix) as bus:
        viewer = await user_token(bus, admin_token, "vera", Role.VIEWER, [])
        operator = await user_token(bus, admin_token, "otto", Role.OPERATOR, [])

        made = await http.post(RULES, json=BUSY, headers=bearer(operator))
        assert made.status_code == 201, made.text
        rule = made.json()
        assert rule["created_by"] == "otto"
        assert rule["target"]["name"] == "web-*"

        listed = await http.get(RULES, headers=bearer(viewer))
        assert listed.status_code == 200
        assert [r["id"] for r in listed.json()["rules"]] == [rule["id"]]

        refused = await http.post(RULES, json=BUSY, headers=bearer(viewer))
        assert refused.status_code == 403
        gone = await http.delete(f"{RULES}/{rule['id']}", headers=bearer(viewer))
        assert gone.status_code == 403
        with pytest.raises(ctl.Refused) as again:  # the alerter checks the role itself
            await make_rule(bus, viewer, **BUSY)
        assert again.value.code is ErrorCode.FORBIDDEN

        deleted = await http.delete(f"{RULES}/{rule['id']}", headers=bearer(operator))
        assert deleted.status_code == 200
        assert deleted.json()["id"] == rule["id"]
        missing = await http.delete(f"{RULES}/{rule['id']}", headers=bearer(operator))
        assert missing.status_code == 404
        left = await ctl.call(bus, Rules.LIST, ListRules(), token=viewer)
        assert left.rules == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            {"condition": {"kind": "metric", "metric": "load_1", "threshold": 1}},
            "condition.metric: container targets carry",
        ),
        ({"target": {"kind": "container", "name": "web[0-9]+"}}, "name"),
        ({"target": {"kind": "container", "label": "two words"}}, "label"),
        (
            {"target": {"kind": "host"}, "condition": {"kind": "status", "event": "oom_killed"}},
            "status events are of containers and pods",
        ),
        ({"target": {"kind": "gateway", "replicas": "gw 1"}}, '"target","gateway","replicas"'),
        ({"target": {"kind": "gateway", "hosts": "h1"}}, '"target","gateway","hosts"'),
        ({"target": {"kind": "gateway"}}, "gateway targets carry send_failures_per_s, sockets"),
        ({"target": {"kind": "router"}}, "'host', 'container', 'pod', 'gateway'"),
        ({"hold_s": -1}, "hold_s"),
        (
            {"propose": {"action": "scale", "replicas": 2}},
            "a container rule may propose restart or rollback, not scale",
        ),
        ({"severity": "apocalyptic"}, "severity"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_bad_rules_are_refused_naming_what_is_wrong(
    alerter: AlerterService, http: httpx.AsyncClient, admin_token: str, change: dict, named: str
) -> None:
    answer = await http.post(RULES, json=BUSY | change, headers=bearer(admin_token))
    assert answer.status_code == 422, answer.text
    assert named in answer.text


async def test_a_log_pattern_re2_cannot_run_is_refused_saying_why(
    alerter: AlerterService, http: httpx.AsyncClient, admin_token: str
) -> None:
    rule = BUSY | {"condition": {"kind": "log", "pattern": r"(a+)\1", "count": 2}}
    answer = await http.post(RULES, json=rule, headers=bearer(admin_token))
    assert answer.status_code == 422, answer.text
    assert "rule.condition.pattern" in answer.text
    assert "backreferences" in answer.text


async def test_a_rule_raises_after_its_hold_and_resolves_after_recovery_once_across_replicas(
    nats_server: NatsServer, prefix: str, admin_token: str
) -> None:
    settings = alerter_settings_for(nats_server, prefix)
    async with (
        bus_client(nats_server, prefix) as bus,
        run_alerter(settings) as first,
        run_alerter(settings) as second,
        heard(bus, bus.subjects.alerts(AlertSource.RULE), AlertChanged, stream=True) as alerts,
    ):
        rule = await make_rule(bus, admin_token, **BUSY)
        await wait_for(
            lambda: all(rule.id in a.evaluator.rules for a in (first, second)), "the rule read", 10
        )
        hot = docker_sample("h1", container(WEB, "web-1", 95), container("ba9876543210", "db", 99))
        cool = docker_sample("h1", container(WEB, "web-1", 3))
        loop = asyncio.get_running_loop()
        started = loop.time()
        raised = None
        while raised is None:
            await bus.nc.publish(bus.subjects.docker_metrics("h1"), hot.model_dump_json().encode())
            await asyncio.sleep(0.2)  # the collector's beat, faster
            if not alerts.empty():
                raised = alerts.get_nowait()
            assert loop.time() - started < 15, "no alert raised"
        assert loop.time() - started >= 2  # not before the hold
        assert raised.state is AlertState.RAISED
        assert raised.id == f"rule:{rule.id}:docker:h1:{WEB}"
        assert (raised.severity, raised.labels, raised.host) == ("critical", {"team": "web"}, "h1")

        for _ in range(10):  # more hot samples: still one raise, from one replica
            await bus.nc.publish(bus.subjects.docker_metrics("h1"), hot.model_dump_json().encode())
            await asyncio.sleep(0.1)
        await bus.nc.flush()
        holders = [a for a in (first, second) if a.sources and "host:h1" in a.sources.held]
        assert len(holders) == 1
        calm_from = loop.time()
        resolved = None
        while resolved is None:
            await bus.nc.publish(bus.subjects.docker_metrics("h1"), cool.model_dump_json().encode())
            await asyncio.sleep(0.2)
            while not alerts.empty():
                seen = alerts.get_nowait()
                assert seen.state is AlertState.RESOLVED, f"raised twice: {seen}"
                resolved = seen
            assert loop.time() - calm_from < 15, "not resolved"
        assert loop.time() - calm_from >= 2  # not before the recovery
        assert resolved.id == raised.id


async def test_a_replica_that_takes_a_source_over_resolves_what_the_last_one_raised(
    nats_server: NatsServer, prefix: str, admin_token: str
) -> None:
    settings = alerter_settings_for(nats_server, prefix)
    hot = docker_sample("h1", container(WEB, "web-1", 95))
    cool = docker_sample("h1", container(WEB, "web-1", 3))
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.alerts(AlertSource.RULE), AlertChanged, stream=True) as alerts,
    ):

        async def send(sample: DockerStatsSampled, until_seen: AlertState) -> AlertChanged:
            loop = asyncio.get_running_loop()
            started = loop.time()
            while alerts.empty():
                subject = bus.subjects.docker_metrics("h1")
                await bus.nc.publish(subject, sample.model_dump_json().encode())
                await asyncio.sleep(0.2)  # the collector's beat, faster
                assert loop.time() - started < 15, f"nothing {until_seen.value}"
            seen = alerts.get_nowait()
            assert seen.state is until_seen, seen
            return seen

        async with contextlib.AsyncExitStack() as later:
            async with run_alerter(settings) as first:  # alone: it takes the source
                rule = await make_rule(bus, admin_token, **(BUSY | {"recovery_s": 0}))
                await wait_for(lambda: rule.id in first.evaluator.rules, "the rule read", 10)
                raised = await send(hot, AlertState.RAISED)
                assert first.sources is not None
                assert first.sources.held == {"host:h1"}
                second = await later.enter_async_context(run_alerter(settings))
                await wait_for(lambda: rule.id in second.evaluator.rules, "the rule read", 10)
            # the first has stopped (its lease given up): the second takes the source
            resolved = await send(cool, AlertState.RESOLVED)
            assert second.sources is not None
            assert second.sources.held == {"host:h1"}
    assert resolved.id == raised.id


async def test_the_default_rules_are_seeded_once_across_replicas_and_a_deleted_one_stays_deleted(
    nats_server: NatsServer, prefix: str, admin_token: str
) -> None:
    settings = alerter_settings_for(nats_server, prefix, default_rules=True)
    async with bus_client(nats_server, prefix) as bus:
        async with contextlib.AsyncExitStack() as replicas:  # three starting at once
            await asyncio.gather(
                *(replicas.enter_async_context(run_alerter(settings)) for _ in range(3))
            )
            seeded = (await ctl.call(bus, Rules.LIST, ListRules(), token=admin_token)).rules
            assert sorted((r.id, r.name, r.target.kind) for r in seeded) == [
                ("defa017000000001", "host CPU", "host"),
                ("defa017000000002", "host memory", "host"),
                ("defa017000000003", "host disk", "host"),
                ("defa017000000004", "gateway sockets", "gateway"),
                ("defa017000000005", "gateway send failures", "gateway"),
            ]
            for rule in seeded:
                assert rule.created_by == "vigil"
                condition = rule.condition.model_dump()
                if rule.target.kind == "host":
                    assert (rule.hold_s, rule.recovery_s, condition["threshold"]) == (30, 30, 90)
                else:  # the gateway's own thresholds: at once, 90 % of its sockets, 10 fails/s
                    assert (rule.hold_s, rule.recovery_s) == (0, 30)
            thresholds = {r.name: r.condition.model_dump()["threshold"] for r in seeded}
            assert (thresholds["gateway sockets"], thresholds["gateway send failures"]) == (90, 10)
            for deleted in ("defa017000000002", "defa017000000005"):
                await ctl.call(bus, Rules.DELETE, DeleteRule(rule_id=deleted), token=admin_token)
        async with run_alerter(settings):  # a later start seeds nothing again
            left = (await ctl.call(bus, Rules.LIST, ListRules(), token=admin_token)).rules
    assert sorted(r.id for r in left) == [
        "defa017000000001",
        "defa017000000003",
        "defa017000000004",
    ]


async def test_the_gateway_defaults_are_seeded_where_only_the_host_ones_were_before(
    nats_server: NatsServer, prefix: str, admin_token: str
) -> None:
    settings = alerter_settings_for(nats_server, prefix, default_rules=True)
    async with bus_client(nats_server, prefix) as bus:
        nats_server.provision(prefix)
        bucket = await bus.kv(ALERT_RULES)
        await bucket.create("defaults-seeded", b"{}")  # what the last version left
        async with run_alerter(settings):
            found = (await ctl.call(bus, Rules.LIST, ListRules(), token=admin_token)).rules
    assert sorted(r.name for r in found) == ["gateway send failures", "gateway sockets"]
