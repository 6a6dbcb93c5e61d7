"""The shells a deployer replica holds, whatever runs them: who may open one, each
session's pumps between a process's terminal and the gateway, its end, and its audit
events. `vigil_deployer.shells` opens them in Docker containers, `pod_shells` in pods.

Off unless `VIGIL_EXEC_ENABLED` is set. The request's token is verified before the
handler runs; the handler checks that the caller may exec (`Principal.may_exec`) and
holds a grant of this replica's host or cluster, starts the command with a terminal,
and relays its bytes on the session's subjects by credit (`vigil.shell_stream`): when
the gateway grants no more, this end stops reading the process's terminal, and the
process blocks on its writes. The session ends when the process exits, when the
gateway ends it, or after `exec_idle_s` with no byte either way.

Each session is two audit events, `{kind}.exec` when it opens (who, where, what
command) and `{kind}.exec_ended` when it ends (how long, how it ended, the bytes each
way), and with `exec_record_input_bytes` a third, `{kind}.exec_input`, with the first
that many bytes typed (off by default: what is typed may hold a password); each refusal
is one `{kind}.exec`, refused. `kind` is `container` or `pod`.
"""

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.bus import Bus
from vigil.ctl import Refused
from vigil.messages import AuditOutcome, ErrorCode, ShellEnded, ShellOpened, ShellResize
from vigil.messages.shell import ShellSpec
from vigil.shell_stream import CHUNK_BYTES, ShellStream
from vigil_deployer.settings import DeployerSettings

log = logging.getLogger(__name__)

Request = TypeVar("Request", bound=ShellSpec)


class Terminal(Protocol):
    """A running command's terminal, as a session's pumps use it."""

    async def read(self, size: int) -> bytes:
        """Up to `size` bytes of output, waiting for some; empty once the process ended."""

    async def write(self, data: bytes) -> None: ...

    async def resize(self, size: ShellResize) -> None: ...

    async def exit_code(self) -> int | None:
        """The process's exit code, once it ended (None when it cannot be known)."""

    async def close(self) -> None: ...


@dataclass
class Started:
    """What starting a command gave: its terminal, and what the session names."""

    terminal: Terminal
    target: str  # the audit trail's target: "container host/name", "pod cluster/ns/pod"
    container: str  # ShellOpened.container
    name: str  # ShellOpened.name


@dataclass
class Session:
    request: ShellSpec
    caller: Principal
    target: str
    terminal: Terminal
    stream: ShellStream
    started: float
    task: "asyncio.Task[None] | None" = None
    typed: bytearray = field(default_factory=bytearray)  # kept for the audit trail


class ShellSessions(ABC, Generic[Request]):
    """The shells open on this replica; a subclass starts the commands (`_start`)."""

    kind: str  # "container" or "pod": the audit events' prefix
    place: str  # "host" or "cluster": what this replica serves, in refusals

    def __init__(self, bus: Bus, settings: DeployerSettings, trail: AuditTrail) -> None:
        self._bus = bus
        self._settings = settings
        self._trail = trail
        self.sessions: dict[str, Session] = {}
        self._stopping = asyncio.Event()

    @abstractmethod
    def _target(self, request: Request) -> str:
        """The audit trail's target of a request, before anything is looked up."""

    @abstractmethod
    async def _start(self, request: Request) -> Started:
        """Run the request's command with a terminal; `Refused` when it cannot."""

    async def open(self, request: Request, caller: Principal) -> ShellOpened:
        host = self._settings.host
        audited = f"{self.kind}.exec"
        target = self._target(request)
        try:
            if not self._settings.exec_enabled:
                raise Refused(ErrorCode.FORBIDDEN, f"{host}: exec is off (VIGIL_EXEC_ENABLED)")
            if not caller.may_exec():
                raise Refused(ErrorCode.FORBIDDEN, caller.exec_refusal())
            if not caller.may_see_cluster(host):
                reason = f"{caller.name} has no grant for {self.place} {host!r}"
                raise Refused(ErrorCode.FORBIDDEN, reason)
            if request.session in self.sessions:
                raise Refused(ErrorCode.CONFLICT, f"session {request.session} is open already")
        except Refused as exc:
            self._trail.refused(audited, caller, exc.message, target=target)
            raise
        try:
            started = await self._start(request)
            stream = await self._stream(request, started.terminal)
        except Refused as exc:
            self._trail.record(
                audited, AuditOutcome.FAILED, caller, target=target, detail=exc.message
            )
            raise
        session = Session(
            request, caller, started.target, started.terminal, stream, time.monotonic()
        )
        self.sessions[request.session] = session
        session.task = asyncio.create_task(self._run(session), name=f"shell {request.session}")
        command = " ".join(request.command)[:200]
        self._trail.record(
            audited,
            AuditOutcome.DONE,
            caller,
            target=session.target,
            detail=f"session {request.session} opened: {command}",
        )
        return ShellOpened(
            session=request.session,
            host=host,
            container=started.container,
            name=started.name,
            window=self._settings.exec_window_bytes,
        )

    async def _stream(self, request: Request, terminal: Terminal) -> ShellStream:
        """The session's end of the byte stream, sized and listening; the terminal
        closed if it cannot be."""
        host = self._settings.host
        try:
            await terminal.resize(ShellResize(cols=request.cols, rows=request.rows))
            outgoing = self._bus.subjects.shell_output(host, request.session)
            stream = ShellStream(self._bus, outgoing, window=self._settings.exec_window_bytes)
            stream.credit.grant(request.window)
            await stream.listen(self._bus.subjects.shell_input(host, request.session))
        except BaseException:
            await terminal.close()
            raise
        return stream

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
            await session.terminal.close()
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
        return ShellEnded(reason="exited", exit_code=await session.terminal.exit_code())

    async def _output(self, session: Session) -> None:
        """The terminal's bytes to the gateway, as its credit allows; returns at the end
        of the terminal (the process exited)."""
        stream = session.stream
        while True:
            # Read no more than may be sent: what the gateway has not granted stays in
            # the terminal, and the process blocks on its writes.
            size = min(await stream.credit.available(), CHUNK_BYTES)
            data = await session.terminal.read(size)
            if not data:
                return
            await stream.send(data)

    async def _input(self, session: Session) -> ShellEnded:
        """The gateway's bytes to the terminal, and its resizes; returns when it ends."""
        stream = session.stream
        while True:
            received = await stream.receive()
            if isinstance(received, ShellEnded):
                return received
            if isinstance(received, ShellResize):
                await session.terminal.resize(received)
                continue
            await session.terminal.write(received)
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
            f"{self.kind}.exec_ended",
            AuditOutcome.DONE if ended.reason != "failed" else AuditOutcome.FAILED,
            session.caller,
            target=session.target,
            detail=f"session {session.request.session} {how} after {lasted:.1f} s; "
            f"{stream.received} bytes in, {stream.sent} bytes out",
        )

        if self._settings.exec_record_input_bytes:
            typed = session.typed.decode(errors="replace")
            self._trail.record(
                f"{self.kind}.exec_input",
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
