"""Interactive shells (`exec`) in the containers of this replica's Docker host: the
handler of `vigil.operations.Shells.OPEN`, and each session's pumps.

Off unless `VIGIL_EXEC_ENABLED` is set. The request's token is verified before the
handler runs (operator role); the handler checks the caller's grant of this host itself
(a grant names the hosts as it names the clusters), finds the running container, starts
the command with a terminal (the engine's exec, `tty` and `stdin`, hijacked onto a
socket read and written by the event loop), and relays its bytes on the session's
subjects by credit (`vigil.shell_stream`): when the gateway grants no more, this end
stops reading the process's terminal, and the process blocks on its writes. The session
ends when the process exits, when the gateway ends it, or after `exec_idle_s` with no
byte either way.

Each session is two audit events, `container.exec` when it opens (who, where, what
command) and `container.exec_ended` when it ends (how long, how it ended, the bytes each
way), and with `exec_record_input_bytes` a third, `container.exec_input`, with the
first that many bytes typed (off by default: what is typed may hold a password); each
refusal is one `container.exec`, refused.
"""

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.bus import Bus
from vigil.ctl import Refused
from vigil.messages import (
    AuditOutcome,
    ErrorCode,
    OpenShell,
    ShellEnded,
    ShellOpened,
    ShellResize,
)
from vigil.shell_stream import CHUNK_BYTES, ShellStream
from vigil_deployer.actions import find_container, on_engine
from vigil_deployer.errors import StepFailed
from vigil_deployer.settings import DeployerSettings

log = logging.getLogger(__name__)

AUDITED = "container.exec"


@dataclass
class Session:
    request: OpenShell
    caller: Principal
    target: str
    exec_id: str
    terminal: socket.socket
    hijacked: Any  # docker-py's SocketIO around `terminal`: it holds a reference to close
    stream: ShellStream
    started: float
    task: "asyncio.Task[None] | None" = None
    typed: bytearray = field(default_factory=bytearray)  # kept for the audit trail


