"""An interactive shell in a container, or in a pod's container, over one WebSocket:
`/ws/docker/{host}/containers/{container}/exec?cmd=sh&cols=80&rows=24`, or
`/ws/k8s/{cluster}/namespaces/{namespace}/pods/{pod}/exec?container=C&cmd=sh` (the
pod's first container without `container`).

Off unless `VIGIL_EXEC_ENABLED` is set. The handshake is admitted as every socket's
(origin, limits, credentials: `session.admission`); then the caller must be allowed to
exec (`Principal.may_exec`) and granted the `host` or `cluster` (a grant names hosts as
it names clusters). Each refusal closes the socket with 1008 (4001 for credentials) and
a reason, and is audited (`container.exec`, or `pod.exec`). The gateway picks a session
id, listens on its output subject, and asks the deployer of the host or cluster to open
it (`Shells.OPEN` or `Shells.OPEN_POD`, with the caller's token: the deployer checks
the permission, the grant and its own `VIGIL_EXEC_ENABLED` again, starts the command
and records the session).

On the socket: binary frames are the terminal's bytes, both ways; text frames are
control: the client sends `{"type": "resize", "cols": C, "rows": R}`; the gateway sends
`{"type": "opened", ...}` (`ShellOpened`) first and `{"type": "ended", "reason": ...}`
(`ShellEnded`) last, then closes with 1000. The bytes travel by credit
(`vigil.shell_stream`): the gateway grants the deployer more output only once the
socket took what came, so a slow client backs the output up to the process, and one
shell holds at most `exec_window_bytes` here beyond its socket's send buffer. The
session ends when the process exits, when either side closes, or after `exec_idle_s`
with no byte either way (the deployer has its own limit too), or when the caller's
credentials are revoked (closed with 4001, as every socket of theirs).
"""

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from vigil import ctl
from vigil.access import Principal
from vigil.errors import BusUnavailable, InvalidName, NoResponder
from vigil.messages import (
    CloseCode,
    ErrorCode,
    OpenPodShell,
    OpenShell,
    ShellEnded,
    ShellOpened,
    ShellResize,
)
from vigil.operations import Operation, Shells
from vigil.shell_stream import ShellStream
from vigil_gateway.access.credentials import read_credentials
from vigil_gateway.errors import AuthUnavailable, InvalidCredentials, MissingCredentials
from vigil_gateway.replica.gateway import Gateway

CONTAINER_PATH = "/ws/docker/{host}/containers/{container}/exec"
POD_PATH = "/ws/k8s/{cluster}/namespaces/{namespace}/pods/{pod}/exec"

OpenRequest = OpenShell | OpenPodShell


