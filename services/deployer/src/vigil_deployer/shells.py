"""Interactive shells (`exec`) in the containers of this replica's Docker host: the
handler of `vigil.operations.Shells.OPEN` (who may, the pumps, the end and the audit
trail: `vigil_deployer.shell_sessions`) and the engine's terminal.

The handler finds the running container and starts the command with a terminal (the
engine's exec, `tty` and `stdin`, hijacked onto a socket read and written by the event
loop). Its audit events are `container.exec`, `container.exec_ended` and
`container.exec_input`.
"""

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import Any

import docker

from vigil.audit_trail import AuditTrail
from vigil.bus import Bus
from vigil.ctl import Refused
from vigil.messages import ErrorCode, OpenShell, ShellResize
from vigil_deployer.actions import find_container, on_engine
from vigil_deployer.errors import StepFailed
from vigil_deployer.settings import DeployerSettings
from vigil_deployer.shell_sessions import ShellSessions, Started


class EngineTerminal:
    """A Docker exec's terminal: the engine's hijacked socket, read and written by the
    event loop; resized and inspected through the engine's API."""

    def __init__(
        self,
        host: str,
        client: docker.DockerClient,
        exec_id: str,
        terminal: socket.socket,
        hijacked: Any,  # docker-py's SocketIO around `terminal`: it holds a reference to close
    ) -> None:
        self._host = host
        self._client = client
        self._exec_id = exec_id
        self._terminal = terminal
        self._hijacked = hijacked

    async def read(self, size: int) -> bytes:
        return await asyncio.get_running_loop().sock_recv(self._terminal, size)

    async def write(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self._terminal, data)

    async def resize(self, size: ShellResize) -> None:
        api = self._client.api
        with contextlib.suppress(Refused):  # a process that is gone has no terminal to size
            await on_engine(
                self._host,
                lambda: api.exec_resize(self._exec_id, height=size.rows, width=size.cols),
            )

    async def exit_code(self) -> int | None:
        api = self._client.api
        with contextlib.suppress(Refused):
            inspected = await on_engine(self._host, lambda: api.exec_inspect(self._exec_id))
            code = inspected.get("ExitCode")
            return int(code) if code is not None else None
        return None

    async def close(self) -> None:
        self._hijacked.close()
        self._terminal.close()


class ContainerShells(ShellSessions[OpenShell]):
    """The shells open in the containers of this replica's Docker host."""

    kind = "container"
    place = "host"

    def __init__(
        self,
        bus: Bus,
        settings: DeployerSettings,
        connect: Callable[[], Any],
        trail: AuditTrail,
    ) -> None:
        super().__init__(bus, settings, trail)
        self._connect = connect  # DockerTarget.connect: the engine's client, made once

    def _target(self, request: OpenShell) -> str:
        return f"container {self._settings.host}/{request.container}"

    async def _start(self, request: OpenShell) -> Started:
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
        terminal.setblocking(False)
        return Started(
            EngineTerminal(host, client, exec_id, terminal, hijacked),
            target=f"container {host}/{container.name}",
            container=container.id or "",
            name=container.name or "",
        )
