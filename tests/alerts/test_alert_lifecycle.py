"""The life of an alert through the gateway (`/api/alerts`): raised, acknowledged by an
operator with a note (a transition in the ALERTS stream, in the audit trail; refused to
a viewer), resolved; a silence and a maintenance window keep back from the notifier
what they match, and no more."""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.docker_support import heard, next_that
from tests.notify_support import (
    WebhookReceiver,
    add_channel,
    alert,
    notifier_settings_for,
    publish,
    run_notifier,
    webhook_draft,
    webhook_receiver,
)
from tests.support import NatsServer, bearer, bus_client, until, user_token, wait_for
from vigil.access import Role
from vigil.messages import AlertChanged, AlertState, AuditEvent, AuditOutcome
from vigil_alerter.app import AlerterService

ALERTS = "/api/alerts"


async def listed(http: httpx.AsyncClient, token: str, **query: object) -> list[dict]:
    answer = await http.get(ALERTS, headers=bearer(token), params=query)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["alerts"])


def when(
    http: httpx.AsyncClient, token: str, holds: Callable[[list[dict]], bool], **query: object
) -> Callable[[], Awaitable[list[dict] | None]]:
    """A check for `until`: the listing, once `holds` of it."""

    async def check() -> list[dict] | None:
        alerts = await listed(http, token, **query)
        return alerts if holds(alerts) else None

    return check


async def test_an_operator_acknowledges_a_raised_alert_with_a_note_and_a_viewer_cannot(
    alerter: AlerterService,
    http: httpx.AsyncClient,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
) -> None:
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.alerts("host"), AlertChanged, stream=True) as stream,
        heard(bus, bus.subjects.audit("alerter"), AuditEvent) as audit,
    ):
        viewer = await user_token(bus, admin_token, "vera", Role.VIEWER, [])
        operator = await user_token(bus, admin_token, "otto", Role.OPERATOR, [])
        raised, other = alert(1, host="web1"), alert(2, host="web2")
        await publish(bus, raised)
        await publish(bus, other)
        await until(when(http, viewer, lambda alerts: len(alerts) == 2), "both in the book")

        body = {"alert_id": raised.id, "note": "looking at it"}
        refused = await http.post(f"{ALERTS}/ack", json=body, headers=bearer(viewer))
        assert refused.status_code == 403
        acked = await http.post(f"{ALERTS}/ack", json=body, headers=bearer(operator))
        assert acked.status_code == 200, acked.text
        assert acked.json()["acknowledged"]["by"] == "otto"
        assert acked.json()["state"] == "raised"

        transitions = [await next_that(stream, lambda a: True, "a transition") for _ in range(3)]
        acknowledgement = transitions[-1]
        assert acknowledgement.id == raised.id
        assert acknowledgement.acknowledged is not None
        assert (acknowledgement.acknowledged.by, acknowledgement.acknowledged.note) == (
            "otto",
            "looking at it",
        )
        event = await next_that(audit, lambda e: e.action == "alerts.ack", "the audit event")
        assert event.outcome is AuditOutcome.DONE
        assert event.target == raised.id
        assert event.detail == "looking at it"

        book = {a["alert"]["id"]: a for a in await listed(http, viewer)}
        assert book[raised.id]["acknowledged"]["by"] == "otto"
        assert book[other.id]["acknowledged"] is None  # acknowledging one touched no other

        resolved = raised.model_copy(
            update={"state": AlertState.RESOLVED, "time": datetime.now(UTC)}
        )
        await publish(bus, resolved)
        everything = await until(
            when(
                http,
                viewer,
                lambda alerts: any(a["alert"]["state"] == "resolved" for a in alerts),
                active=False,
            ),
            "the resolution in the book",
        )
        [done] = [a for a in everything if a["alert"]["id"] == raised.id]
        assert done["acknowledged"]["by"] == "otto"  # resolved, and who had acknowledged it
        assert [a["alert"]["id"] for a in await listed(http, viewer)] == [other.id]

        again = await http.post(f"{ALERTS}/ack", json=body, headers=bearer(operator))
        assert again.status_code == 404  # resolved: nothing to acknowledge


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as running:
        yield running


async def test_a_silence_and_a_maintenance_window_keep_back_what_they_match_and_no_more(
    alerter: AlerterService,
    http: httpx.AsyncClient,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
    receiver: WebhookReceiver,
) -> None:
    admin = bearer(admin_token)
    ends = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    silence = {"matcher": {"alert_ids": "host:web1:*"}, "ends": ends, "comment": "noisy"}
    made = await http.post(f"{ALERTS}/silences", json=silence, headers=admin)
    assert made.status_code == 201, made.text
    window = {"matcher": {"hosts": "db*"}, "ends": ends, "maintenance": True}
    made_window = await http.post(f"{ALERTS}/silences", json=window, headers=admin)
    assert made_window.status_code == 201, made_window.text
    listed_silences = (await http.get(f"{ALERTS}/silences", headers=admin)).json()["silences"]
    assert len(listed_silences) == 2

    async with (
        run_notifier(notifier_settings_for(nats_server, prefix)) as notifier,
        bus_client(nats_server, prefix) as bus,
    ):
        await add_channel(bus, admin_token, webhook_draft(receiver))
        assert notifier.delivery is not None
        for quiet in (alert(1, host="web1"), alert(2, host="db1")):
            await publish(bus, quiet)
        await publish(bus, alert(3, host="web2"))  # near both, matched by neither
        await publish(bus, alert(4, host="app1"))
        delivery = notifier.delivery
        await wait_for(
            lambda: len(receiver.accepted) == 2 and delivery.silenced == 2,
            "two delivered, two kept back",
            15,
        )
        ids = sorted(p["alert"]["id"] for p in receiver.payloads())
        assert ids == ["host:app1:cpu:4", "host:web2:cpu:3"]

        gone = await http.delete(f"{ALERTS}/silences/{made.json()['id']}", headers=admin)
        assert gone.status_code == 200
        await publish(bus, alert(5, host="web1"))  # the silence is over: delivered again
        await wait_for(lambda: len(receiver.accepted) == 3, "the unsilenced alert", 15)
        assert receiver.payloads()[-1]["alert"]["id"] == "host:web1:cpu:5"
        assert delivery.silenced == 2


async def test_a_silence_must_end_after_it_starts_and_in_the_future(
    alerter: AlerterService, http: httpx.AsyncClient, admin_token: str
) -> None:
    now = datetime.now(UTC)
    backwards = {"starts": now.isoformat(), "ends": (now - timedelta(hours=1)).isoformat()}
    answer = await http.post(f"{ALERTS}/silences", json=backwards, headers=bearer(admin_token))
    assert answer.status_code == 422
    assert "ends: after starts" in answer.text
    past = {"ends": (now - timedelta(hours=1)).isoformat()}
    answer = await http.post(f"{ALERTS}/silences", json=past, headers=bearer(admin_token))
    assert answer.status_code == 422
    assert "in the past" in answer.text
