"""Keeping processes running: start them, print their output, restart them, stop them.

Each child runs in its own session, hence its own process group: a Ctrl-C at the
terminal reaches only the supervisor, which then stops the children in the order it
chooses. Signals go to a child's whole group, and whatever is left of the group when
the child exits is killed, so nothing a child started outlives it.
"""

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from vigil_cli.backoff import Backoff
from vigil_cli.console import OWN_SOURCE, Console
from vigil_cli.errors import SpawnFailed

MAX_LINE_BYTES: Final = 64 * 1024
"""A longer line of output is printed in pieces of this size."""
OUTPUT_DRAIN_TIMEOUT: Final = 2.0
"""How long the output of a process that exited may take to reach the console."""
KILL_TIMEOUT: Final = 5.0
"""How long to wait for a process to die after SIGKILL before giving up on it."""


@dataclass(frozen=True)
class ChildSpec:
    """A process to keep running; `name` prefixes its output lines."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None
    """The whole environment of the process; None inherits ours."""


@dataclass(frozen=True)
class ChildStarted:
    name: str
    pid: int


@dataclass(frozen=True)
class ChildExited:
    name: str
    pid: int
    returncode: int | None
    """None when the process could not be killed."""
    uptime: float


ChildEvent = ChildStarted | ChildExited
EventHook = Callable[[ChildEvent], None]


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "could not be killed"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name} (exit code {returncode})"
    return f"exited with code {returncode}"


class Child:
    """One supervised process, restarted with backoff whenever it dies, until stopped."""

    def __init__(
        self,
        spec: ChildSpec,
        *,
        console: Console,
        backoff: Backoff,
        stop_timeout: float,
        on_event: EventHook | None,
    ) -> None:
        self.spec = spec
        self.exit_count = 0
        """How many times a process of this child has exited."""
        self.last_returncode: int | None = None
        self._console = console
        self._backoff = backoff
        self._stop_timeout = stop_timeout
        self._on_event = on_event
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        """The pid of the running process, if there is one."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    async def start(self) -> None:
        """Start the first process; raises `SpawnFailed` if the system refuses."""
        try:
            process = await self._spawn()
        except OSError as exc:
            raise SpawnFailed(self.name, str(exc)) from exc
        self._task = asyncio.create_task(self._supervise(process), name=f"supervise {self.name}")

    async def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after the stop timeout; no more restarts."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    def kill(self) -> None:
        """SIGKILL the process group at once; no more restarts. Returns without waiting."""
        self._stopping.set()
        if (pid := self.pid) is not None:
            _signal_group(pid, signal.SIGKILL)

    async def _spawn(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *self.spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=None if self.spec.env is None else dict(self.spec.env),
            start_new_session=True,
        )
        self._process = process
        self._console.line(OWN_SOURCE, f"{self.name} started (pid {process.pid})")
        self._emit(ChildStarted(self.name, process.pid))
        return process

    async def _supervise(self, first: asyncio.subprocess.Process) -> None:
        loop = asyncio.get_running_loop()
        process: asyncio.subprocess.Process | None = first
        failures = 0
        while True:
            started_at = loop.time()
            returncode: int | None = None
            if process is None:
                outcome = "could not be started"
            else:
                returncode = await self._run(process)
                outcome = describe_exit(returncode)
            if self._stopping.is_set():
                clean = returncode in (0, -signal.SIGTERM)
                self._console.line(
                    OWN_SOURCE, f"{self.name} stopped" + ("" if clean else f" ({outcome})")
                )
                return
            if loop.time() - started_at >= self._backoff.reset_after:
                failures = 0
            delay = self._backoff.delay(failures)
            failures += 1
            self._console.line(OWN_SOURCE, f"{self.name} {outcome}; restarting in {delay:g} s")
            if await self._stopped_within(delay):
                return
            try:
                process = await self._spawn()
            except OSError as exc:
                self._console.line(OWN_SOURCE, f"{self.name} could not be started: {exc}")
                process = None

    async def _run(self, process: asyncio.subprocess.Process) -> int | None:
        """Watch `process` until it exits (or is stopped); print its output meanwhile."""
        loop = asyncio.get_running_loop()
        started_at = loop.time()
        pumps = [
            asyncio.create_task(self._pump(stream), name=f"output of {self.name}")
            for stream in (process.stdout, process.stderr)
            if stream is not None
        ]
        returncode = await self._wait(process)
        # Whatever the process left in its group would hold our pipes open and live
        # on unsupervised: kill it. (While members remain, the kernel keeps the group's
        # id from being reused; with none left, this finds no group.)
        _signal_group(process.pid, signal.SIGKILL)
        await _drain(pumps)
        self.exit_count += 1
        self.last_returncode = returncode
        self._emit(ChildExited(self.name, process.pid, returncode, loop.time() - started_at))
        return returncode

    async def _wait(self, process: asyncio.subprocess.Process) -> int | None:
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not exited.done():
            _signal_group(process.pid, signal.SIGTERM)
            await asyncio.wait({exited}, timeout=self._stop_timeout)
        if not exited.done():
            self._console.line(
                OWN_SOURCE, f"{self.name} did not stop within {self._stop_timeout:g} s; killing it"
            )
            _signal_group(process.pid, signal.SIGKILL)
            await asyncio.wait({exited}, timeout=KILL_TIMEOUT)
        if not exited.done():
            exited.cancel()
            return None
        return exited.result()

    async def _stopped_within(self, delay: float) -> bool:
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except TimeoutError:
            return False
        return True

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        pending = b""
        while chunk := await stream.read(MAX_LINE_BYTES):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._print(line)
            while len(pending) >= MAX_LINE_BYTES:
                self._print(pending[:MAX_LINE_BYTES])
                pending = pending[MAX_LINE_BYTES:]
        if pending:
            self._print(pending)

    def _print(self, line: bytes) -> None:
        self._console.line(self.name, line.decode(errors="replace").rstrip("\r"))

    def _emit(self, event: ChildEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)


