"""An interactive shell in a container or a pod's container, through the gateway
(`vigil exec`; `open_shell`, `open_pod_shell`): one
WebSocket whose binary frames are the terminal's bytes both ways, and whose text frames
are control (`resize` from here; `opened` first and `ended` last from the gateway).

The shell's output is read as it comes (`output`); what is not read stays in the
gateway's flow control, not in memory here (the socket reads no further ahead than
its small queue).
"""

import contextlib
import json
from collections.abc import AsyncIterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from vigil.messages import ShellEnded, ShellOpened, ShellResize
from vigil_client import routes
from vigil_client.errors import ConnectionRefused, Unreachable
from vigil_client.session import Session

OPEN_TIMEOUT_S = 20.0  # the deployer finds the container and starts the command first
MAX_FRAME_BYTES = 1 << 20


class Shell:
    def __init__(self, ws: ClientConnection, opened: ShellOpened) -> None:
        self._ws = ws
        self.opened = opened
        self.ended: ShellEnded | None = None
        """How it ended, once `output` is over (None: the socket broke first)."""

    async def write(self, data: bytes) -> None:
        """Type `data` (a keystroke, a line, Ctrl-C as b"\\x03")."""
        await self._ws.send(data)

    async def resize(self, cols: int, rows: int) -> None:
        await self._ws.send(ShellResize(cols=cols, rows=rows).model_dump_json())

    async def output(self) -> AsyncIterator[bytes]:
        """The terminal's bytes until the shell ends (`ended` says how)."""
        with contextlib.suppress(ConnectionClosed):
            async for frame in self._ws:
                if isinstance(frame, bytes):
                    yield frame
                elif json.loads(frame).get("type") == "ended":
                    self.ended = ShellEnded.model_validate_json(frame)
                    return


@contextlib.asynccontextmanager
async def open_shell(
    session: Session,
    host: str,
    container: str,
    command: list[str],
    *,
    cols: int = 80,
    rows: int = 24,
) -> AsyncIterator[Shell]:
    """A shell running `command` in `container` of `host`, open until the block ends;
    `ConnectionRefused` (the close code and reason) when the gateway or the deployer
    will not open it, `Unreachable` when the gateway does not answer."""
    url = routes.shell_url(session.base_url, host, container, command, cols, rows)
    async with _opened(session, url) as shell:
        yield shell


@contextlib.asynccontextmanager
async def open_pod_shell(
    session: Session,
    cluster: str,
    namespace: str,
    pod: str,
    command: list[str],
    *,
    container: str | None = None,
    cols: int = 80,
    rows: int = 24,
) -> AsyncIterator[Shell]:
    """A shell running `command` in `container` of pod `namespace/pod` of `cluster` (its
    first container without one), open until the block ends; raises as `open_shell`."""
    url = routes.pod_shell_url(
        session.base_url, cluster, namespace, pod, container, command, cols, rows
    )
    async with _opened(session, url) as shell:
        yield shell


@contextlib.asynccontextmanager
async def _opened(session: Session, url: str) -> AsyncIterator[Shell]:
    """The shell of socket `url`, once the gateway said it opened."""
    try:
        ws = await connect(
            url,
            additional_headers=session.headers(),
            open_timeout=OPEN_TIMEOUT_S,
            max_size=MAX_FRAME_BYTES,
            user_agent_header="vigil-client",
        )
    except (InvalidStatus, InvalidHandshake, TimeoutError, OSError) as exc:
        raise Unreachable(session.base_url, f"no shell socket: {exc}") from None
    try:
        try:
            first = await ws.recv()
        except ConnectionClosed as exc:
            close = exc.rcvd
            raise ConnectionRefused(
                close.code if close else 1006, close.reason if close else "closed"
            ) from None
        said = json.loads(first) if isinstance(first, str) else {}
        if said.pop("type", None) != "opened":
            raise ConnectionRefused(1002, "the gateway did not say the shell opened")
        yield Shell(ws, ShellOpened.model_validate(said))
    finally:
        await ws.close()
