"""`vigil up`: the supervisor, its signal handling, and `make up` with the real services."""

import asyncio
import contextlib
import io
import json
import os
import signal
import socket
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Generic, TypeVar

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.cli_support import vigil
from tests.support import free_port, port_open
from vigil_cli import local_stack
from vigil_cli.__main__ import main
from vigil_cli.backoff import Backoff
from vigil_cli.console import Console
from vigil_cli.signals import SAME_INTERRUPT_WITHIN
from vigil_cli.supervisor import ChildEvent, ChildExited, ChildSpec, ChildStarted, Supervisor

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_LINE_LIMIT = 1024 * 1024

T = TypeVar("T")


class Recorder(Generic[T]):
    """Items as they arrive; a test waits, with a deadline, until they satisfy a condition."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self._changed = asyncio.Event()

    def append(self, item: T) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait_for(self, condition: Callable[[list[T]], bool], within: float) -> None:
        async with asyncio.timeout(within):
            while not condition(self.items):
                self._changed.clear()
                await self._changed.wait()


class RecordingConsole(Console):
    def __init__(self) -> None:
        super().__init__(io.StringIO(), width=9)
        self.lines: Recorder[tuple[str, str]] = Recorder()

    def line(self, source: str, text: str) -> None:
        super().line(source, text)
        self.lines.append((source, text))


def is_alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (dead, waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}


def processes_with_env(entry: str) -> list[int]:
    """Pids of the live processes whose environment contains `entry` ("NAME=value")."""
    wanted = entry.encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


async def eventually(condition: Callable[[], bool], within: float) -> bool:
    """Poll a condition of the OS (which sends no event) until it holds or time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def kill_processes_with_env(entry: str) -> None:
    for pid in processes_with_env(entry):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def collect_lines(stream: asyncio.StreamReader, lines: Recorder[str]) -> None:
    while raw := await stream.readline():
        lines.append(raw.decode(errors="replace").rstrip("\n"))


def python(code: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code, *args)


# -- the supervisor ----------------------------------------------------------------------