class Supervisor:
    """The children of one `vigil up`, by name."""

    def __init__(
        self,
        console: Console,
        *,
        backoff: Backoff | None = None,
        stop_timeout: float = 10.0,
        on_event: EventHook | None = None,
    ) -> None:
        self._console = console
        self._backoff = backoff or Backoff()
        self._stop_timeout = stop_timeout
        self._on_event = on_event
        self._children: dict[str, Child] = {}

    def __getitem__(self, name: str) -> Child:
        return self._children[name]

    async def start(self, spec: ChildSpec) -> Child:
        """Start `spec`'s process and keep it running; raises `SpawnFailed`."""
        if spec.name in self._children:
            raise ValueError(f"a child named {spec.name!r} is already supervised")
        child = Child(
            spec,
            console=self._console,
            backoff=self._backoff,
            stop_timeout=self._stop_timeout,
            on_event=self._on_event,
        )
        self._children[spec.name] = child
        try:
            await child.start()
        except BaseException:
            del self._children[spec.name]
            raise
        return child

    async def stop(self, names: Iterable[str]) -> None:
        """Stop the named children, all at once, and wait until they have exited."""
        children = [self._children[name] for name in names if name in self._children]
        await asyncio.gather(*(child.stop() for child in children))

    async def stop_all(self) -> None:
        await self.stop(list(self._children))

    def kill_all(self) -> None:
        """SIGKILL every child at once (a second Ctrl-C); `stop` then returns quickly."""
        for child in self._children.values():
            child.kill()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _drain(pumps: list[asyncio.Task[None]]) -> None:
    """Let the output of an exited process reach the console, for a bounded time."""
    if not pumps:
        return
    _, late = await asyncio.wait(pumps, timeout=OUTPUT_DRAIN_TIMEOUT)
    for pump in late:
        pump.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)
