"""A container's restart through Vigil, from the request to `running` seen on the socket,
against the engine's own restart in the same run.

Runs the real stack in this process (nats-server, auth, the gateway, the collector and
the deployer on the real Docker engine) with a `sleep` container of its own. Each round
restarts it twice, in turn:

- **Vigil**: `POST /api/docker/{host}/containers/{name}/actions {"action": "restart",
  "timeout_s": 0}` as the admin, timed from the request until the `docker.status` socket
  (subscribed before) says the container is `running` again after its `die`;
- **engine**: the Docker SDK's `container.restart(timeout=0)` on the same engine, timed
  until it returns (the engine has started the container again then).

Prints the median and p90 of each, Vigil's extra over the engine's (target: ≤ 300 ms)
and the ratio.

    uv run --all-packages python bench/actions.py [--rounds 20]
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.deploy_support import deployer_settings_for, run_deployer
from tests.docker_engine import Containers, busybox_image
from tests.docker_support import docker_collector
from tests.support import (
    NatsServer,
    auth_settings_for,
    login,
    run_auth,
    run_collector,
    serve_gateway,
)
from vigil.busauth.permissions import ServiceRole
from vigil_gateway.settings import GatewaySettings

PASSWORD = "bench-password"
HOST = "benchhost"


async def running_again(ws: ClientConnection, short: str, deadline_s: float = 30) -> float:
    """The time (perf_counter) the socket says the container runs again after a `die`."""
    died = False
    async with asyncio.timeout(deadline_s):
        while True:
            frame = json.loads(await ws.recv())
            data = frame.get("data") or {}
            if frame.get("type") != "update" or data.get("id") != short:
                continue
            if data.get("event") == "die":
                died = True
            elif died and data.get("status") == "running":
                return time.perf_counter()


async def through_vigil(
    http: httpx.AsyncClient, ws: ClientConnection, token: str, short: str, name: str
) -> float:
    started = time.perf_counter()
    seen = asyncio.create_task(running_again(ws, short))
    answer = await http.post(
        f"/api/docker/{HOST}/containers/{name}/actions",
        json={"action": "restart", "timeout_s": 0},
        headers={"Authorization": f"Bearer {token}"},
    )
    if answer.status_code != 200:
        raise SystemExit(f"restart refused: {answer.status_code} {answer.text}")
    return await seen - started


async def by_the_engine(engine: docker.DockerClient, name: str) -> float:
    container = await asyncio.to_thread(engine.containers.get, name)
    started = time.perf_counter()
    await asyncio.to_thread(container.restart, timeout=0)
    return time.perf_counter() - started


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(args: argparse.Namespace) -> None:
    prefix = "bench" + uuid.uuid4().hex[:8]
    made = Containers(prefix, busybox_image())
    short, name = made.run("restart", "sleep", "3600")
    engine = docker.from_env()
    try:
        with tempfile.TemporaryDirectory() as store:
            nats = NatsServer(store_dir=Path(store))
            nats.start()
            try:
                gateway = GatewaySettings(**nats.service(ServiceRole.GATEWAY, prefix))
                async with (
                    run_auth(auth_settings_for(nats, prefix, admin_password=PASSWORD)),
                    run_collector(docker_collector(nats, prefix, HOST)),
                    run_deployer(deployer_settings_for(nats, prefix, host=HOST)),
                    serve_gateway(gateway) as address,
                ):
                    token = (await login(nats, prefix, "admin", PASSWORD)).access_token
                    await measure(args, address, token, engine, short, name)
            finally:
                nats.stop()
    finally:
        made.remove_all()
        engine.close()


async def measure(
    args: argparse.Namespace,
    address: str,
    token: str,
    engine: docker.DockerClient,
    short: str,
    name: str,
) -> None:
    vigil: list[float] = []
    direct: list[float] = []
    async with (
        httpx.AsyncClient(base_url=f"http://{address}", timeout=60) as http,
        connect(f"ws://{address}/ws?token={token}", max_size=None) as ws,
    ):
        await ws.recv()  # connected
        params = {"host": HOST, "container": short}
        await ws.send(
            json.dumps({"type": "subscribe", "channel": "docker.status", "params": params})
        )
        for round_ in range(args.rounds + 1):
            taken = await through_vigil(http, ws, token, short, name)
            engine_s = await by_the_engine(engine, name)
            await running_again(ws, short)  # the engine's restart, seen too: out of the way
            if round_:  # the first round warms both up
                vigil.append(taken)
                direct.append(engine_s)
    extra = [v - d for v, d in zip(vigil, direct, strict=True)]
    print(f"restart of a container, {args.rounds} rounds (ms)      median      p90")
    print(
        f"  engine: container.restart(timeout=0)    {median_ms(direct):8.1f} {p90_ms(direct):8.1f}"
    )
    print(f"  Vigil: request -> running on the socket {median_ms(vigil):8.1f} {p90_ms(vigil):8.1f}")
    print(f"  Vigil's extra (target <= 300 ms)        {median_ms(extra):8.1f} {p90_ms(extra):8.1f}")
    ratio = statistics.median(vigil) / statistics.median(direct)
    print(f"  ratio Vigil / engine (medians)          {ratio:8.2f}")


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def p90_ms(values: list[float]) -> float:
    return quantile(values, 0.9) * 1000


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