class ContainerShells:
    """The shells open in the containers of this replica's Docker host."""

    def __init__(
        self,
        bus: Bus,
        settings: DeployerSettings,
        connect: Callable[[], Any],
        trail: AuditTrail,
    ) -> None:
        self._bus = bus
        self._settings = settings
        self._connect = connect  # DockerTarget.connect: the engine's client, made once
        self._trail = trail
        self.sessions: dict[str, Session] = {}
        self._stopping = asyncio.Event()

    async def open(self, request: OpenShell, caller: Principal) -> ShellOpened:
        host = self._settings.host
        target = f"container {host}/{request.container}"
        try:
            if not self._settings.exec_enabled:
                raise Refused(ErrorCode.FORBIDDEN, f"{host}: exec is off (VIGIL_EXEC_ENABLED)")
            if not caller.may_see_cluster(host):
                raise Refused(ErrorCode.FORBIDDEN, f"{caller.name} has no grant for host {host!r}")
            if request.session in self.sessions:
                raise Refused(ErrorCode.CONFLICT, f"session {request.session} is open already")
        except Refused as exc:
            self._trail.refused(AUDITED, caller, exc.message, target=target)
            raise
        try:
            session = await self._start(request, caller)
        except Refused as exc:
            self._trail.record(
                AUDITED, AuditOutcome.FAILED, caller, target=target, detail=exc.message
            )
            raise
        self.sessions[request.session] = session
        session.task = asyncio.create_task(self._run(session), name=f"shell {request.session}")
        command = " ".join(request.command)[:200]
        self._trail.record(
            AUDITED,
            AuditOutcome.DONE,
            caller,
            target=session.target,
            detail=f"session {request.session} opened: {command}",
        )
        return ShellOpened(
            session=request.session,
            host=host,
            container=session.request.container,
            name=session.target.rsplit("/", 1)[-1],
            window=self._settings.exec_window_bytes,
        )

    async def _start(self, request: OpenShell, caller: Principal) -> Session:
        host = self._settings.host
        try:
            client: docker.DockerClient = await self._connect()
        except StepFailed as exc:
            raise Refused(ErrorCode.UNAVAILABLE, f"{host}: {exc.reason}") from None
        container = await find_container(client, host, request.container)
        if container.status != "running":
            raise Refused(ErrorCode.CONFLICT, f"{host}: {container.name} is {container.status}")
        api = client.api
        created = await on_engine(
            host,
            lambda: api.exec_create(
                container.id, request.command, stdin=True, tty=True, environment={"TERM": "xterm"}
            ),
        )
        exec_id = str(created["Id"])
        hijacked = await on_engine(host, lambda: api.exec_start(exec_id, tty=True, socket=True))
        terminal = getattr(hijacked, "_sock", hijacked)  # the socket under docker-py's SocketIO
        if not isinstance(terminal, socket.socket) or isinstance(terminal, ssl.SSLSocket):
            hijacked.close()
            raise Refused(ErrorCode.UNAVAILABLE, f"{host}: exec needs a unix or plain TCP engine")
        try:
            terminal.setblocking(False)
            await self._resize(exec_id, ShellResize(cols=request.cols, rows=request.rows))
            outgoing = self._bus.subjects.shell_output(host, request.session)
            stream = ShellStream(self._bus, outgoing, window=self._settings.exec_window_bytes)
            stream.credit.grant(request.window)
            await stream.listen(self._bus.subjects.shell_input(host, request.session))
        except BaseException:
            hijacked.close()
            terminal.close()
            raise
        request = request.model_copy(update={"container": container.id})
        return Session(
            request,
            caller,
            f"container {host}/{container.name}",
            exec_id,
            terminal,
            hijacked,
            stream,
            time.monotonic(),
        )

    async def _resize(self, exec_id: str, size: ShellResize) -> None:
        client: docker.DockerClient = await self._connect()
        with contextlib.suppress(Refused):  # a process that is gone has no terminal to size
            await on_engine(
                self._settings.host,
                lambda: client.api.exec_resize(exec_id, height=size.rows, width=size.cols),
            )

    async def _run(self, session: Session) -> None:
        stream = session.stream
        output = asyncio.create_task(self._output(session))
        peer = asyncio.create_task(self._input(session))
        idle = asyncio.create_task(stream.idle(self._settings.exec_idle_s))
        stopping = asyncio.create_task(self._stopping.wait())
        tasks = (output, peer, idle, stopping)
        told: ShellEnded | None = None  # what this end tells the gateway
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if peer.done() and peer.exception() is None:
                ended = peer.result()  # the gateway ended it: nothing to tell
            elif stopping.done():
                ended = told = ShellEnded(reason="closed", detail="the deployer stopped")
            else:
                ended = told = await self._ending(session, output, idle)
        except Exception as exc:  # a bug must still end the session and be recorded
            log.error("shell %s failed", session.request.session, exc_info=exc)
            ended = told = ShellEnded(reason="failed", detail=type(exc).__name__)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            session.hijacked.close()
            session.terminal.close()
            self.sessions.pop(session.request.session, None)
        await stream.close(told)
        self._record_end(session, ended)

    async def _ending(
        self, session: Session, output: "asyncio.Task[None]", idle: "asyncio.Task[None]"
    ) -> ShellEnded:
        if idle.done():
            limit = self._settings.exec_idle_s
            return ShellEnded(reason="idle", detail=f"no byte either way for {limit:g} s")
        if output.exception() is not None:
            return ShellEnded(reason="failed", detail=f"the terminal broke: {output.exception()}")
        client: docker.DockerClient = await self._connect()
        exit_code = None
        with contextlib.suppress(Refused):
            inspected = await on_engine(
                self._settings.host, lambda: client.api.exec_inspect(session.exec_id)
            )
            exit_code = inspected.get("ExitCode")
        return ShellEnded(reason="exited", exit_code=exit_code)

    async def _output(self, session: Session) -> None:
        """The terminal's bytes to the gateway, as its credit allows; returns at the end
        of the terminal (the process exited)."""
        loop = asyncio.get_running_loop()
        stream = session.stream
        while True:
            # Read no more than may be sent: what the gateway has not granted stays in
            # the terminal, and the process blocks on its writes.
            size = min(await stream.credit.available(), CHUNK_BYTES)
            data = await loop.sock_recv(session.terminal, size)
            if not data:
                return
            await stream.send(data)

    async def _input(self, session: Session) -> ShellEnded:
        """The gateway's bytes to the terminal, and its resizes; returns when it ends."""
        loop = asyncio.get_running_loop()
        stream = session.stream
        while True:
            received = await stream.receive()
            if isinstance(received, ShellEnded):
                return received
            if isinstance(received, ShellResize):
                await self._resize(session.exec_id, received)
                continue
            await loop.sock_sendall(session.terminal, received)
            await stream.consumed(len(received))
            if room := self._settings.exec_record_input_bytes - len(session.typed):
                session.typed += received[:room]

    def _record_end(self, session: Session, ended: ShellEnded) -> None:
        lasted = time.monotonic() - session.started
        how: str = ended.reason
        if ended.exit_code is not None:
            how += f" (exit code {ended.exit_code})"
        if ended.detail:
            how += f": {ended.detail}"
        stream = session.stream
        self._trail.record(
            "container.exec_ended",
            AuditOutcome.DONE if ended.reason != "failed" else AuditOutcome.FAILED,
            session.caller,
            target=session.target,
            detail=f"session {session.request.session} {how} after {lasted:.1f} s; "
            f"{stream.received} bytes in, {stream.sent} bytes out",
        )

        if self._settings.exec_record_input_bytes:
            typed = session.typed.decode(errors="replace")
            self._trail.record(
                "container.exec_input",
                AuditOutcome.DONE,
                session.caller,
                target=session.target,
                detail=f"session {session.request.session} typed "
                f"({len(session.typed)} bytes kept): {typed}",
            )

    async def close(self) -> None:
        """End every session (the replica stops): each is told and recorded."""
        self._stopping.set()
        running = [s.task for s in self.sessions.values() if s.task is not None]
        await asyncio.gather(*running, return_exceptions=True)
