"""Running the `vigil` command as a real process against a gateway: with its own config
file and environment, to the end, or in the background to be read and interrupted."""

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

COMMAND_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def environment(config: Path, url: str | None = None) -> dict[str, str]:
    """This test's `VIGIL_...` variables only (and no terminal width games)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("VIGIL_")}
    env |= {"VIGIL_CONFIG": str(config), "COLUMNS": "200"}
    if url is not None:
        env["VIGIL_URL"] = url
    return env


async def _start(env: dict[str, str], args: tuple[str, ...]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vigil_cli",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,  # no controlling terminal: prompts read standard input
    )


async def vigil(
    env: dict[str, str], *args: str, stdin: str = "", timeout: float = COMMAND_TIMEOUT_S
) -> Result:
    """`vigil ARGS` to its end."""
    process = await _start(env, args)
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await process.communicate(stdin.encode())
    except TimeoutError:
        process.kill()
        stdout, stderr = await process.communicate()
        raise AssertionError(
            f"vigil {' '.join(args)} ran past {timeout}s; stdout: {stdout.decode()!r}, "
            f"stderr: {stderr.decode()!r}"
        ) from None
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())


class Running:
    """A `vigil` process in the background: its output as it comes, then an interrupt."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def read_until(
        self, done: Callable[[list[str]], bool], what: str, timeout: float = 20.0
    ) -> list[str]:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while not done(self.lines):
            left = deadline - time.monotonic()
            try:
                line = await asyncio.wait_for(self.process.stdout.readline(), max(left, 0.01))
            except TimeoutError:
                raise AssertionError(f"timed out waiting for {what}: {self.lines[-5:]}") from None
            if not line:
                stderr = await self._stderr()
                raise AssertionError(f"vigil ended before {what}: {stderr}")
            self.lines.append(line.decode().rstrip("\n"))
        return self.lines

    async def _stderr(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode()

    async def interrupt(self) -> Result:
        """Ctrl-C; the exit status, the rest of stdout, all of stderr."""
        self.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(COMMAND_TIMEOUT_S):
            stdout, stderr = await self.process.communicate()
        assert self.process.returncode is not None
        return Result(self.process.returncode, stdout.decode(), stderr.decode())


@contextlib.asynccontextmanager
async def running(env: dict[str, str], *args: str) -> AsyncIterator[Running]:
    process = await _start(env, args)
    try:
        yield Running(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
