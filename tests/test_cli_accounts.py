"""`vigil user` and `vigil apikey` as a real process, against the real auth service over NATS."""

import os
import time
from dataclasses import dataclass

import pytest

from tests.cli_support import Result
from tests.cli_support import vigil as run_vigil
from tests.support import NatsServer, bus_client, free_port, login
from vigil import ctl
from vigil.access import Principal, Role
from vigil.messages import ApiKeyCreated, ApiKeyList, ErrorCode, UserList, UserView, VerifyApiKey
from vigil.operations import Auth
from vigil_auth.app import AuthService

PASSWORD = "correct-horse-battery"
COMMAND_TIMEOUT_S = 15.0


def rows(table: str) -> list[list[str]]:
    """The rows of a table the CLI printed, under its header line, split into cells."""
    header, *lines = table.strip().splitlines()
    assert header.split()[0] in {"USERNAME", "ID"}, table
    return [line.split() for line in lines]


async def vigil(nats_url: str, prefix: str, *args: str, stdin: str = "") -> Result:
    """Run `python -m vigil_cli ARGS` with only the test's `VIGIL_...` variables."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("VIGIL_")}
    env |= {"VIGIL_NATS_URL": nats_url, "VIGIL_SUBJECT_PREFIX": prefix}
    return await run_vigil(env, *args, stdin=stdin, timeout=COMMAND_TIMEOUT_S)


@dataclass(frozen=True)
class Cli:
    """`vigil` pointed at the test's NATS and subject prefix (the auth service is running)."""

    nats: NatsServer
    prefix: str

    async def __call__(self, *args: str, stdin: str = "") -> Result:
        return await vigil(self.nats.url, self.prefix, *args, stdin=stdin)

    async def add_user(self, username: str, *options: str) -> Result:
        return await self("user", "add", username, *options, "--password-stdin", stdin=PASSWORD)


@pytest.fixture
def cli(auth_service: AuthService, nats_server: NatsServer, prefix: str) -> Cli:
    return Cli(nats_server, prefix)


def succeeded(result: Result) -> Result:
    assert (result.code, result.stderr) == (0, ""), result
    return result


# -- users ---------------------------------------------------------------------------


async def test_user_add_prints_the_new_user_as_a_table_row(
    cli: Cli, nats_server: NatsServer, prefix: str
) -> None:
    result = succeeded(await cli.add_user("alice", "--role", "operator", "--cluster", "prod"))

    [row] = rows(result.stdout)
    assert row[:4] == ["alice", "operator", "prod", "False"]
    # The password came from standard input, whole: alice can log in with it.
    assert (await login(nats_server, prefix, "alice", PASSWORD)).access_token


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


async def test_user_disable_marks_the_user_disabled_and_ends_their_logins(
    cli: Cli, nats_server: NatsServer, prefix: str
) -> None:
    succeeded(await cli.add_user("erin", "--role", "viewer"))

    [row] = rows(succeeded(await cli("user", "disable", "erin")).stdout)

    assert row[:4] == ["erin", "viewer", "-", "True"]
    listed = UserList.model_validate_json(succeeded(await cli("user", "list", "--json")).stdout)
    assert {user.username: user.disabled for user in listed.users} == {
        "admin": False,
        "erin": True,
    }
    with pytest.raises(ctl.Refused) as refused:
        await login(nats_server, prefix, "erin", PASSWORD)
    assert refused.value.code is ErrorCode.INVALID_CREDENTIALS


# -- API keys ------------------------------------------------------------------------


async def verify(nats: NatsServer, prefix: str, api_key: str) -> Principal:
    async with bus_client(nats, prefix) as bus:
        return await ctl.call(bus, Auth.VERIFY_API_KEY, VerifyApiKey(api_key=api_key))


async def test_apikey_create_prints_the_secret_once_and_it_verifies(
    cli: Cli, nats_server: NatsServer, prefix: str
) -> None:
    result = succeeded(
        await cli("apikey", "create", "deploy-bot", "--role", "operator", "--cluster", "prod")
    )

    table, shown_once = result.stdout.strip().split("\n\n")
    notice, secret = shown_once.splitlines()
    [row] = rows(table)
    key_id = row[0]
    assert row[1:4] == ["deploy-bot", "operator", "prod"]
    assert notice == "API key (shown once; keep it secret):"
    assert result.stdout.count(secret) == 1
    assert await verify(nats_server, prefix, secret) == Principal(
        kind="api_key", id=key_id, name="deploy-bot", roles=[Role.OPERATOR], clusters=["prod"]
    )


async def test_apikey_create_with_json_carries_the_secret(
    cli: Cli, nats_server: NatsServer, prefix: str
) -> None:
    result = succeeded(await cli("apikey", "create", "ci", "--expires-in", "30d", "--json"))

    created = ApiKeyCreated.model_validate_json(result.stdout)
    assert created.key.expires_at is not None
    assert (await verify(nats_server, prefix, created.api_key)).id == created.key.id


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


async def test_apikey_revoke_marks_the_key_revoked_and_it_no_longer_verifies(
    cli: Cli, nats_server: NatsServer, prefix: str
) -> None:
    created = ApiKeyCreated.model_validate_json(
        succeeded(await cli("apikey", "create", "old-bot", "--json")).stdout
    )

    [row] = rows(succeeded(await cli("apikey", "revoke", created.key.id)).stdout)

    assert (row[0], row[-1]) == (created.key.id, "True")
    [listed] = rows(succeeded(await cli("apikey", "list")).stdout)
    assert (listed[0], listed[-1]) == (created.key.id, "True")
    with pytest.raises(ctl.Refused) as refused:
        await verify(nats_server, prefix, created.api_key)
    assert refused.value.code is ErrorCode.INVALID_CREDENTIALS


# -- bad input and an unreachable bus ------------------------------------------------


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


async def test_unreachable_nats_exits_2_at_once_saying_so(prefix: str) -> None:
    closed_port = free_port()
    started = time.monotonic()

    result = await vigil(f"nats://127.0.0.1:{closed_port}", prefix, "user", "list")

    assert result.code == 2, result
    expected = f"vigil: could not connect to NATS at nats://127.0.0.1:{closed_port}: "
    assert result.stderr.startswith(expected), result
    assert time.monotonic() - started < 5
