"""A shell's keystroke echo through Vigil, with 50 shells open, against a shell of the
engine's own exec socket in the same run.

Runs the real stack (nats-server; auth and the gateway in this process, the deployer and
the clients each in their own; the real Docker engine; exec on) with a `sleep`
container of its own, and opens `--shells` shells running `cat` with a terminal two ways:

- **Vigil**: a WebSocket each to `/ws/docker/{host}/containers/{name}/exec` as the
  admin (gateway -> NATS -> deployer -> the engine's exec);
- **engine**: the Docker SDK's `exec_create(tty=True, stdin=True)` and
  `exec_start(socket=True)` each, the hijacked socket read and written directly.

Each shell types `--keys` keystrokes, one every `--interval-ms` (all shells at once,
their starts spread over one interval), and times each from the send to its echo
(the terminal echoes each key). Prints the median, p90 and p99 of each and the ratios
(target: Vigil's p99 <= 30 ms). On a busy machine the engine's own tail is noise too.

    uv run --all-packages python bench/shell.py [--shells 50] [--keys 40]
"""

import argparse
import asyncio
import os
import random
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.deploy_support import deployer_process, deployer_settings_for
from tests.docker_engine import Containers, busybox_image
from tests.shell_support import opened, output_until, shell_socket
from tests.support import NatsServer, auth_settings_for, login, run_auth, serve_gateway
from vigil.busauth.permissions import ServiceRole
from vigil_gateway.settings import GatewaySettings

PASSWORD = "bench-password"
HOST = "benchhost"
KEY = b"k"


async def type_through_vigil(ws: ClientConnection, args: argparse.Namespace) -> list[float]:
    await asyncio.sleep(random.uniform(0, args.interval_ms / 1000))
    taken: list[float] = []
    for _ in range(args.keys):
        started = time.perf_counter()
        await ws.send(KEY)
        await output_until(ws, KEY)
        taken.append(time.perf_counter() - started)
        await asyncio.sleep(args.interval_ms / 1000)
    return taken


async def type_on_the_engine(terminal: socket.socket, args: argparse.Namespace) -> list[float]:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(random.uniform(0, args.interval_ms / 1000))
    taken: list[float] = []
    for _ in range(args.keys):
        started = time.perf_counter()
        await loop.sock_sendall(terminal, KEY)
        seen = b""
        while KEY not in seen:
            seen += await loop.sock_recv(terminal, 4096)
        taken.append(time.perf_counter() - started)
        await asyncio.sleep(args.interval_ms / 1000)
    return taken


async def through_vigil(
    address: str, token: str, name: str, args: argparse.Namespace
) -> list[float]:
    async def one(ws: ClientConnection) -> list[float]:
        return await type_through_vigil(ws, args)

    sockets = [shell_socket(address, token, HOST, name, "cat") for _ in range(args.shells)]
    opened_ws = [await s.__aenter__() for s in sockets]
    try:
        for ws in opened_ws:
            await opened(ws)
            await ws.send(b"warm\n")  # each shell's path warmed up before timing
            await output_until(ws, b"warm")
        results = await asyncio.gather(*(one(ws) for ws in opened_ws))
    finally:
        for s in sockets:
            await s.__aexit__(None, None, None)
    return [t for taken in results for t in taken]


async def on_the_engine(
    engine: docker.DockerClient, name: str, args: argparse.Namespace
) -> list[float]:
    api = engine.api
    loop = asyncio.get_running_loop()
    opened_: list[tuple[Any, socket.socket]] = []
    try:
        for _ in range(args.shells):
            exec_id = api.exec_create(name, ["cat"], stdin=True, tty=True)["Id"]
            hijacked = api.exec_start(exec_id, tty=True, socket=True)
            terminal: socket.socket = hijacked._sock
            terminal.setblocking(False)
            opened_.append((hijacked, terminal))
            await loop.sock_sendall(terminal, b"warm\n")  # warmed up as Vigil's are
            seen = b""
            while b"warm" not in seen:
                seen += await loop.sock_recv(terminal, 4096)
        results = await asyncio.gather(*(type_on_the_engine(t, args) for _, t in opened_))
    finally:
        for hijacked, terminal in opened_:
            hijacked.close()
            terminal.close()
    return [t for taken in results for t in taken]


