"""`vigil user` and `vigil apikey` as a real process, through a real gateway (uvicorn) to
the real auth service, with the credentials `vigil login` saves."""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.cli_support import Result, environment, vigil
from tests.conftest import ADMIN_PASSWORD
from tests.support import bearer, closed_with, free_port, receive, until
from vigil.access import Permission, Principal, Role
from vigil.messages import ApiKeyCreated, ApiKeyList, UserList, UserView
from vigil_cli.config import ClientConfig
from vigil_cli.config import load as load_config
from vigil_cli.config import save as save_config
from vigil_client import AuthenticationFailed, login

PASSWORD = "correct-horse-battery"
COMMAND_TIMEOUT_S = 15.0
# Every command reaches the gateway through `Remote.api()`; a few of them, of both
# modules, reading and writing, stand for all (each is a process: ~1 s of imports).
ADMIN_COMMANDS = [
    ["user", "add", "mallory", "--role", "admin", "--password-stdin"],
    ["user", "update", "viewer", "--role", "admin"],
    ["user", "disable", "admin"],
    ["apikey", "create", "backdoor", "--role", "admin"],
    ["apikey", "list"],
]


def rows(table: str) -> list[list[str]]:
    """The rows of a table the CLI printed, under its header line, split into cells."""
    header, *lines = table.strip().splitlines()
    assert header.split()[0] in {"USERNAME", "ID"}, table
    return [line.split() for line in lines]


@dataclass(frozen=True)
class Cli:
    """`vigil` with a config of its own (the admin's login, unless a test says otherwise)."""

    env: dict[str, str]
    gateway: str

    @property
    def url(self) -> str:
        return f"http://{self.gateway}"

    async def __call__(self, *args: str, stdin: str = "") -> Result:
        return await vigil(self.env, *args, stdin=stdin, timeout=COMMAND_TIMEOUT_S)

    async def add_user(self, username: str, *options: str) -> Result:
        return await self("user", "add", username, *options, "--password-stdin", stdin=PASSWORD)

    async def logged_in_as(self, config: Path, username: str, password: str) -> "Cli":
        """Another `vigil`, logged in (by `vigil login`) as `username`."""
        other = Cli(environment(config), self.gateway)
        done = await other(
            "login", "--url", self.url, "-u", username, "--password-stdin", stdin=password
        )
        assert done.code == 0, done
        return other


@pytest.fixture
def cli(logged_in: dict[str, str], gateway: str) -> Cli:
    return Cli(logged_in, gateway)


def succeeded(result: Result) -> Result:
    assert (result.code, result.stderr) == (0, ""), result
    return result


# -- users ---------------------------------------------------------------------------


async def test_user_add_prints_the_new_user_as_a_table_row(cli: Cli) -> None:
    result = succeeded(
        await cli.add_user(
            "alice", "--role", "operator", "--cluster", "prod", "--permission", "exec"
        )
    )

    [row] = rows(result.stdout)
    assert row[:5] == ["alice", "operator", "prod", "exec", "False"]
    # The password came from standard input, whole: alice can log in with it.
    assert (await login(cli.url, "alice", PASSWORD)).access_token


async def test_user_add_with_json_prints_the_user_as_json(cli: Cli) -> None:
    result = succeeded(await cli.add_user("bob", "--role", "viewer", "--role", "admin", "--json"))

    user = UserView.model_validate_json(result.stdout)
    assert (user.username, set(user.roles), user.clusters, user.disabled) == (
        "bob",
        {Role.VIEWER, Role.ADMIN},
        [],
        False,
    )


async def test_user_list_shows_the_admin_and_the_new_user(cli: Cli) -> None:
    succeeded(await cli.add_user("carol", "--role", "viewer", "--cluster", "*"))

    table = succeeded(await cli("user", "list"))
    assert {row[0]: row[1:3] for row in rows(table.stdout)} == {
        "admin": ["admin", "*"],
        "carol": ["viewer", "*"],
    }
    listed = UserList.model_validate_json(succeeded(await cli("user", "list", "--json")).stdout)
    assert sorted(user.username for user in listed.users) == ["admin", "carol"]


async def test_adding_a_taken_username_exits_1_and_says_so_on_stderr(cli: Cli) -> None:
    succeeded(await cli.add_user("dave", "--role", "viewer"))

    again = await cli.add_user("dave", "--role", "admin")

    assert again.code == 1
    assert again.stdout == ""
    assert again.stderr.strip() == "vigil: user 'dave' already exists (CONFLICT)"


