"""Real parts for the notifier's tests and bench: the notifier (a task or a process), a
webhook receiver that checks signatures, an SMTP server (aiosmtpd), alerts to publish."""

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support import NatsServer, free_port, wait_for
from vigil import ctl
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.lifecycle import stop_task
from vigil.messages import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    AlertChanged,
    AlertState,
    ChannelDraft,
    ChannelView,
    CreateChannel,
)
from vigil.operations import Notify
from vigil_notifier.app import NotifierService, build_app
from vigil_notifier.settings import NotifierSettings

WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"
SMTP_USER = "vigil"
SMTP_PASSWORD = "smtp-pass-9f8e7d6c"

# Fast enough for tests: a failed attempt is retried within a second, a replica that
# died is noticed after 3 s.
FAST = {
    "send_timeout_s": 2.0,
    "ack_wait_s": 3.0,
    "retry_backoff_s": [0.2, 0.5, 1.0],
    "max_attempts": 60,
}


def notifier_settings_for(nats: NatsServer, prefix: str, **overrides: Any) -> NotifierSettings:
    values = {**nats.service(ServiceRole.NOTIFIER, prefix), **FAST}
    return NotifierSettings(**(values | overrides))


@contextlib.asynccontextmanager
async def run_notifier(settings: NotifierSettings) -> AsyncIterator[NotifierService]:
    """The notifier built by `build_app`, as a task; yields it once it takes alerts."""
    service = build_app(settings)
    task = asyncio.create_task(service.run())
    try:
        await wait_for(lambda: service.ready.is_set() or task.done(), "the notifier", 30)
        if task.done():
            task.result()
        yield service
    finally:
        await stop_task(task)


class NotifierProcess:
    """`python -m vigil_notifier` as production runs it, which a test may SIGKILL."""

    def __init__(self, nats: NatsServer, prefix: str, **overrides: Any) -> None:
        env = {**os.environ, **nats.service_env(ServiceRole.NOTIFIER, prefix)}
        for name, value in (FAST | overrides).items():
            text = json.dumps(value) if isinstance(value, list) else str(value)
            env[f"VIGIL_NOTIFIER_{name.upper()}"] = text
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        env = {**self.env, "VIGIL_NOTIFIER_PROBE_PORT": str(port)}
        return subprocess.Popen(
            [sys.executable, "-m", "vigil_notifier"], env=env, start_new_session=True
        )

    async def start(self) -> None:
        """Start it; return once its probe says it is ready (connected, taking alerts)."""
        port = free_port()
        self.process = self._spawn(port)
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while True:
                assert self.process.poll() is None, "the notifier exited at start"
                assert time.monotonic() < deadline, "the notifier was not ready in 30 s"
                with contextlib.suppress(httpx.HTTPError):
                    answer = await http.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    if answer.status_code == 200:
                        return
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


# -- a webhook receiver ------------------------------------------------------------------


@dataclass
class Received:
    delivery: str
    payload: Any
    at: float  # time.monotonic()


@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that takes signed webhook calls: a bad signature is
    answered 401 and counted; `hold` leaves the calls unanswered (they are not taken)."""

    secret: str = WEBHOOK_SECRET
    port: int = field(default_factory=free_port)
    accepted: list[Received] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    hold: bool = False
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/T0KEN-in-the-path?key=query-secret-123"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Down: the port refuses connections (and open ones are cut)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()  # its handler reads the end and returns
        await wait_for(lambda: not self._writers, "the receiver's connections to close")
        if server is not None:
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        delivery = headers.get(DELIVERY_HEADER.lower(), "")
        if not hmac.compare_digest(headers.get(SIGNATURE_HEADER.lower(), ""), expected):
            self.bad_signatures += 1
            status = "401 Unauthorized"
        elif self.hold:
            self.held.append(delivery)
            await reader.read()  # until the sender goes away
            return False
        else:
            self.accepted.append(Received(delivery, json.loads(body), time.monotonic()))
            status = "200 OK"
        writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        return True

    def payloads(self) -> list[Any]:
        return [received.payload for received in self.accepted]


@contextlib.asynccontextmanager
async def webhook_receiver(**options: Any) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(**options)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


# -- an SMTP server ----------------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        self.messages.append(message_from_bytes(content))
        return "250 OK"


def _login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[str, list[EmailMessage]]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that wants a login; yields the Apprise
    URL that reaches it and the messages it takes."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=_login, auth_require_tls=False
    )
    controller.start()
    url = (
        f"mailto://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{port}"
        "?from=vigil@example.com&to=ops@example.com&mode=insecure"
    )
    try:
        yield url, inbox.messages
    finally:
        controller.stop()


# -- alerts and channels -----------------------------------------------------------------


def alert(n: int, state: AlertState = AlertState.RAISED, host: str = "h1") -> AlertChanged:
    return AlertChanged(
        id=f"host:{host}:cpu:{n}",
        state=state,
        source="host",
        host=host,
        metric="cpu",
        value=97.5,
        threshold=90.0,
        time=datetime.now(UTC),
        message=f"CPU at 97.5 % on {host} ({n})",
    )


async def publish(bus: Bus, changed: AlertChanged) -> None:
    await bus.publish(bus.subjects.alerts(changed.source), changed)


async def add_channel(bus: Bus, token: str, draft: dict[str, Any]) -> ChannelView:
    request = CreateChannel(channel=ChannelDraft.model_validate(draft))
    return await ctl.call(bus, Notify.CREATE, request, token=token)


def webhook_draft(receiver: WebhookReceiver, **more: Any) -> dict[str, Any]:
    target = {"kind": "webhook", "url": receiver.url, "secret": receiver.secret}
    return {"name": "hook", "target": target | more.pop("target", {}), **more}
