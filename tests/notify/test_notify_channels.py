"""Channels through the gateway (`/api/notify`): admins only, checked again by the
notifier; bad channels refused 422 naming what is wrong; secrets never shown back; a
test send; a channel that keeps failing leaves a dead letter."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.notify_support import (
    WEBHOOK_SECRET,
    WebhookReceiver,
    alert,
    notifier_settings_for,
    publish,
    run_notifier,
    smtp_server,
    webhook_draft,
    webhook_receiver,
)
from tests.support import NatsServer, bearer, bus_client, free_port, until, user_token
from vigil import ctl
from vigil.access import Role
from vigil.messages import CtlReply, ErrorCode, ListChannels
from vigil.operations import Notify
from vigil_notifier.app import NotifierService

CHANNELS = "/api/notify/channels"
SECRETS = ("T0KEN-in-the-path", "query-secret-123", WEBHOOK_SECRET, "smtp-pass-9f8e7d6c")


@pytest.fixture
async def notifier(nats_server: NatsServer, prefix: str) -> AsyncIterator[NotifierService]:
    settings = notifier_settings_for(
        nats_server, prefix, max_attempts=2, retry_backoff_s=[0.2], send_timeout_s=1.0
    )
    async with run_notifier(settings) as service:
        yield service


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=30) as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as running:
        yield running


def no_secret_in(text: str) -> None:
    shown = [secret for secret in SECRETS if secret in text]
    assert not shown, f"secrets shown back: {shown} in {text}"


async def test_an_admin_manages_channels_and_never_sees_a_secret_again(
    notifier: NotifierService,
    http: httpx.AsyncClient,
    admin_token: str,
    receiver: WebhookReceiver,
) -> None:
    admin = bearer(admin_token)
    with smtp_server() as (mailto, inbox):
        made = await http.post(CHANNELS, json=webhook_draft(receiver), headers=admin)
        assert made.status_code == 201, made.text
        mail = {"name": "mail", "target": {"kind": "apprise", "url": mailto}}
        made_mail = await http.post(CHANNELS, json=mail, headers=admin)
        assert made_mail.status_code == 201, made_mail.text
        for answer in (made, made_mail):
            no_secret_in(answer.text)
        hook = made.json()
        assert hook["kind"] == "webhook"
        assert hook["url"] == f"http://127.0.0.1:{receiver.port}/***"
        assert made_mail.json()["url"].startswith("mailto://vigil:****@127.0.0.1")

        listed = await http.get(CHANNELS, headers=admin)
        assert listed.status_code == 200
        no_secret_in(listed.text)
        assert [channel["name"] for channel in listed.json()["channels"]] == ["hook", "mail"]

        for channel_id in (hook["id"], made_mail.json()["id"]):
            tried = await http.post(f"{CHANNELS}/{channel_id}/test", headers=admin)
            assert tried.status_code == 200, tried.text
            assert tried.json()["delivered"] is True, tried.text
        assert len(receiver.accepted) == 1
        assert receiver.payloads()[0]["alert"]["message"].startswith("A test notification")
        assert len(inbox) == 1

    deleted = await http.delete(f"{CHANNELS}/{hook['id']}", headers=admin)
    assert deleted.status_code == 200
    no_secret_in(deleted.text)
    left = (await http.get(CHANNELS, headers=admin)).json()["channels"]
    assert [channel["name"] for channel in left] == ["mail"]
    gone = await http.delete(f"{CHANNELS}/{hook['id']}", headers=admin)
    assert gone.status_code == 404

    async def audited() -> list[tuple[str, str]] | None:
        answer = await http.get("/api/audit", params={"service": "notifier"}, headers=admin)
        no_secret_in(answer.text)
        said = [(e["action"], e["outcome"]) for e in answer.json()["events"]]
        return said if len(said) == 5 else None

    assert sorted(await until(audited, "the notifier's audit events")) == [
        ("notify.channel_create", "done"),
        ("notify.channel_create", "done"),
        ("notify.channel_delete", "done"),
        ("notify.channel_try", "done"),
        ("notify.channel_try", "done"),
    ]


async def test_a_viewer_or_an_operator_is_refused_channels_at_the_gateway_and_the_notifier(
    notifier: NotifierService,
    http: httpx.AsyncClient,
    admin_token: str,
    receiver: WebhookReceiver,
    nats_server: NatsServer,
    prefix: str,
) -> None:
    async with bus_client(nats_server, prefix) as bus:
        viewer = await user_token(bus, admin_token, "vera", Role.VIEWER, [])
        operator = await user_token(bus, admin_token, "otto", Role.OPERATOR, [])
        for token in (viewer, operator):
            for method, path, body in (
                ("POST", CHANNELS, webhook_draft(receiver)),
                ("GET", CHANNELS, None),
                ("DELETE", f"{CHANNELS}/0123456789abcdef", None),
                ("POST", f"{CHANNELS}/0123456789abcdef/test", None),
                ("GET", "/api/notify/dead-letters", None),
            ):
                answer = await http.request(method, path, json=body, headers=bearer(token))
                assert answer.status_code == 403, (method, path, answer.text)
            # past the gateway, the notifier checks the role itself
            with pytest.raises(ctl.Refused) as refused:
                await ctl.call(bus, Notify.LIST, ListChannels(), token=token)
            assert refused.value.code is ErrorCode.FORBIDDEN
        with pytest.raises(ctl.Refused) as forged:
            await ctl.call(bus, Notify.LIST, ListChannels(), token="not-a-token")
        assert forged.value.code is ErrorCode.INVALID_CREDENTIALS
        # no token at all, as a client that skips `ctl.call`'s own check would send it
        subject = Notify.LIST.subject(bus.subjects)
        reply = CtlReply.model_validate_json((await bus.nc.request(subject, b"{}", 5)).data)
        assert reply.error is not None
        assert reply.error.code is ErrorCode.INVALID_CREDENTIALS
    assert not receiver.accepted


@pytest.mark.parametrize(
    ("target", "names"),
    [
        ({"kind": "apprise", "url": "nope://T0KEN-in-the-path"}, ["target.url", "Apprise"]),
        ({"kind": "apprise", "url": "not a url"}, ["target.url"]),
        (
            {"kind": "webhook", "url": "ftp://example.com/x", "secret": WEBHOOK_SECRET},
            ["target.url", "http"],
        ),
        (
            {"kind": "webhook", "url": "http:///nohost", "secret": WEBHOOK_SECRET},
            ["target.url", "host"],
        ),
        (
            {
                "kind": "webhook",
                "url": "http://example.com/",
                "secret": WEBHOOK_SECRET,
                "template": '{"text": "{{id}}"',
            },
            ["target.template", "not JSON"],
        ),
        (
            {
                "kind": "webhook",
                "url": "http://example.com/",
                "secret": WEBHOOK_SECRET,
                "template": '{"text": "{{colour}}"}',
            },
            ["target.template", "colour"],
        ),
        ({"kind": "webhook", "url": "http://example.com/", "secret": "short"}, ["secret"]),
        ({"kind": "carrier-pigeon", "url": "coo://"}, ["kind"]),
    ],
)
async def test_a_bad_channel_is_refused_422_naming_what_is_wrong(
    notifier: NotifierService,
    http: httpx.AsyncClient,
    admin_token: str,
    target: dict[str, Any],
    names: list[str],
) -> None:
    answer = await http.post(
        CHANNELS, json={"name": "bad", "target": target}, headers=bearer(admin_token)
    )
    assert answer.status_code == 422, answer.text
    for name in names:
        assert name in answer.text, answer.text
    no_secret_in(answer.text)
    assert (await http.get(CHANNELS, headers=bearer(admin_token))).json()["channels"] == []


async def test_a_channel_that_keeps_failing_leaves_a_dead_letter_without_its_secrets(
    notifier: NotifierService,
    http: httpx.AsyncClient,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
) -> None:
    nobody = free_port()  # nothing listens there
    url = f"http://127.0.0.1:{nobody}/hooks/T0KEN-in-the-path?key=query-secret-123"
    target = {"kind": "webhook", "url": url, "secret": WEBHOOK_SECRET}
    made = await http.post(
        CHANNELS, json={"name": "broken", "target": target}, headers=bearer(admin_token)
    )
    assert made.status_code == 201, made.text
    async with bus_client(nats_server, prefix) as bus:
        await publish(bus, alert(1))

    async def dead_letters() -> list[dict[str, Any]] | None:
        answer = await http.get("/api/notify/dead-letters", headers=bearer(admin_token))
        assert answer.status_code == 200, answer.text
        no_secret_in(answer.text)
        letters: list[dict[str, Any]] = answer.json()["dead_letters"]
        return letters or None

    [letter] = await until(dead_letters, "a dead letter", timeout=20)
    assert letter["channel_name"] == "broken"
    assert letter["alert_id"] == alert(1).id
    assert letter["attempts"] == 2
    assert f"POST http://127.0.0.1:{nobody}/***" in letter["error"]
    tried = await http.post(f"{CHANNELS}/{made.json()['id']}/test", headers=bearer(admin_token))
    assert tried.json()["delivered"] is False
    assert f"POST http://127.0.0.1:{nobody}/***" in tried.json()["error"]
    no_secret_in(tried.text)
