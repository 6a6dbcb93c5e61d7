"""`python -m vigil_auth` as it runs in production: banner on stdout, logs clean, clean exit."""

import asyncio
import os
import re
import signal
import sys
import time

from tests.support import NatsServer, bus_client
from vigil import ctl
from vigil.busauth.permissions import ServiceRole
from vigil.messages import Login
from vigil.operations import Auth


async def read_until(stream: asyncio.StreamReader, pattern: str, timeout: float = 20.0) -> str:
    """Lines from `stream` up to the first that matches `pattern`; all of them, joined."""
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while (left := deadline - time.monotonic()) > 0:
        line = (await asyncio.wait_for(stream.readline(), left)).decode()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return "".join(lines)
    raise AssertionError(f"no line matching {pattern!r} (got {''.join(lines)[-2000:]!r})")


async def test_the_service_prints_the_first_admin_password_once_and_stops_on_sigterm(
    nats_server: NatsServer, prefix: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VIGIL_ADMIN_PASSWORD"}
    env |= nats_server.service_env(ServiceRole.AUTH, prefix)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vigil_auth",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        banner = await read_until(process.stdout, r"password: \S+")
        password = re.findall(r"password: (\S+)", banner)[0]
        logs = await read_until(process.stderr, "answering auth requests")
        assert password not in logs

        async with bus_client(nats_server, prefix) as bus:
            tokens = await ctl.call(bus, Auth.LOGIN, Login(username="admin", password=password))
        assert tokens.access_token
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        rest_out, rest_err = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, rest_err.decode()[-2000:]
    assert password not in rest_err.decode()
    assert (banner + rest_out.decode()).count("password: ") == 1
