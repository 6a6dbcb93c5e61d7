"""The audit trail on real services: auth's logins and admin changes and the gateway's
refusals reach the AUDIT stream, read back by admins at `GET /api/audit` (newest first,
filtered, paged) and live on the `audit` channel; never a secret; nobody can delete from
it; non-admins are refused (and that is audited too)."""

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats.js.errors
import pytest
from websockets.asyncio.client import connect

from tests.grant_support import granted
from tests.support import NatsServer, bearer, bus_client, receive_until, send, until
from vigil.streams import AUDIT

ANN_PASSWORD = "ann-password-1"  # `granted` makes it from the name
WRONG_PASSWORD = "not-the-password-9"


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=10) as client:
        yield client


async def trail(http: httpx.AsyncClient, token: str, **query: Any) -> dict[str, Any]:
    response = await http.get("/api/audit", params=query, headers=bearer(token))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def said(events: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(e["action"], e["outcome"], e["actor"].get("name")) for e in events]


async def test_logins_admin_changes_and_refusals_are_kept_newest_first_without_secrets(
    http: httpx.AsyncClient, admin_token: str
) -> None:
    wrong = await http.post("/api/auth/token", json={"username": "ann", "password": WRONG_PASSWORD})
    assert wrong.status_code == 401
    ann = await granted(http, admin_token, "ann", ["alpha"])  # created, then logged in
    refused = await http.get("/api/auth/users", headers=bearer(ann))
    assert refused.status_code == 403

    async def all_four() -> dict[str, Any] | None:
        page = await trail(http, admin_token, limit=4)
        actions = [e["action"] for e in page["events"]]
        return page if actions[0] == "GET /api/auth/users" else None

    page = await until(all_four, "the four events in the trail")
    assert said(page["events"]) == [
        ("GET /api/auth/users", "refused", "ann"),
        ("auth.login", "done", "ann"),
        ("auth.user_create", "done", "admin"),
        ("auth.login", "refused", "ann"),
    ]
    refusal, login, created, failed = page["events"]
    assert refusal["service"] == "gateway"
    assert "needs the admin role" in refusal["detail"]
    assert refusal["address"] == "127.0.0.1"
    assert login["service"] == "auth"
    assert login["actor"]["kind"] == "user"
    assert login["target"].startswith("session ")
    assert created["target"] == "ann"
    assert created["detail"] == "roles viewer, clusters alpha"
    assert failed["actor"] == {"kind": "anonymous", "name": "ann"}
    assert failed["detail"] == "invalid username or password"
    cursors = [e["cursor"] for e in page["events"]]
    assert cursors == sorted(cursors, reverse=True)
    assert page["next_before"] == cursors[-1]

    everything = (await http.get("/api/audit", headers=bearer(admin_token))).text
    for secret in (WRONG_PASSWORD, ANN_PASSWORD, ann, admin_token):
        assert secret not in everything

    # Filters, each on its own and together.
    mine = await trail(http, admin_token, actor="ann")
    assert {e["actor"]["name"] for e in mine["events"]} == {"ann"}
    assert len(mine["events"]) == 3
    failures = await trail(http, admin_token, action="auth.login", outcome="refused")
    assert said(failures["events"]) == [("auth.login", "refused", "ann")]
    gateway_only = await trail(http, admin_token, service="gateway")
    assert {e["service"] for e in gateway_only["events"]} == {"gateway"}
    since = await trail(http, admin_token, since=login["time"])
    assert said(since["events"])[-1] == ("auth.login", "done", "ann")
    assert since["next_before"] is None  # it stopped at `since`, not at the stream's start

    # Pages: one event each, no overlap, to the first.
    seen: list[int] = []
    before = None
    while True:
        query: dict[str, Any] = {"limit": 1} | ({"before": before} if before else {})
        one = await trail(http, admin_token, **query)
        seen += [e["cursor"] for e in one["events"]]
        before = one["next_before"]
        if before is None:
            break
    everything_at_once = await trail(http, admin_token, limit=1000)
    assert seen == [e["cursor"] for e in everything_at_once["events"]]
    assert len(seen) == len(set(seen))