async def test_user_disable_marks_the_user_disabled_and_closes_their_sessions(cli: Cli) -> None:
    succeeded(await cli.add_user("erin", "--role", "viewer"))
    erin = (await login(cli.url, "erin", PASSWORD)).access_token

    async with connect(f"ws://{cli.gateway}/ws?token={erin}") as socket:
        assert (await receive(socket))["type"] == "connected"
        [row] = rows(succeeded(await cli("user", "disable", "erin")).stdout)
        assert (await closed_with(socket, timeout=5))[0] == 4001

    assert row[:5] == ["erin", "viewer", "-", "-", "True"]
    listed = UserList.model_validate_json(succeeded(await cli("user", "list", "--json")).stdout)
    assert {user.username: user.disabled for user in listed.users} == {
        "admin": False,
        "erin": True,
    }
    with pytest.raises(AuthenticationFailed):
        await login(cli.url, "erin", PASSWORD)


async def test_user_update_widens_at_the_next_refresh_and_a_narrowing_ends_the_sessions(
    cli: Cli,
) -> None:
    succeeded(await cli.add_user("fay", "--role", "operator", "--cluster", "prod"))
    tokens = await login(cli.url, "fay", PASSWORD)
    assert tokens.refresh_token is not None

    async with (
        httpx.AsyncClient(base_url=cli.url, timeout=10) as http,
        connect(f"ws://{cli.gateway}/ws?token={tokens.access_token}") as socket,
    ):
        assert (await receive(socket))["type"] == "connected"
        wider = ["--cluster", "prod", "--cluster", "staging", "--permission", "exec"]
        [row] = rows(succeeded(await cli("user", "update", "fay", *wider)).stdout)
        assert row[:5] == ["fay", "operator", "prod,staging", "exec", "False"]

        # Wider: the session goes on, and its next refresh carries the new access.
        refreshed = await http.post(
            "/api/auth/refresh", json={"refresh_token": tokens.refresh_token}
        )
        assert refreshed.status_code == 200, refreshed.text
        me = await principal_of(http, refreshed.json()["access_token"])
        assert (me.clusters, me.permissions) == (["prod", "staging"], [Permission.EXEC])

        # Narrower: the session ends at once, its socket closed, its refresh token refused.
        succeeded(await cli("user", "update", "fay", "--no-permission"))
        assert (await closed_with(socket, timeout=5))[0] == 4001
        after = await http.post(
            "/api/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]}
        )
        assert after.status_code == 401, after.text

        again = await login(cli.url, "fay", PASSWORD)
        me = await principal_of(http, again.access_token)
        assert (me.clusters, me.permissions) == (["prod", "staging"], [])
    listed = UserList.model_validate_json(succeeded(await cli("user", "list", "--json")).stdout)
    assert [(u.roles, u.clusters) for u in listed.users if u.username == "fay"] == [
        ([Role.OPERATOR], ["prod", "staging"])
    ]

    async def both_changes() -> list[str] | None:
        trail = await cli("audit", "--action", "auth.user_update", "--json")
        events = [json.loads(line) for line in succeeded(trail).stdout.splitlines()]
        return [e["detail"] for e in events] if len(events) == 2 else None

    assert await until(both_changes, "both changes in the audit trail") == [  # oldest first
        "roles operator, clusters prod,staging, permissions exec",
        "roles operator, clusters prod,staging",
    ]


async def principal_of(http: httpx.AsyncClient, access_token: str) -> Principal:
    """`GET /api/auth/me` with a user's access token: who the gateway takes them for."""
    answer = await http.get("/api/auth/me", headers=bearer(access_token))
    assert answer.status_code == 200, answer.text
    return Principal.model_validate_json(answer.content)


# -- API keys ------------------------------------------------------------------------


async def whoami(gateway: str, api_key: str) -> httpx.Response:
    """`GET /api/auth/me` with an API key: who the gateway takes it for."""
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=10) as http:
        return await http.get("/api/auth/me", headers={"X-API-Key": api_key})


async def test_apikey_create_prints_the_secret_once_and_it_works(cli: Cli) -> None:
    result = succeeded(
        await cli(
            "apikey", "create", "deploy-bot", "--role", "operator", "--cluster", "prod",
            "--permission", "exec",
        )
    )  # fmt: skip

    table, shown_once = result.stdout.strip().split("\n\n")
    notice, secret = shown_once.splitlines()
    [row] = rows(table)
    key_id = row[0]
    assert row[1:5] == ["deploy-bot", "operator", "prod", "exec"]
    assert notice == "API key (shown once; keep it secret):"
    assert result.stdout.count(secret) == 1
    me = await whoami(cli.gateway, secret)
    assert Principal.model_validate_json(me.content) == Principal(
        kind="api_key",
        id=key_id,
        name="deploy-bot",
        roles=[Role.OPERATOR],
        clusters=["prod"],
        permissions=[Permission.EXEC],
    )


