"""`vigil audit` as a real process against a real gateway and auth service: the trail's
events that match, oldest first, then new ones live; clear refusals for bad filters and
for anyone but an admin."""

import json
from pathlib import Path

import httpx

from tests.cli_support import environment, running, vigil
from tests.grant_support import granted
from vigil_cli.config import ClientConfig
from vigil_cli.config import save as save_config


async def failed_login(gateway: str, username: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://{gateway}") as http:
        answer = await http.post(
            "/api/auth/token", json={"username": username, "password": "not-the-password-9"}
        )
        assert answer.status_code == 401


async def test_audit_lists_the_matching_events_then_follows_new_ones(
    logged_in: dict[str, str], gateway: str
) -> None:
    await failed_login(gateway, "mallory")
    filters = ("--action", "auth.login", "--outcome", "refused")
    listed = await vigil(logged_in, "audit", *filters)
    assert listed.code == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:4] == ["TIME", "SERVICE", "OUTCOME", "ACTION"]
    assert [row.split()[1:5] for row in rows] == [
        ["auth", "refused", "auth.login", "anonymous:mallory"]
    ]

    async with running(logged_in, "audit", "-f", "--json", *filters) as follower:
        await follower.read_until(lambda seen: len(seen) == 1, "the kept event")
        await failed_login(gateway, "eve")
        lines = await follower.read_until(lambda seen: len(seen) == 2, "the new event")
        ended = await follower.interrupt()
    assert [json.loads(line)["actor"]["name"] for line in lines] == ["mallory", "eve"]
    assert ended.code == 130

    none = await vigil(logged_in, "audit", "--actor", "nobody-at-all")
    assert (none.code, none.stdout.strip()) == (0, "no events")


async def test_audit_refuses_bad_filters_and_non_admins_clearly(
    logged_in: dict[str, str], gateway: str, admin_token: str, tmp_path: Path
) -> None:
    bad_service = await vigil(logged_in, "audit", "--service", "a*b")
    assert bad_service.code == 1
    assert "invalid source" in bad_service.stderr
    bad_limit = await vigil(logged_in, "audit", "--limit", "0")
    assert bad_limit.code == 2
    assert "--limit must be 1 or more" in bad_limit.stderr
    bad_since = await vigil(logged_in, "audit", "--since", "yesterday")
    assert bad_since.code == 2
    assert "neither a duration" in bad_since.stderr

    async with httpx.AsyncClient(base_url=f"http://{gateway}") as http:
        viewer = await granted(http, admin_token, "vera", [])
    config = tmp_path / "viewer.json"
    save_config(config, ClientConfig(url=f"http://{gateway}", access_token=viewer))
    refused = await vigil(environment(config), "audit")
    assert refused.code == 1
    assert "needs the admin role" in refused.stderr