async def test_only_admins_read_the_trail_and_bad_queries_get_422(
    http: httpx.AsyncClient, admin_token: str
) -> None:
    ann = await granted(http, admin_token, "ann", [])
    forbidden = await http.get("/api/audit", headers=bearer(ann))
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"]["code"] == "FORBIDDEN"
    assert (await http.get("/api/audit")).status_code == 401

    async def audited() -> list[dict[str, Any]] | None:
        events = (await trail(http, admin_token, action="GET /api/audit", actor="ann"))["events"]
        return events or None

    [refusal] = await until(audited, "the refused read of the trail, audited")
    assert refusal["actor"]["name"] == "ann"

    for query in ({"service": "a*b"}, {"since": "2026-01-01T00:00:00"}, {"limit": 0}):
        bad = await http.get("/api/audit", params=query, headers=bearer(admin_token))
        assert bad.status_code == 422, (query, bad.text)


async def test_a_name_tried_with_a_line_break_cannot_forge_an_audit_log_line(
    http: httpx.AsyncClient, admin_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vigil_auth.audit")
    forged = "eve\ndone auth.login who=user:admin(u1) from=10.0.0.1"
    answer = await http.post("/api/auth/token", json={"username": forged, "password": "x" * 12})
    assert answer.status_code == 401

    async def recorded() -> list[dict[str, Any]] | None:
        events = (await trail(http, admin_token, actor=forged))["events"]
        return events or None

    [event] = await until(recorded, "the refused login")
    assert event["actor"]["name"] == forged  # kept as tried, in JSON
    lines = [r.getMessage() for r in caplog.records if r.name == "vigil_auth.audit"]
    [line] = [line for line in lines if "eve" in line]
    assert "\n" not in line
    assert "who=anonymous:eve\\ndone auth.login" in line


async def test_the_audit_channel_streams_events_as_they_are_written_to_admins_only(
    gateway: str, http: httpx.AsyncClient, admin_token: str
) -> None:
    ann = await granted(http, admin_token, "ann", [])
    async with connect(f"ws://{gateway}/ws?token={ann}") as viewer:
        await receive_until(viewer, lambda m: m["type"] == "connected")
        await send(viewer, {"type": "subscribe", "channel": "audit"})
        refused = await receive_until(viewer, lambda m: m["type"] == "error")
        assert refused["code"] == "FORBIDDEN"
    async with connect(f"ws://{gateway}/ws?token={admin_token}") as admin:
        await receive_until(admin, lambda m: m["type"] == "connected")
        await send(admin, {"type": "subscribe", "channel": "audit", "params": {"service": "auth"}})
        await receive_until(admin, lambda m: m["type"] == "subscribed")
        wrong = {"username": "nobody", "password": WRONG_PASSWORD}
        assert (await http.post("/api/auth/token", json=wrong)).status_code == 401
        update = await receive_until(
            admin,
            lambda m: m["type"] == "update" and m["data"]["actor"].get("name") == "nobody",
        )
    assert update["channel"] == "audit?service=auth"
    assert update["data"]["action"] == "auth.login"
    assert update["data"]["outcome"] == "refused"
    assert isinstance(update["cursor"], int)


async def test_nobody_can_delete_from_the_trail_purge_it_or_lift_that(
    http: httpx.AsyncClient, admin_token: str, nats_server: NatsServer, prefix: str
) -> None:
    wrong = {"username": "nobody", "password": WRONG_PASSWORD}
    assert (await http.post("/api/auth/token", json=wrong)).status_code == 401
    async with bus_client(nats_server, prefix) as bus:  # every permission the bus has
        stream = AUDIT.stream(bus.subjects)

        async def written() -> int | None:
            last = (await bus.js.stream_info(stream)).state.last_seq
            return last or None

        last = await until(written, "an audit event")
        with pytest.raises(nats.js.errors.APIError, match=r"not permitted|denied"):
            await bus.js.delete_msg(stream, last)
        with pytest.raises(nats.js.errors.APIError, match=r"not permitted|denied"):
            await bus.js.purge_stream(stream)
        config = (await bus.js.stream_info(stream)).config
        config.deny_delete = config.deny_purge = False
        with pytest.raises(nats.js.errors.APIError, match=r"can not|cannot"):
            await bus.js.update_stream(config)  # nor can the denial be lifted
        assert (await bus.js.stream_info(stream)).state.last_seq == last