async def test_apikey_create_with_json_carries_the_secret(cli: Cli) -> None:
    result = succeeded(await cli("apikey", "create", "ci", "--expires-in", "30d", "--json"))

    created = ApiKeyCreated.model_validate_json(result.stdout)
    assert created.key.expires_at is not None
    assert created.key.created_by == "admin"  # the logged-in admin, not a local Unix user
    assert 29.9 < (created.key.expires_at - created.key.created_at).total_seconds() / 86400 <= 30
    me = Principal.model_validate_json((await whoami(cli.gateway, created.api_key)).content)
    assert me.id == created.key.id


async def test_apikey_list_shows_the_key_without_its_secret(cli: Cli) -> None:
    created = ApiKeyCreated.model_validate_json(
        succeeded(await cli("apikey", "create", "grafana", "--json")).stdout
    )

    table = succeeded(await cli("apikey", "list"))
    as_json = succeeded(await cli("apikey", "list", "--json"))

    assert [row[:3] for row in rows(table.stdout)] == [[created.key.id, "grafana", "viewer"]]
    assert ApiKeyList.model_validate_json(as_json.stdout).keys == [created.key]
    secret_part = created.api_key.removeprefix(f"vk_{created.key.id}_")  # may contain "_"
    assert len(secret_part) >= 32
    assert secret_part not in table.stdout
    assert secret_part not in as_json.stdout


async def test_apikey_revoke_marks_the_key_revoked_and_the_gateway_refuses_it(cli: Cli) -> None:
    created = ApiKeyCreated.model_validate_json(
        succeeded(await cli("apikey", "create", "old-bot", "--json")).stdout
    )

    [row] = rows(succeeded(await cli("apikey", "revoke", created.key.id)).stdout)

    assert (row[0], row[-1]) == (created.key.id, "True")
    [listed] = rows(succeeded(await cli("apikey", "list")).stdout)
    assert (listed[0], listed[-1]) == (created.key.id, "True")
    assert (await whoami(cli.gateway, created.api_key)).status_code == 401


# -- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ["user", "add", "bad name", "--role", "viewer", "--password-stdin"],
            1,
            "vigil: username: invalid username 'bad name'",
            id="username-with-a-space",
        ),
        pytest.param(
            ["user", "update", "admin"],
            1,
            "vigil: input: give roles, clusters or permissions: what changes",
            id="update-nothing",
        ),
        pytest.param(
            ["user", "update", "nobody", "--role", "viewer"],
            1,
            "vigil: no user 'nobody' (NOT_FOUND)",
            id="update-unknown-user",
        ),
        pytest.param(
            ["user", "update", "admin", "--role", "viewer"],
            1,
            "vigil: user 'admin' is the last enabled admin; make another admin first (CONFLICT)",
            id="update-the-last-admin",
        ),
        pytest.param(
            ["user", "update", "admin", "--role", "viewer", "--permission", "exec"],
            1,
            "permissions: exec needs the operator role, not viewer",
            id="update-exec-for-a-viewer",
        ),
        pytest.param(
            ["user", "add", "frank", "--role", "superuser", "--password-stdin"],
            2,
            "argument --role: invalid choice: 'superuser'",
            id="unknown-role",
        ),
        pytest.param(
            ["user", "disable", "nobody"],
            1,
            "vigil: no user 'nobody' (NOT_FOUND)",
            id="disable-unknown-user",
        ),
        pytest.param(
            ["user", "disable", "../keys"],
            1,
            "vigil: username: invalid username '../keys'",
            id="disable-a-name-that-is-a-path",
        ),
        pytest.param(
            ["apikey", "create", "k", "--expires-in", "3x"],
            2,
            "argument --expires-in: '3x' is not a duration like 30d, 12h, 15m or 90s",
            id="expires-in-3x",
        ),
        pytest.param(
            ["apikey", "create", "k", "--cluster", "prod east"],
            1,
            "vigil: clusters.0: invalid cluster 'prod east'",
            id="cluster-with-a-space",
        ),
        pytest.param(
            ["apikey", "revoke", "no-such-key"],
            1,
            "vigil: no API key 'no-such-key' (NOT_FOUND)",
            id="revoke-unknown-key",
        ),
        pytest.param(
            ["apikey", "revoke", "k" * 65],
            1,
            "vigil: key_id: String should have at most 64 characters",
            id="overlong-key-id",
        ),
    ],
)
async def test_bad_input_exits_non_zero_with_a_readable_message(
    cli: Cli, args: list[str], code: int, message: str
) -> None:
    result = await cli(*args, stdin=PASSWORD)

    assert (result.code, result.stdout) == (code, "")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_too_short_password_is_refused_without_echoing_it(cli: Cli) -> None:
    result = await cli("user", "add", "gina", "--role", "viewer", "--password-stdin", stdin="pw-42")

    assert result.code == 1
    assert result.stderr.strip() == "vigil: password: String should have at least 8 characters"
    assert "pw-42" not in result.stderr