async def typists(address: str, token: str, name: str, args: argparse.Namespace) -> list[float]:
    """`through_vigil` in a process of its own (the clients' work is not the gateway's):
    the times it prints, one a line."""
    typist = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--shells",
        str(args.shells),
        "--keys",
        str(args.keys),
        "--interval-ms",
        str(args.interval_ms),
        "--typist",
        address,
        token,
        name,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await typist.communicate()
    if typist.returncode != 0:
        raise SystemExit(f"the typists failed ({typist.returncode})")
    return [float(line) for line in out.split()]


async def deployer_serves(address: str, token: str, name: str, within_s: float = 30) -> None:
    """Once the deployer's process answers: a shell opens."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            async with shell_socket(address, token, HOST, name, "true") as ws:
                await opened(ws)
                return
        except (AssertionError, ConnectionClosed):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def main(args: argparse.Namespace) -> None:
    prefix = "bench" + uuid.uuid4().hex[:8]
    made = Containers(prefix, busybox_image())
    _, name = made.run("shells", "sleep", "3600")
    engine = docker.from_env()
    try:
        with tempfile.TemporaryDirectory() as store:
            nats = NatsServer(store_dir=Path(store))
            nats.start()
            try:
                service = nats.service(ServiceRole.GATEWAY, prefix)
                gateway = GatewaySettings(**service, exec_enabled=True)
                os.environ["VIGIL_EXEC_ENABLED"] = "1"  # the deployer's process reads it
                deployer = deployer_process(deployer_settings_for(nats, prefix, host=HOST))
                try:
                    async with (
                        run_auth(auth_settings_for(nats, prefix, admin_password=PASSWORD)),
                        serve_gateway(gateway) as address,
                    ):
                        token = (await login(nats, prefix, "admin", PASSWORD)).access_token
                        await deployer_serves(address, token, name)
                        vigil = await typists(address, token, name, args)
                        direct = await on_the_engine(engine, name, args)
                finally:
                    deployer.terminate()
                    deployer.wait(timeout=30)
            finally:
                nats.stop()
    finally:
        made.remove_all()
        engine.close()
    report(args, vigil, direct)


def quantile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(args: argparse.Namespace, vigil: list[float], direct: list[float]) -> None:
    print(
        f"keystroke echo, {args.shells} shells open, {args.keys} keys each "
        f"every {args.interval_ms} ms (ms)   median      p90      p99"
    )
    for label, values in (
        ("engine: the exec socket directly      ", direct),
        ("Vigil: WebSocket -> gateway -> NATS    ", vigil),
    ):
        print(
            f"  {label} {statistics.median(values) * 1000:8.2f} {quantile_ms(values, 0.9):8.2f}"
            f" {quantile_ms(values, 0.99):8.2f}"
        )
    medians = statistics.median(vigil) / statistics.median(direct)
    tails = quantile_ms(vigil, 0.99) / quantile_ms(direct, 0.99)
    verdict = "met" if quantile_ms(vigil, 0.99) <= 30 else "NOT met"
    print(f"  ratio Vigil / engine                    {medians:8.2f}          {tails:8.2f}")
    print(f"  target: Vigil's p99 <= 30 ms: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shells", type=int, default=50)
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument(
        "--typist", nargs=3, metavar=("ADDRESS", "TOKEN", "NAME"), help=argparse.SUPPRESS
    )
    arguments = parser.parse_args()
    if arguments.typist:
        times = asyncio.run(through_vigil(*arguments.typist, arguments))
        print("\n".join(map(str, times)))
    else:
        asyncio.run(main(arguments))
