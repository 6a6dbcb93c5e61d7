"""Child processes of `bench/fanout.py`: started, pinned, talked to, and always ended.

Every child gets PR_SET_PDEATHSIG (it dies with the benchmark, however that ends) and
optionally a CPU set: the server under test on the first CPU, the load on the others.
Children speak one JSON object per line on stdout (`{"event": ...}`) and take
commands on stdin; their stderr goes to a log file per child.
"""

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from vigil.errors import BusUnavailable
from vigil.provision import provision
from vigil.settings import VigilSettings

PR_SET_PDEATHSIG = 1

Process = asyncio.subprocess.Process


class BenchError(RuntimeError):
    """A part of the benchmark did not start, answer or finish in time."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid` in ns (cpu_times() counts 10 ms ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


class Children:
    """Every child process; all of them are killed on the way out, whatever happened."""

    def __init__(self, logs: Path, pin: bool) -> None:
        self.logs = logs
        cpus = sorted(os.sched_getaffinity(0))
        self.cpus = {"server": {cpus[0]}, "load": set(cpus[1:])} if pin and len(cpus) > 1 else {}
        self.procs: list[tuple[str, Process]] = []

    async def start(
        self, name: str, argv: list[str], *, role: str = "load", env: dict[str, str] | None = None
    ) -> Process:
        cpus = self.cpus.get(role)

        def prepare() -> None:  # in the child, before exec
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if cpus:
                os.sched_setaffinity(0, cpus)

        log = (self.logs / f"{name}.log").open("ab")
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            preexec_fn=prepare,
            limit=2**24,
        )
        log.close()
        self.procs.append((name, proc))
        return proc

    async def stop(self, proc: Process, within_s: float = 5.0) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), within_s)
            except TimeoutError:
                # It may exit between the timeout and the kill: asyncio then says
                # ProcessLookupError, and it has stopped all the same.
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    async def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            await self.stop(proc)

    def kill_all(self) -> None:
        for _, proc in self.procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def read_event(proc: Process, event: str, within_s: float) -> Any:
    assert proc.stdout is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), deadline - loop.time())
        except TimeoutError:
            raise BenchError(f"no {event!r} from pid {proc.pid} within {within_s:.0f} s") from None
        if not line:
            raise BenchError(f"pid {proc.pid} exited before {event!r} ({await proc.wait()})")
        message = json.loads(line)
        if message["event"] == event:
            return message


def tell(procs: list[Process], command: str) -> None:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{command}\n".encode())


async def wait_http(url: str, deadline_s: float, proc: Process) -> None:
    async with httpx.AsyncClient() as http:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise BenchError(f"{url}: the server exited ({proc.returncode})")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise BenchError(f"{url} not ready within {deadline_s} s")


async def provision_when_up(settings: VigilSettings, within_s: float = 15.0) -> None:
    """The streams of `settings`' prefix, made as the provisioner makes them, once the
    bench's private NATS server (just started) answers."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            await provision(settings)
            return
        except BusUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