def test_backoff_doubles_from_one_second_up_to_thirty() -> None:
    backoff = Backoff()

    assert [backoff.delay(failures) for failures in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.reset_after == 30


def test_console_prefixes_every_line_with_its_aligned_source() -> None:
    out = io.StringIO()
    console = Console(out, width=9)

    console.line("gateway", "listening")
    console.line("nats", "ready")
    console.close()

    assert out.getvalue() == "gateway   | listening\nnats      | ready\n"


async def test_a_child_that_exits_is_reported_and_restarted_with_growing_backoff() -> None:
    console = RecordingConsole()
    events: Recorder[ChildEvent] = Recorder()
    supervisor = Supervisor(
        console, backoff=Backoff(initial=0.05, maximum=0.1), on_event=events.append
    )
    code = "print('hello from flaky'); raise SystemExit(3)"

    def started_three_times(items: list[ChildEvent]) -> bool:
        return sum(isinstance(event, ChildStarted) for event in items) >= 3

    try:
        await supervisor.start(ChildSpec("flaky", python(code)))
        await events.wait_for(started_three_times, within=20)
    finally:
        await supervisor.stop_all()
        console.close()

    started = [event.pid for event in events.items if isinstance(event, ChildStarted)]
    exits = [event for event in events.items if isinstance(event, ChildExited)]
    assert len(set(started)) == len(started) >= 3
    assert [event.returncode for event in exits[:2]] == [3, 3]
    lines = console.lines.items
    assert ("flaky", "hello from flaky") in lines
    assert ("vigil", "flaky exited with code 3; restarting in 0.05 s") in lines
    assert ("vigil", "flaky exited with code 3; restarting in 0.1 s") in lines


async def test_a_child_that_ran_long_enough_restarts_after_the_initial_delay() -> None:
    console = RecordingConsole()
    events: Recorder[ChildEvent] = Recorder()
    supervisor = Supervisor(
        console,
        backoff=Backoff(initial=0.05, maximum=10, reset_after=0.2),
        on_event=events.append,
    )
    code = "import time; time.sleep(0.3); raise SystemExit(1)"

    def exited_twice(items: list[ChildEvent]) -> bool:
        return sum(isinstance(event, ChildExited) for event in items) >= 2

    try:
        await supervisor.start(ChildSpec("steady", python(code)))
        await events.wait_for(exited_twice, within=20)
    finally:
        await supervisor.stop_all()
        console.close()

    reports = [text for source, text in console.lines.items if "restarting" in text]
    assert reports[:2] == ["steady exited with code 1; restarting in 0.05 s"] * 2


async def test_stop_ends_children_their_process_groups_and_stubborn_ones() -> None:
    console = RecordingConsole()
    supervisor = Supervisor(console, stop_timeout=0.5)
    stubborn = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print('grandchild', child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    polite = "import time; print('ready', flush=True); time.sleep(600)"

    def both_ready(lines: list[tuple[str, str]]) -> bool:
        sources = {source for source, text in lines if text.startswith(("grandchild", "ready"))}
        return sources == {"stubborn", "polite"}

    try:
        stubborn_pid = (await supervisor.start(ChildSpec("stubborn", python(stubborn)))).pid
        polite_pid = (await supervisor.start(ChildSpec("polite", python(polite)))).pid
        await console.lines.wait_for(both_ready, within=20)
    finally:
        await supervisor.stop_all()
        console.close()

    grandchild_pid = next(
        int(text.split()[1]) for source, text in console.lines.items if source == "stubborn"
    )
    pids = [pid for pid in (stubborn_pid, polite_pid, grandchild_pid) if pid is not None]
    assert len(pids) == 3
    assert await eventually(lambda: not any(map(is_alive, pids)), within=5)
    assert ("vigil", "stubborn did not stop within 0.5 s; killing it") in console.lines.items
    assert ("vigil", "polite stopped") in console.lines.items


# -- signals, through `serve` with a stack of stand-ins -------------------------------------

# The same `serve` as `vigil up`, on a stack of stand-ins: "bus" listens on a TCP port
# (as nats-server), "web" answers HTTP (as the gateway), "stubborn" ignores SIGTERM and
# leaves a grandchild that ignores it too.
DRIVER = """\
import asyncio, json, sys
from vigil_cli.commands.up import serve
from vigil_cli.console import Console
from vigil_cli.readiness import HttpProbe, TcpProbe
from vigil_cli.stack import Component, Stack
from vigil_cli.supervisor import ChildSpec, Supervisor

config = json.loads(sys.argv[1])
bus, web = config["bus_port"], config["web_port"]
py = sys.executable
listen = (
    "import socket, sys, time; "
    "server = socket.create_server(('127.0.0.1', int(sys.argv[1]))); time.sleep(600)"
)
stubborn = (
    "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)"
)
stack = Stack(
    tiers=(
        (
            Component(
                ChildSpec("bus", (py, "-c", listen, str(bus))),
                port=bus,
                probe=TcpProbe("127.0.0.1", bus),
            ),
        ),
        (
            Component(
                ChildSpec("web", (py, "-m", "http.server", "-b", "127.0.0.1", str(web))),
                port=web,
                probe=HttpProbe(f"http://127.0.0.1:{web}/"),
            ),
            Component(ChildSpec("stubborn", (py, "-c", stubborn))),
        ),
    ),
    urls=(("web", f"http://127.0.0.1:{web}/"),),
)
console = Console(sys.stdout, width=9)
supervisor = Supervisor(console, stop_timeout=config["stop_timeout"])
status = asyncio.run(serve(stack, supervisor, console))
console.close()
sys.exit(status)
"""


class Driver:
    """Runs DRIVER; every process it starts carries `marker` in its environment."""

    def __init__(self, tmp_path: Path, stop_timeout: float) -> None:
        self.bus_port = free_port()
        self.web_port = free_port()
        self.stop_timeout = stop_timeout
        self.marker = f"VIGIL_TEST_MARKER={tmp_path}"
        self.lines: Recorder[str] = Recorder()
        self.output: asyncio.Task[None] | None = None

    async def start(self) -> asyncio.subprocess.Process:
        config = {
            "bus_port": self.bus_port,
            "web_port": self.web_port,
            "stop_timeout": self.stop_timeout,
        }
        name, value = self.marker.split("=", 1)
        process = await asyncio.create_subprocess_exec(
            *python(DRIVER, json.dumps(config)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, name: value, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
            limit=OUTPUT_LINE_LIMIT,
        )
        assert process.stdout is not None
        self.output = asyncio.create_task(collect_lines(process.stdout, self.lines))
        return process

    async def finished(self, process: asyncio.subprocess.Process, within: float) -> int:
        """The exit status, once the process exited and all its output was read."""
        assert self.output is not None
        async with asyncio.timeout(within):
            returncode = await process.wait()
            await self.output
        return returncode

    async def wait_for_line(self, text: str, within: float) -> None:
        await self.lines.wait_for(lambda lines: any(text in line for line in lines), within)

    def transcript(self) -> str:
        return "\n".join(self.lines.items)


@contextlib.contextmanager
def cleanup_after(marker: str) -> Iterator[None]:
    """If a test fails half-way, leave nothing running."""
    try:
        yield
    finally:
        kill_processes_with_env(marker)


async def test_sigterm_stops_everything_and_exits_zero(tmp_path: Path) -> None:
    driver = Driver(tmp_path, stop_timeout=1.0)
    with cleanup_after(driver.marker):
        process = await driver.start()
        await driver.wait_for_line("Vigil is up", within=30)
        assert len(processes_with_env(driver.marker)) >= 4  # driver, bus, web, stubborn...

        process.send_signal(signal.SIGTERM)
        returncode = await driver.finished(process, within=15)

        transcript = driver.transcript()
        assert returncode == 0, transcript
        assert transcript.endswith("vigil     | Vigil stopped."), transcript
        assert "vigil     | stubborn did not stop within 1 s; killing it" in transcript
        assert not port_open(driver.bus_port)
        assert not port_open(driver.web_port)
        assert await eventually(lambda: not processes_with_env(driver.marker), within=5)


async def test_a_second_ctrl_c_kills_at_once_but_a_forwarded_copy_does_not(
    tmp_path: Path,
) -> None:
    driver = Driver(tmp_path, stop_timeout=45.0)
    with cleanup_after(driver.marker):
        process = await driver.start()
        await driver.wait_for_line("Vigil is up", within=30)

        loop = asyncio.get_running_loop()
        first_at = loop.time()
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)  # as `uv run` forwards it, without a terminal
        await driver.wait_for_line("web stopped", within=10)  # stubborn ignores SIGTERM
        # A human's second press comes later than a forwarded copy: this wait is the
        # behaviour under test, not synchronisation.
        await asyncio.sleep(max(0.0, first_at + SAME_INTERRUPT_WITHIN - loop.time()))
        assert process.returncode is None, driver.transcript()
        process.send_signal(signal.SIGINT)
        returncode = await driver.finished(process, within=10)

        transcript = driver.transcript()
        assert returncode == 0, transcript
        assert transcript.count("second Ctrl-C: killing everything now") == 1, transcript
        assert "vigil     | stubborn stopped (was killed by SIGKILL (exit code -9))" in transcript
        assert await eventually(lambda: not processes_with_env(driver.marker), within=5)


# -- the command --------------------------------------------------------------------------


def test_up_help_names_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["up", "--help"])

    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for variable in ("VIGIL_NATS_URL", "VIGIL_NATS_PORT", "VIGIL_GATEWAY_PORT", "VIGIL_DATA_DIR"):
        assert variable in out


async def test_up_refuses_a_nats_port_that_is_taken(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "VIGIL_NATS_PORT": str(port),
            "VIGIL_GATEWAY_PORT": str(free_port()),
            "VIGIL_DATA_DIR": str(tmp_path / "data"),
        }
        env.pop("VIGIL_NATS_URL", None)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vigil_cli",
            "up",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        async with asyncio.timeout(30):
            out, _ = await process.communicate()

    transcript = out.decode()
    assert process.returncode == 1, transcript
    assert f"nats cannot listen on 127.0.0.1:{port}: the port is in use" in transcript
    assert "set VIGIL_NATS_PORT to a free port" in transcript
    assert "started" not in transcript


# -- make up, with the real services ------------------------------------------------------


def make_up_env(tmp_path: Path, gateway_port: int, nats_port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "VIGIL_GATEWAY_PORT": str(gateway_port),
        "VIGIL_NATS_PORT": str(nats_port),
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("VIGIL_NATS_URL", None)
    return env


async def first_message_of_type(url: str, kind: str, within: float) -> dict[str, object]:
    async with asyncio.timeout(within), connect(url, proxy=None) as websocket:
        while True:
            message = json.loads(await websocket.recv())
            if isinstance(message, dict) and message.get("type") == kind:
                return message


def printed_admin_password(lines: Sequence[str]) -> str:
    for line in lines:
        _, found, password = line.partition("password: ")
        if found and line.startswith("auth"):
            return password.strip()
    raise AssertionError("make up printed no admin password")


async def login_over_http(port: int, username: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        response = await http.post(
            "/api/auth/token", json={"username": username, "password": password}
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def readme_commands_work(
    gateway_port: int, make_env: dict[str, str], password: str, tmp_path: Path
) -> None:
    """The README's `vigil` commands, as written there, against the stack `make up`
    serves on a port of its own: in the shell that set its variables, and in another
    shell that only knows its data directory (`vigil up` recorded its gateway there)."""
    same_shell = make_env | {"VIGIL_CONFIG": str(tmp_path / "same" / "config.json")}
    commands: list[tuple[dict[str, str], tuple[str, ...], str]] = [
        (same_shell, ("login", "-u", "admin"), password + "\n"),
        (same_shell, ("apikey", "create", "my-script", "--role", "viewer"), ""),
        (same_shell, ("user", "add", "alice", "--role", "operator"), "alice-pw-42\n" * 2),
        (same_shell, ("top", "--count", "1"), ""),  # `vigil top`, once
    ]
    other_shell = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")},
        "VIGIL_DATA_DIR": make_env["VIGIL_DATA_DIR"],
        "VIGIL_CONFIG": str(tmp_path / "other" / "config.json"),
    }
    commands.append((other_shell, ("login", "-u", "admin"), password + "\n"))
    for env, args, stdin in commands:
        done = await vigil(env, *args, stdin=stdin, timeout=60)
        assert done.code == 0, (args, done)
        if args[0] == "login":
            assert f"logged in to http://127.0.0.1:{gateway_port} as admin" in done.stdout


@pytest.mark.timeout(210)
async def test_make_up_starts_serves_the_readmes_commands_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    gateway_port, nats_port = free_port(), free_port()
    env = make_up_env(tmp_path, gateway_port, nats_port)
    marker = f"VIGIL_DATA_DIR={env['VIGIL_DATA_DIR']}"
    lines: Recorder[str] = Recorder()

    def transcript() -> str:
        return "\n".join(lines.items[-200:])

    with cleanup_after(marker):
        make = await asyncio.create_subprocess_exec(
            "make",
            "up",
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
            limit=OUTPUT_LINE_LIMIT,
        )
        assert make.stdout is not None
        output = asyncio.create_task(collect_lines(make.stdout, lines))
        try:
            try:
                await lines.wait_for(lambda seen: any("Vigil is up" in s for s in seen), 90)
            except TimeoutError:
                pytest.fail(f"no 'Vigil is up' within 90 s:\n{transcript()}")

            # The first admin's password is generated and printed once, by make up itself.
            password = printed_admin_password(lines.items)
            token = await login_over_http(gateway_port, "admin", password)
            try:  # (the first sample is due in 2 s; a loaded machine may take longer)
                metric = await first_message_of_type(
                    f"ws://127.0.0.1:{gateway_port}/api/system/ws?token={token}",
                    "system_metric",
                    within=30,
                )
            except TimeoutError:
                pytest.fail(f"no system_metric within 30 s:\n{transcript()}")
            assert metric["type"] == "system_metric"
            await readme_commands_work(gateway_port, env, password, tmp_path)

            os.killpg(make.pid, signal.SIGTERM)
            async with asyncio.timeout(20):
                await make.wait()
                await output
        finally:
            kill_group(make.pid)

        assert_prefixed(
            lines.items, ("nats", "auth", "collector", "deployer", "notifier", "gateway", "vigil")
        )
        assert sum("password:" in line for line in lines.items) == 1, transcript()
        secret_file = tmp_path / "data" / "auth" / "signing-key-secret"  # made by auth
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert "vigil     | Vigil stopped." in lines.items, transcript()
        assert not [line for line in lines.items if "Traceback" in line], transcript()
        assert not port_open(gateway_port), transcript()
        assert local_stack.recorded(tmp_path / "data") is None  # forgotten once stopped
        assert not port_open(nats_port), transcript()
        assert await eventually(lambda: not processes_with_env(marker), within=5), (
            f"left running: {processes_with_env(marker)}"
        )


def assert_prefixed(lines: Sequence[str], sources: Sequence[str]) -> None:
    for source in sources:
        prefix = f"{source:<9} | "
        assert any(line.startswith(prefix) for line in lines), f"no line from {source}"
