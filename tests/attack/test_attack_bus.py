"""Attacks on the bus itself: who may connect, what each role may touch, and what a
request that reaches a service proves.

Each attacker is a real NATS client against the real (operator-mode) server, with the
creds a compromised service of that role would hold, or none; the services are the
real ones. NATS must refuse what the role does not need (a permissions violation, and
no answer), and a request that NATS lets through must still be refused by the service
that performs it unless it carries a verified token of a user allowed to ask.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client, RawCredentials

from tests import forgery
from tests.support import NatsServer, bus_client, user_token
from vigil import ctl
from vigil.access import Role
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.busauth.trust import Trust
from vigil.ctl import TOKEN_HEADER
from vigil.messages import CtlReply, ErrorCode, ListUsers, OpenShell
from vigil.operations import Auth, History, Notify, Shells
from vigil.streams import (
    DEPLOYS,
    HISTORY_MARKS,
    LATEST,
    LOGS,
    LOGS_KEPT,
    NOTIFY_CHANNELS,
    SIGNING_KEYS,
    USERS,
)
from vigil.subjects import ANY, Subjects
from vigil_auth.app import AuthService

pytestmark = pytest.mark.bus_refusals

HOST = "testhost"
SESSION = "5e" * 16
REFUSAL_WAIT_S = 1.0
ROLES = (
    ServiceRole.AUTH,
    ServiceRole.COLLECTOR,
    ServiceRole.DEPLOYER,
    ServiceRole.GATEWAY,
    ServiceRole.HISTORY,
    ServiceRole.NOTIFIER,
)


@dataclass
class Attacker:
    """A raw NATS client; `refused` collects what the server said no to."""

    nc: Client
    refused: list[str] = field(default_factory=list)

    async def _was_refused(self, subject: str, what: str) -> bool:
        """Whether the server refused `what` ("publish" or "subscription") to `subject`:
        the same subject may be refused one way and allowed the other."""
        deadline = asyncio.get_running_loop().time() + REFUSAL_WAIT_S
        quoted = f'{what} to "{subject.lower()}"'
        while asyncio.get_running_loop().time() < deadline:
            if any(quoted in refusal.lower() for refusal in self.refused):
                return True
            await asyncio.sleep(0.02)
        return False

    async def may_publish(self, subject: str) -> bool:
        await self.nc.publish(subject, b"{}")
        await self.nc.flush()
        return not await self._was_refused(subject, "publish")

    async def may_subscribe(self, subject: str) -> bool:
        subscription = await self.nc.subscribe(subject)
        await self.nc.flush()
        refused = await self._was_refused(subject, "subscription")
        with contextlib.suppress(nats.errors.Error):
            await subscription.unsubscribe()
        return not refused

    async def ask(self, subject: str, body: dict[str, Any], token: str | None) -> CtlReply:
        headers = {TOKEN_HEADER: token} if token else None
        reply = await self.nc.request(subject, json.dumps(body).encode(), 5, headers=headers)
        return CtlReply.model_validate_json(reply.data)


@contextlib.asynccontextmanager
async def attacker(
    server: NatsServer, creds: str, inbox: str = "_INBOX"
) -> AsyncIterator[Attacker]:
    refused: list[str] = []

    async def error(exc: Exception) -> None:
        refused.append(str(exc))

    nc = await nats.connect(
        server.url,
        user_credentials=RawCredentials(creds),
        inbox_prefix=inbox,
        error_cb=error,
        allow_reconnect=False,
        max_reconnect_attempts=1,
    )
    try:
        yield Attacker(nc, refused)
    finally:
        await nc.close()


def role_creds(server: NatsServer, role: ServiceRole, prefix: str) -> str:
    host = HOST if role in (ServiceRole.COLLECTOR, ServiceRole.DEPLOYER) else None
    subjects = Subjects(prefix)
    if host is None:
        return server.trust.service_creds(role, subjects)
    return server.trust.service_creds(role, subjects, host=host)


# -- who may connect -----------------------------------------------------------------


async def refused_at_connect(server: NatsServer, **options: Any) -> str:
    """Why the server refuses a client that logs in with `options`."""
    nc = Client()
    try:
        await nc.connect(server.url, allow_reconnect=False, max_reconnect_attempts=1, **options)
    except nats.errors.Error as exc:
        return str(exc)
    finally:
        await nc.close()  # nats-py leaves a refused socket open otherwise
    raise AssertionError("the server let the client in")


async def test_an_anonymous_client_is_refused(nats_server: NatsServer) -> None:
    assert "Authorization Violation" in await refused_at_connect(nats_server)


async def test_creds_of_another_operator_are_refused(nats_server: NatsServer, prefix: str) -> None:
    stranger = Trust.new().service_creds(ServiceRole.GATEWAY, Subjects(prefix))
    reason = await refused_at_connect(nats_server, user_credentials=RawCredentials(stranger))
    assert "Authorization Violation" in reason


# -- what each role may touch ----------------------------------------------------------


def crown_jewels(prefix: str) -> list[tuple[str, str, set[ServiceRole]]]:
    """(what, 'pub:subject' or 'sub:subject', the roles that may): the things worth
    stealing or forging, and who alone may touch each."""
    s = Subjects(prefix)
    signing = SIGNING_KEYS.stream(s)
    users = USERS.stream(s)
    deploys = DEPLOYS.stream(s)
    logs = LOGS.stream(s)
    latest = LATEST.stream(s)
    kept = LOGS_KEPT.stream(s)
    signing_bucket = s.stream_name(SIGNING_KEYS.base_name)
    auth = {ServiceRole.AUTH}
    channels = NOTIFY_CHANNELS.stream(s)
    notifier = {ServiceRole.NOTIFIER}
    deployer = {ServiceRole.DEPLOYER}
    shell = OpenShell(session=SESSION, host=HOST, container="web")
    return [
        (
            "read the signing keys",
            f"pub:$JS.API.DIRECT.GET.{signing}.$KV.{signing_bucket}.ring",
            auth,
        ),
        ("read the signing keys", f"pub:$JS.API.STREAM.MSG.GET.{signing}", auth),
        ("watch the signing keys", f"pub:$JS.API.CONSUMER.CREATE.{signing}", auth),
        ("sniff the signing keys", f"sub:$KV.{signing_bucket}.>", set()),
        ("read the password hashes", f"pub:$JS.API.STREAM.MSG.GET.{users}", auth),
        ("write a user", f"pub:$KV.{s.stream_name(USERS.base_name)}.mallory", auth),
        (
            "read deploy specs (secrets)",
            f"pub:$JS.API.STREAM.MSG.GET.{deploys}",
            {ServiceRole.DEPLOYER},
        ),
        (
            "read every container's logs",
            f"pub:$JS.API.CONSUMER.CREATE.{logs}",
            {ServiceRole.GATEWAY, ServiceRole.HISTORY},  # the history: log search
        ),
        (
            "read every retained container's kept logs",
            f"pub:$JS.API.CONSUMER.CREATE.{kept}",
            {ServiceRole.HISTORY},  # the log search; gateways ask it
        ),
        (
            "read where this host's kept logs end (their last batch)",
            f"pub:$JS.API.DIRECT.GET.{kept}.{s.kept_docker_logs(HOST, 'web')}",
            {ServiceRole.COLLECTOR, ServiceRole.HISTORY},  # the collector: to go on after it
        ),
        (
            "read the last kept batch of another host's",
            f"pub:$JS.API.DIRECT.GET.{kept}.{s.kept_docker_logs('otherhost', 'web')}",
            {ServiceRole.HISTORY},
        ),
        ("read any kept batch", f"pub:$JS.API.DIRECT.GET.{kept}", {ServiceRole.HISTORY}),
        ("read a kept batch by seq", f"pub:$JS.API.STREAM.MSG.GET.{kept}", {ServiceRole.HISTORY}),
        ("forge another host's kept logs", f"pub:{s.kept_docker_logs('otherhost', 'web')}", set()),
        (
            "publish this host's kept logs",
            f"pub:{s.kept_docker_logs(HOST, 'web')}",
            {ServiceRole.COLLECTOR},
        ),
        (
            "publish a cluster's kept pod logs",
            f"pub:{s.kept_k8s_logs('prod', 'shop', 'web')}",
            {ServiceRole.COLLECTOR},  # of every cluster: creds without `clusters`
        ),
        ("source a stream into another", f"pub:$JS.API.STREAM.UPDATE.{latest}", set()),
        ("make a stream", f"pub:$JS.API.STREAM.CREATE.{prefix.upper()}_MALLORY", set()),
        ("delete a stream", f"pub:$JS.API.STREAM.DELETE.{latest}", set()),
        ("answer logins (harvest passwords)", f"sub:{Auth.LOGIN.subject(s)}", auth),
        ("intercept every request", f"sub:{prefix}.ctl.>", set()),
        ("read others' replies", "sub:_INBOX.>", set()),
        ("create a user", f"pub:{Auth.CREATE_USER.subject(s)}", {ServiceRole.GATEWAY}),
        ("forge a deploy's journal", f"pub:{s.deploy_events('d1')}", {ServiceRole.DEPLOYER}),
        ("queue a deploy", f"pub:{s.deploy_queue(HOST)}", {ServiceRole.DEPLOYER}),
        ("ask a user to confirm", f"pub:{s.ask_user('u1')}", {ServiceRole.DEPLOYER}),
        ("forge another host's metrics", f"pub:{s.host_metrics('otherhost')}", set()),
        ("forge this host's metrics", f"pub:{s.host_metrics(HOST)}", {ServiceRole.COLLECTOR}),
        ("forge another host's journal", f"pub:{s.journal_logs('otherhost', 'all')}", set()),
        (
            "publish this host's journal",
            f"pub:{s.journal_logs(HOST, 'all')}",
            {ServiceRole.COLLECTOR},
        ),
        ("forge a revocation", f"pub:{s.auth_revoked()}", auth),
        ("forge a raw sample's copy", f"pub:{s.raw_metrics_copy(s.host_metrics(HOST))}", set()),
        ("forge a roll-up", f"pub:{s.history('s60', 'docker', HOST)}", {ServiceRole.HISTORY}),
        ("ask for history", f"pub:{History.QUERY.subject(s)}", {ServiceRole.GATEWAY}),
        (
            "move a roll-up's watermark",
            f"pub:$KV.{s.stream_name(HISTORY_MARKS.base_name)}.s60.docker.{HOST}",
            {ServiceRole.HISTORY},
        ),
        (
            "forge a session (close others' sockets)",
            f"pub:{s.gateway_sessions()}",
            {ServiceRole.GATEWAY},
        ),
        (
            "forge a gateway replica's sample (raise or hide its alerts)",
            f"pub:{s.gateway_sampled('gw-1')}",
            {ServiceRole.GATEWAY},
        ),
        ("watch the gateway replicas' samples", f"sub:{s.gateway_sampled(ANY)}", set()),
        ("forge an alert as the gateway", f"pub:{s.alerts('gateway')}", set()),
        ("read the channels' secrets", f"pub:$JS.API.STREAM.MSG.GET.{channels}", notifier),
        ("watch the channels' secrets", f"pub:$JS.API.CONSUMER.CREATE.{channels}", notifier),
        (
            "write a channel (send alerts elsewhere)",
            f"pub:$KV.{s.stream_name(NOTIFY_CHANNELS.base_name)}.mallory",
            notifier,
        ),
        ("answer channel requests", f"sub:{Notify.LIST.subject(s)}", notifier),
        ("ask for a channel", f"pub:{Notify.CREATE.subject(s)}", {ServiceRole.GATEWAY}),
        ("open a shell", f"pub:{Shells.OPEN.subject_of(s, shell)}", {ServiceRole.GATEWAY}),
        ("answer shell openings", f"sub:{Shells.OPEN.subject(s, HOST)}", deployer),
        ("type into a shell", f"pub:{s.shell_input(HOST, SESSION)}", {ServiceRole.GATEWAY}),
        ("read what is typed into a shell", f"sub:{s.shell_input(HOST, SESSION)}", deployer),
        ("read what is typed on another host", f"sub:{s.shell_input('otherhost', SESSION)}", set()),
        ("forge a shell's output", f"pub:{s.shell_output(HOST, SESSION)}", deployer),
        ("forge another host's shell", f"pub:{s.shell_output('otherhost', SESSION)}", set()),
        ("read a shell's output", f"sub:{s.shell_output(HOST, SESSION)}", {ServiceRole.GATEWAY}),
    ]


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.value)
async def test_each_role_touches_only_what_it_needs(
    nats_server: NatsServer, prefix: str, role: ServiceRole
) -> None:
    nats_server.provision(prefix)
    wrong: list[str] = []
    async with attacker(nats_server, role_creds(nats_server, role, prefix), role.inbox_prefix) as a:
        for what, action, allowed in crown_jewels(prefix):
            kind, subject = action.split(":", 1)
            may = await (a.may_publish(subject) if kind == "pub" else a.may_subscribe(subject))
            if may != (role in allowed):
                wrong.append(f"{role} {'may' if may else 'may not'} {what} ({action})")
    assert not wrong, "\n".join(wrong)


async def test_a_collector_of_some_clusters_touches_only_their_pods_logs_and_statuses(
    nats_server: NatsServer, prefix: str
) -> None:
    s = Subjects(prefix)
    kept = LOGS_KEPT.stream(s)
    creds = nats_server.trust.service_creds(ServiceRole.COLLECTOR, s, host=HOST, clusters=["alpha"])
    async with attacker(nats_server, creds, ServiceRole.COLLECTOR.inbox_prefix) as a:
        for cluster, allowed in (("alpha", True), ("beta", False)):
            for subject in (
                s.kept_k8s_logs(cluster, "shop", "web"),
                s.k8s_logs(cluster, "shop", "web-1"),
                s.k8s_status(cluster, "shop", "web-1"),
                f"$JS.API.DIRECT.GET.{kept}.{s.kept_k8s_logs(cluster, 'shop', 'web')}",
            ):
                assert await a.may_publish(subject) == allowed, subject


# -- what a request proves to the service that performs it ------------------------------


async def test_no_bus_client_can_mint_an_admin_without_an_admins_token(
    nats_server: NatsServer, prefix: str, auth_service: AuthService, admin_token: str
) -> None:
    async with bus_client(nats_server, prefix) as bus:
        viewer = await user_token(bus, admin_token, "vic", Role.VIEWER, [])
    expired = forgery.claims(exp=1, iat=0, nbf=0)
    attempts = {
        "no token": None,
        "a viewer's token": viewer,
        "a forged admin token": forgery.signed(forgery.claims()),
        "an unsigned admin token": forgery.unsigned(forgery.claims()),
        "an expired forged token": forgery.signed(expired),
        "garbage": "not-a-jwt",
    }
    creds = role_creds(nats_server, ServiceRole.GATEWAY, prefix)
    draft = {"username": "mallory", "password": "mallory-password", "roles": ["admin"]}
    subject = Auth.CREATE_USER.subject(Subjects(prefix))
    async with attacker(nats_server, creds, ServiceRole.GATEWAY.inbox_prefix) as a:
        for what, token in attempts.items():
            reply = await a.ask(subject, draft, token)
            assert not reply.ok, what
            assert reply.error is not None
            expected = ErrorCode.FORBIDDEN if token == viewer else ErrorCode.INVALID_CREDENTIALS
            assert reply.error.code is expected, (what, reply.error)
    async with bus_client(nats_server, prefix) as bus:
        users = await ctl.call(bus, Auth.LIST_USERS, ListUsers(), token=admin_token)
    assert "mallory" not in [user.username for user in users.users]


async def test_a_service_bus_client_cannot_read_the_signing_keys_even_through_jetstream(
    nats_server: NatsServer, prefix: str, auth_service: AuthService
) -> None:
    """What the outside attack did (`kv.get` of the ring), with every other role's creds."""
    for role in (ServiceRole.COLLECTOR, ServiceRole.DEPLOYER, ServiceRole.GATEWAY):
        settings = nats_server.harness(prefix).model_copy(
            update={"nats_creds": nats_server.creds(role_creds(nats_server, role, prefix))}
        )
        bus = Bus(settings, name=f"mallory-{role}", role=role)
        await bus.connect(keep_trying=False)
        try:
            bucket = Subjects(prefix).stream_name(SIGNING_KEYS.base_name)
            with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                await bus.js.key_value(bucket)
            with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                await bus.js.get_last_msg(f"KV_{bucket}", f"$KV.{bucket}.ring")
            assert bus.permission_violations >= 1, role
        finally:
            await bus.close()
