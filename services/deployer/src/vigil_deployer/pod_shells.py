"""Interactive shells (`exec`) in the pods of this replica's cluster: the handler of
`vigil.operations.Shells.OPEN_POD` (who may, the pumps, the end and the audit trail:
`vigil_deployer.shell_sessions`) and the API server's terminal.

The handler reads the pod (it must run, and have the container asked for; its first
when none is), and starts the command with a terminal over the API server's exec
WebSocket (`kubernetes.stream.stream`, `tty` and `stdin`): channel 0 is the input, 1
the output (a terminal merges 2 into it), 3 the exit status and 4 the size. The client
blocks: each terminal reads one frame at a time in a thread of its own (one per shell,
so shells never wait for the default pool), only when the session has credit, so a
slow gateway backs the output up to the process; it holds at most one frame beyond.
Its audit events are `pod.exec`, `pod.exec_ended` and `pod.exec_input`, the target
`pod {cluster}/{namespace}/{pod}`.
"""

import asyncio
import contextlib
import json
import select
import ssl
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vigil.audit_trail import AuditTrail
from vigil.bus import Bus
from vigil.ctl import Refused
from vigil.messages import ErrorCode, OpenPodShell, ShellResize
from vigil_deployer.actions import on_cluster
from vigil_deployer.settings import DeployerSettings
from vigil_deployer.shell_sessions import ShellSessions, Started

_STDIN, _STDOUT, _STDERR, _STATUS, _RESIZE = 0, 1, 2, 3, 4
_POLL_S = 0.2  # how soon a reading thread sees that its terminal is closing


class ApiServerTerminal:
    """A pod exec's terminal: the `kubernetes` client's WebSocket to the API server, read
    one frame at a time (its `update` reads every frame already there, without bound)."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws  # kubernetes.stream.ws_client.WSClient, binary
        self._pending = b""  # output read off the socket, beyond what was asked for
        self._status = b""  # channel 3: the exit status, sent last
        self._ended = False  # the API server closed the exec
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pod-shell")
        self._closing = False

    async def read(self, size: int) -> bytes:
        if not self._pending:
            loop = asyncio.get_running_loop()
            self._pending = await loop.run_in_executor(self._reader, self._next_output)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def _next_output(self) -> bytes:
        """Blocking: the next frame of output, waiting for one; empty once it ended."""
        from websocket import ABNF

        sock = self._ws.sock  # websocket-client's WebSocket
        while not self._closing and not self._ended:
            if not _readable(sock.sock, _POLL_S):
                continue
            opcode, frame = sock.recv_data_frame(True)
            if opcode == ABNF.OPCODE_CLOSE:
                self._ended = True
            elif opcode in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT) and frame.data:
                channel, data = frame.data[0], bytes(frame.data[1:])
                if channel in (_STDOUT, _STDERR) and data:
                    return data
                if channel == _STATUS:
                    self._status += data
        return b""

    async def write(self, data: bytes) -> None:
        await asyncio.to_thread(self._ws.write_channel, _STDIN, data)

    async def resize(self, size: ShellResize) -> None:
        from websocket import WebSocketException

        body = json.dumps({"Width": size.cols, "Height": size.rows}).encode()
        with contextlib.suppress(WebSocketException, OSError):  # the process is gone
            await asyncio.to_thread(self._ws.write_channel, _RESIZE, body)

    async def exit_code(self) -> int | None:
        """From the status the API server sends last on channel 3."""
        try:
            status = json.loads(self._status)
            if status["status"] == "Success":
                return 0
            causes = status["details"]["causes"]
            return next(int(c["message"]) for c in causes if c.get("reason") == "ExitCode")
        except (ValueError, KeyError, TypeError, StopIteration):
            return None

    async def close(self) -> None:
        self._closing = True
        # The reading thread sees it within _POLL_S; only then is the socket closed.
        await asyncio.to_thread(self._reader.shutdown, wait=True)
        await asyncio.to_thread(self._close_socket)

    def _close_socket(self) -> None:
        """Blocking: the close handshake, and the socket closed even when the API server
        ended first (the client then skips closing it)."""
        self._ws.close()
        if self._ws.sock is not None:
            self._ws.sock.shutdown()


def _readable(sock: Any, timeout_s: float) -> bool:
    """Blocking: whether `sock` has bytes to read (a TLS socket may hold some decrypted
    already, which select does not see), waiting up to `timeout_s`."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    readable, _, _ = select.select([sock], [], [], timeout_s)
    return bool(readable)


class PodShells(ShellSessions[OpenPodShell]):
    """The shells open in the pods of this replica's cluster."""

    kind = "pod"
    place = "cluster"

    def __init__(self, bus: Bus, settings: DeployerSettings, api: Any, trail: AuditTrail) -> None:
        super().__init__(bus, settings, trail)
        self._api = api  # KubernetesTarget: its core() and exec_core() APIs

    def _target(self, request: OpenPodShell) -> str:
        return f"pod {self._settings.host}/{request.namespace}/{request.pod}"

    async def _start(self, request: OpenPodShell) -> Started:
        cluster = self._settings.host
        where = f"pod {request.namespace}/{request.pod}"
        pod = await on_cluster(
            cluster, where, self._api.core().read_namespaced_pod, request.pod, request.namespace
        )
        names = [c.name for c in pod.spec.containers]
        container = request.container or names[0]
        if container not in names:
            raise Refused(
                ErrorCode.NOT_FOUND,
                f"{cluster}: {where} has no container {container!r} ({', '.join(names)})",
            )
        if (phase := pod.status.phase) != "Running":
            raise Refused(ErrorCode.CONFLICT, f"{cluster}: {where} is {phase}")
        ws = await on_cluster(cluster, where, self._connect, request, container)
        return Started(
            ApiServerTerminal(ws),
            target=self._target(request),
            container=container,
            name=f"{request.namespace}/{request.pod}",
        )

    def _connect(self, request: OpenPodShell, container: str) -> Any:
        """Blocking: the exec's WebSocket."""
        from kubernetes.stream import stream

        return stream(
            self._api.exec_core().connect_get_namespaced_pod_exec,
            request.pod,
            request.namespace,
            command=request.command,
            container=container,
            stdin=True,
            stdout=True,
            stderr=True,
            tty=True,
            binary=True,
            _preload_content=False,
        )