# -- who may: the admin only; no login; no gateway -----------------------------------


@pytest.mark.timeout(120)  # seven `vigil` processes: 1 to 5 s each on a busy machine
async def test_a_viewer_is_refused_every_account_command_with_exit_1(
    cli: Cli, tmp_path: Path
) -> None:
    succeeded(await cli.add_user("vera", "--role", "viewer"))
    viewer = await cli.logged_in_as(tmp_path / "vera" / "config.json", "vera", PASSWORD)

    for args in ADMIN_COMMANDS:
        refused = await viewer(*args, stdin=PASSWORD)
        assert (refused.code, refused.stdout) == (1, ""), (args, refused)
        assert "needs the admin role; vera is viewer (FORBIDDEN)" in refused.stderr, refused
        assert PASSWORD not in refused.stderr

    # nothing changed: no mallory, the admin still enabled, no key
    listed = UserList.model_validate_json(succeeded(await cli("user", "list", "--json")).stdout)
    assert {user.username: user.disabled for user in listed.users} == {
        "admin": False,
        "vera": False,
    }
    assert rows(succeeded(await cli("apikey", "list")).stdout) == []


async def test_without_a_login_every_account_command_exits_3_before_asking(
    gateway: str, config: Path
) -> None:
    nobody = Cli(environment(config, f"http://{gateway}"), gateway)

    for args in [["user", "add", "frank", "--role", "viewer"], ["apikey", "revoke", "0" * 16]]:
        refused = await nobody(*args)
        assert (refused.code, refused.stdout) == (3, ""), (args, refused)
        assert refused.stderr == (
            f"vigil: not logged in (no credentials in {config}): run `vigil login`\n"
        )  # and no password prompt: it said so before asking


async def test_a_token_the_gateway_refuses_and_cannot_be_refreshed_exits_3(
    gateway: str, config: Path
) -> None:
    forged = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"
    save_config(config, ClientConfig(url=f"http://{gateway}", access_token=forged, expires_at=1))

    refused = await Cli(environment(config), gateway)("user", "list")

    assert (refused.code, refused.stdout) == (3, "")
    assert refused.stderr.startswith("vigil: ")
    assert refused.stderr.endswith(": run `vigil login`\n")


async def test_a_refused_access_token_is_refreshed_and_the_new_tokens_saved(
    gateway: str, config: Path
) -> None:
    issued = await login(f"http://{gateway}", "admin", ADMIN_PASSWORD)
    stale = ClientConfig(
        url=f"http://{gateway}",
        access_token="not.a.token",
        refresh_token=issued.refresh_token,
        expires_at=time.time() + 600,
    )
    save_config(config, stale)

    listed = succeeded(await Cli(environment(config), gateway)("user", "list", "--json"))

    assert [user.username for user in UserList.model_validate_json(listed.stdout).users] == [
        "admin"
    ]
    saved = load_config(config)
    assert saved.access_token is not None
    assert saved.access_token.count(".") == 2
    assert saved.refresh_token not in (None, issued.refresh_token)  # the old one is spent


async def test_a_gateway_that_is_down_exits_2_at_once_saying_so(
    logged_in: dict[str, str],
) -> None:
    down = f"http://127.0.0.1:{free_port()}"

    for args in [ADMIN_COMMANDS[0], ["user", "list"]]:
        started = time.monotonic()
        result = await vigil(logged_in | {"VIGIL_URL": down}, *args, stdin=PASSWORD)
        assert (result.code, result.stdout) == (2, ""), (args, result)
        assert result.stderr.startswith(f"vigil: cannot reach the gateway at {down}: "), result
        assert PASSWORD not in result.stderr
        # no retries: a client's reconnect backoff alone (2 + 5 + 10 s) would pass this
        assert time.monotonic() - started < 10
