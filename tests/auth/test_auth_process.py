"""`python -m vigil_auth` as it runs in production: banner on stdout, logs clean, clean exit."""

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

from tests.support import NatsServer, auth_settings_for, bus_client, run_auth
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
    nats_server: NatsServer, prefix: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VIGIL_ADMIN_PASSWORD"}
    env |= nats_server.service_env(ServiceRole.AUTH, prefix)
    env |= {"VIGIL_AUTH_SIGNING_KEY_SECRET_FILE": str(tmp_path / "secret")}
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


async def test_a_start_error_names_the_setting_and_exits_without_a_traceback(
    nats_server: NatsServer, prefix: str, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    async with run_auth(
        auth_settings_for(nats_server, prefix, signing_key_secret_file=secret_file)
    ):
        pass  # the ring is encrypted with the key made in `secret_file`
    env = os.environ | {
        **nats_server.service_env(ServiceRole.AUTH, prefix),
        "VIGIL_ADMIN_PASSWORD": "never-shown-password",
    }

    async def start(extra: dict[str, str]) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vigil_auth", env=env | extra, stderr=asyncio.subprocess.PIPE
        )
        try:
            _, err = await asyncio.wait_for(process.communicate(), 30)
        finally:  # one that does not stop by itself must not outlive the test
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode is not None
        return process.returncode, err.decode()

    code, in_production = await start({"VIGIL_ENVIRONMENT": "production"})
    assert code == 2
    assert "VIGIL_AUTH_SIGNING_KEY_SECRET_FILE must be set" in in_production

    code, in_development = await start({})
    assert code == 2
    assert "VIGIL_AUTH_SIGNING_KEYS_IN_CLEAR=true" in in_development  # the opt-out, named

    secret_file.write_text(Fernet.generate_key().decode() + "\n")  # not the ring's
    code, wrong_key = await start({"VIGIL_AUTH_SIGNING_KEY_SECRET_FILE": str(secret_file)})
    assert code == 1
    assert "cannot start: signing key" in wrong_key
    assert "no key of VIGIL_AUTH_SIGNING_KEY_SECRET_FILE decrypts it" in wrong_key

    for output in (in_production, in_development, wrong_key):
        assert "Traceback" not in output
        assert "never-shown-password" not in output