class _Refused(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        self.code = code
        self.reason = reason


def register(app: FastAPI, gateway: Gateway) -> None:
    @app.websocket(CONTAINER_PATH)
    async def container_shell(websocket: WebSocket, host: str, container: str) -> None:
        def request(spec: dict[str, Any]) -> OpenShell:
            return OpenShell(**spec, host=host, container=container)

        target = f"container {host[:63]}/{container[:128]}"
        await _serve(gateway, websocket, Shells.OPEN, request, target)

    @app.websocket(POD_PATH)
    async def pod_shell(websocket: WebSocket, cluster: str, namespace: str, pod: str) -> None:
        def request(spec: dict[str, Any]) -> OpenPodShell:
            container = websocket.query_params.get("container")
            return OpenPodShell(
                **spec, cluster=cluster, namespace=namespace, pod=pod, container=container
            )

        target = f"pod {cluster[:63]}/{namespace[:63]}/{pod[:253]}"
        await _serve(gateway, websocket, Shells.OPEN_POD, request, target)


async def _serve(
    gateway: Gateway,
    websocket: WebSocket,
    operation: Operation[Any, ShellOpened],
    build: Callable[[dict[str, Any]], OpenRequest],
    target: str,
) -> None:
    """Admit the socket, open the shell `build` asks for, relay it until it ends; each
    refusal closed and audited (`container.exec` or `pod.exec`, as `target` begins)."""
    decision = await gateway.sessions.admit(websocket)
    if decision is None:
        return
    address = websocket.client.host if websocket.client else None
    try:
        request = _admitted(gateway, websocket, decision, operation, build)
        token = await _bus_token(gateway, websocket)
    except _Refused as exc:
        audited = f"{target.split(' ', 1)[0]}.exec"
        gateway.audit.refused(audited, decision, exc.reason, target=target, address=address)
        await websocket.close(exc.code, exc.reason[:120])
        return
    await Shell(gateway, websocket, operation, request, decision).run(token)


def _admitted(
    gateway: Gateway,
    websocket: WebSocket,
    principal: Principal,
    operation: Operation[Any, ShellOpened],
    build: Callable[[dict[str, Any]], OpenRequest],
) -> OpenRequest:
    """The request that opens the shell the socket asks for, if its caller may have it."""
    policy = CloseCode.POLICY_VIOLATION
    if not gateway.settings.exec_enabled:
        raise _Refused(policy, "exec is off on this gateway (VIGIL_EXEC_ENABLED)")
    if len(gateway.shells) >= (most := gateway.settings.exec_max_shells):
        raise _Refused(CloseCode.TRY_LATER, f"this gateway holds its maximum of {most} shells")
    if not principal.may_exec():
        raise _Refused(policy, principal.exec_refusal())
    query = websocket.query_params
    try:
        request = build(
            {
                "session": secrets.token_hex(16),
                "command": query.getlist("cmd") or ["sh"],
                "cols": query.get("cols", "80"),  # validated as an int
                "rows": query.get("rows", "24"),
                "window": gateway.settings.exec_window_bytes,
            }
        )
    except (ValidationError, InvalidName) as exc:
        problem = ctl.first_problem(exc) if isinstance(exc, ValidationError) else str(exc)
        raise _Refused(policy, problem) from None
    where = _where(operation, request)
    if not principal.may_see_cluster(where):
        place = "host" if isinstance(request, OpenShell) else "cluster"
        raise _Refused(policy, f"{principal.name} has no grant for {place} {where!r}")
    return request


def _where(operation: Operation[Any, ShellOpened], request: OpenRequest) -> str:
    """The host or cluster the shell is in: where its deployer is, and its subjects' token."""
    assert operation.route is not None  # both shell operations are routed
    return operation.route(request)


async def _bus_token(gateway: Gateway, websocket: WebSocket) -> str:
    try:
        return await gateway.identity.bus_token(read_credentials(websocket))
    except (MissingCredentials, InvalidCredentials) as exc:
        reason = exc.reason if isinstance(exc, InvalidCredentials) else str(exc)
        raise _Refused(CloseCode.INVALID_CREDENTIALS, reason) from None
    except AuthUnavailable as exc:
        raise _Refused(CloseCode.TRY_LATER, exc.reason) from None


class Shell:
    """One shell's socket, relayed to and from its session's subjects."""

    def __init__(
        self,
        gateway: Gateway,
        websocket: WebSocket,
        operation: Operation[Any, ShellOpened],
        request: OpenRequest,
        principal: Principal,
    ) -> None:
        self._gateway = gateway
        self._websocket = websocket
        self._operation = operation
        self._request = request
        self._where = _where(operation, request)
        self.principal = principal
        self._closing = asyncio.Event()
        self._close: tuple[CloseCode, str] = (CloseCode.NORMAL, "")
        subjects = gateway.bus.subjects
        self.stream = ShellStream(
            gateway.bus,
            subjects.shell_input(self._where, request.session),
            window=request.window,
        )

    async def run(self, token: str) -> None:
        self._gateway.shells.add(self)  # counted from the start: see `exec_max_shells`
        try:
            await self._run(token)
        finally:
            self._gateway.shells.discard(self)

    async def _run(self, token: str) -> None:
        websocket, request = self._websocket, self._request
        subjects = self._gateway.bus.subjects
        # Listening first: the shell's first bytes (its prompt) may come before the answer.
        await self.stream.listen(subjects.shell_output(self._where, request.session))
        try:
            opened = await ctl.call(self._gateway.bus, self._operation, request, token=token)
        except (ctl.Refused, NoResponder, BusUnavailable) as exc:
            await self.stream.close()
            code, reason = _refusal(self._where, exc)
            await websocket.close(code, reason[:120])
            return
        self.stream.credit.grant(opened.window)
        await websocket.send_text('{"type":"opened",' + opened.model_dump_json()[1:])
        ended, tell = await self._relay()
        await self.stream.close(ended if tell else None)
        code, reason = self._close
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # the client went first
            await websocket.send_text(ended.model_dump_json())
            await websocket.close(code, reason or ended.reason)

    def close(self, code: CloseCode, reason: str) -> None:
        """End the shell from this side (its credentials were revoked): the deployer is
        told, the socket closed with `code`."""
        self._close = (code, reason)
        self._closing.set()

    async def _relay(self) -> tuple[ShellEnded, bool]:
        """Until the session ends: how, and whether the deployer is still to be told."""
        output = asyncio.create_task(self._output())
        client = asyncio.create_task(self._input())
        idle = asyncio.create_task(self.stream.idle(self._gateway.settings.exec_idle_s))
        closing = asyncio.create_task(self._closing.wait())
        tasks = (output, client, idle, closing)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if closing.done() and not closing.cancelled():
            return ShellEnded(reason="closed", detail=self._close[1]), True
        if output.done() and not output.cancelled() and output.exception() is None:
            return output.result(), False  # the deployer ended it
        if idle.done() and not idle.cancelled():
            limit = self._gateway.settings.exec_idle_s
            return ShellEnded(reason="idle", detail=f"no byte either way for {limit:g} s"), True
        if client.done() and not client.cancelled() and client.exception() is None:
            return client.result(), True
        return ShellEnded(reason="failed", detail="the gateway's relay broke"), True

    async def _output(self) -> ShellEnded:
        """The deployer's bytes to the socket; returns when the deployer ends it."""
        while True:
            received = await self.stream.receive()
            if isinstance(received, ShellEnded):
                return received
            if isinstance(received, bytes):
                await self._websocket.send_bytes(received)  # waits while the socket is full
                await self.stream.consumed(len(received))

    async def _input(self) -> ShellEnded:
        """The client's bytes and resizes to the deployer; returns when the client closes
        (or sends what is not a resize)."""
        while True:
            message = await self._websocket.receive()
            if message["type"] == "websocket.disconnect":
                return ShellEnded(reason="closed", detail="the client closed its socket")
            if (data := message.get("bytes")) is not None:
                await self.stream.send(data)
            elif (text := message.get("text")) is not None:
                try:
                    resize = ShellResize.model_validate_json(text)
                except ValidationError as exc:
                    detail = f"a text frame must be a resize: {ctl.first_problem(exc)}"
                    return ShellEnded(reason="closed", detail=detail)
                await self.stream.control(resize)


def _refusal(where: str, exc: Exception) -> tuple[CloseCode, str]:
    """The close that says why the deployer did not open the shell."""
    if isinstance(exc, ctl.Refused):
        busy = exc.code in (ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED)
        return (CloseCode.TRY_LATER if busy else CloseCode.POLICY_VIOLATION), exc.message
    if isinstance(exc, NoResponder):
        return CloseCode.POLICY_VIOLATION, f"no deployer serves {where!r}"
    return CloseCode.TRY_LATER, f"the deployer of {where!r} did not answer"
