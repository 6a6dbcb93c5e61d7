"""A host's allow-listed log file as a log source (for a host without a journal), on a
real file the test writes and rotates as logrotate does: its lines come in order, each
once, across a rename and a copytruncate, redacted and with a syslog line's own time;
merged in time order with a container's; a name not in the allow-list is refused
saying so, and never read."""

import asyncio
import os
import shutil
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.collector.test_journal import subscribe
from tests.docker.test_merged_logs import counted, merged_lines, run_counter
from tests.docker_engine import Containers
from tests.docker_support import docker_collector
from tests.support import (
    NatsServer,
    bus_client,
    collector_settings_for,
    receive,
    run_collector,
    serve_gateway,
)
from vigil import ctl
from vigil.messages import ErrorCode, FollowFile
from vigil.operations import Logs
from vigil_gateway.settings import GatewaySettings

LINES = 240
RENAMED_AT, REOPENED_AT, TRUNCATED_AT = 60, 90, 150  # line numbers of the rotations
SECRET_AT = 120


class Daemon:
    """A syslog daemon's writes: it holds its file open and appends; logrotate renames
    the file (the daemon goes on in the old one until it reopens the path) or copies
    and truncates it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done = threading.Event()

    def run(self, pause_s: float) -> None:
        file = self.path.open("a")
        try:
            for i in range(LINES):
                if i == RENAMED_AT:
                    self.path.rename(self.path.with_name("syslog.1"))
                if i == REOPENED_AT:  # SIGHUP: a new file at the path
                    file.close()
                    file = self.path.open("a")
                if i == TRUNCATED_AT:
                    shutil.copyfile(self.path, self.path.with_name("syslog.1"))
                    os.truncate(self.path, 0)  # the daemon appends at its new end
                file.write(f"{line(i)}\n")
                file.flush()
                time.sleep(pause_s)
        finally:
            file.close()
            self.done.set()


def line(i: int) -> str:
    if i == SECRET_AT:
        return "db at postgres://app:hunter2@db/app"
    return f"line {i}"


async def file_lines(
    ws: ClientConnection, last: str, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The lines of `host.file` updates until one whose text is `last`."""
    lines: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not lines or lines[-1]["text"] != last:
            message = await receive(ws, timeout=timeout)
            if message["type"] == "update":
                lines += message["data"]["lines"]
    return lines


async def test_a_files_lines_come_in_order_once_across_its_rotations_redacted_in_their_time(
    nats_server: NatsServer,
    prefix: str,
    tmp_path: Path,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    path = tmp_path / "syslog"
    path.write_text("Dec  1 10:00:00 web1 cron[7]: before\n<11>Dec  1 10:00:01 web1 app: failed\n")
    files = {"syslog": path}
    collector = collector_settings_for(nats_server, prefix, log_files=files, log_files_poll_s=0.05)
    daemon = Daemon(path)
    async with (
        run_collector(collector),
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        answer = await subscribe(ws, "host.file", {"host": "testhost", "file": "syslog"})
        assert answer["type"] == "subscribed", answer
        first = await file_lines(ws, "<11>Dec  1 10:00:01 web1 app: failed")
        writing = asyncio.create_task(asyncio.to_thread(daemon.run, 0.01))
        live = await file_lines(ws, line(LINES - 1))
        await writing

    assert [entry["text"] for entry in first] == [
        "Dec  1 10:00:00 web1 cron[7]: before",
        "<11>Dec  1 10:00:01 web1 app: failed",
    ]
    assert first[0]["time"][4:19] == "-12-01T10:00:00"  # its own (the host's zone: UTC here)
    assert [entry["stream"] for entry in first] == ["stdout", "stderr"]  # <11>: err
    texts = [entry["text"] for entry in live]
    expected = [line(i) for i in range(LINES)]
    expected[SECRET_AT] = "db at postgres://app:[REDACTED]@db/app"
    assert texts == expected  # in order, each once, across the rename and the truncation
    read_at = [datetime.fromisoformat(entry["time"]) for entry in live]
    assert read_at == sorted(read_at)  # no stamp of their own: when each was read


async def test_a_file_not_in_the_allow_list_is_refused_saying_so(
    nats_server: NatsServer,
    prefix: str,
    tmp_path: Path,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    allowed = tmp_path / "syslog"
    allowed.write_text("fine\n")
    files = {"syslog": allowed, "gone": tmp_path / "gone.log"}
    collector = collector_settings_for(nats_server, prefix, log_files=files)
    async with (
        run_collector(collector),
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        for channel, params in (
            ("host.file", {"host": "testhost", "file": "shadow"}),
            ("logs.merged", {"host": "testhost", "file": "shadow"}),
        ):
            refused = await subscribe(ws, channel, params)
            assert (refused["type"], refused["code"]) == ("error", "NOT_FOUND"), refused
            assert "no log file 'shadow' on testhost" in refused["message"], refused
            assert "allow-list (log_files: gone, syslog)" in refused["message"], refused
        bad_name = await subscribe(ws, "host.file", {"host": "testhost", "file": "../etc"})
        assert bad_name["code"] == "INVALID_MESSAGE", bad_name
        no_host = await subscribe(ws, "logs.merged", {"file": "syslog"})
        assert "file is a host's: give host too" in no_host["message"], no_host
        unknown = await subscribe(ws, "host.file", {"host": "nohost", "file": "syslog"})
        assert unknown["code"] == "NOT_FOUND", unknown

        async with bus_client(nats_server, prefix) as bus:
            # An allowed name whose file is not there: the lease is refused, saying so.
            request = FollowFile(host="testhost", file="gone", holder="test", lease_s=5)
            with pytest.raises(ctl.Refused) as refusal:
                await ctl.call(bus, Logs.FILE_FOLLOW, request)
            assert refusal.value.code is ErrorCode.UNAVAILABLE
            assert str(tmp_path / "gone.log") in refusal.value.message


async def test_a_files_lines_merge_in_time_order_with_a_containers(
    nats_server: NatsServer,
    prefix: str,
    tmp_path: Path,
    containers: Containers,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    path = tmp_path / "syslog"
    path.touch()
    collector = docker_collector(
        nats_server, prefix, log_files={"syslog": path}, log_files_poll_s=0.05
    )
    run_counter(containers, "box", 0.1)
    stop = threading.Event()

    def write() -> None:
        with path.open("a") as file:
            i = 0
            while not stop.is_set():
                i += 1
                file.write(f"file {i}\n")
                file.flush()
                stop.wait(0.07)

    view = {"label": f"vigil.test={containers.label}", "file": "syslog", "host": "testhost"}
    settings = gateway_settings.model_copy(update={"merge_window_s": 0.5, "log_lease_s": 1.5})
    writer = asyncio.create_task(asyncio.to_thread(write))
    try:
        async with (
            run_collector(collector),
            serve_gateway(settings) as address,
            connect(f"ws://{address}/ws?token={admin_token}", max_size=None) as ws,
        ):
            await receive(ws)
            assert (await subscribe(ws, "logs.merged", view))["type"] == "subscribed"
            lines = await merged_lines(ws, 4)
    finally:
        stop.set()
        await writer

    on_time = [entry["time"] for entry in lines if not entry.get("late")]
    assert on_time == sorted(on_time), "merged lines out of time order"
    for source in ("box", "file"):
        numbers = counted(lines, source)
        assert len(numbers) >= 10, source
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), source
    from_file = [entry for entry in lines if entry["text"].startswith("file ")]
    assert {(entry["host"], entry["name"]) for entry in from_file} == {("testhost", "syslog")}
