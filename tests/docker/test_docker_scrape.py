"""A real Prometheus scraping `GET /api/metrics` for a real engine's containers: the
cAdvisor series a Grafana dashboard for cAdvisor queries, under the names and labels it
queries, with an API key as the bearer token, as an operator would set it up."""

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docker_engine import Containers
from tests.docker_support import DockerStack
from tests.support import bearer, free_port, until


@contextlib.contextmanager
def prometheus(workdir: Path, target: str, key: str) -> Iterator[str]:
    """Prometheus (Debian's package) scraping `target`'s `/api/metrics` every second with
    `key`; yields its address, and stops it."""
    (workdir / "key").write_text(key)
    (workdir / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: vigil\n"
        "    metrics_path: /api/metrics\n"
        f"    authorization: {{credentials_file: {workdir / 'key'}}}\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    address = f"127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={address}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield address
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.mark.alone  # spins a CPU
async def test_prometheus_scrapes_the_containers_cadvisor_series(
    docker_stack: DockerStack, containers: Containers, admin_token: str, tmp_path: Path
) -> None:
    busy_id, busy = containers.run("busy", "sh", "-c", "while :; do :; done")
    async with (
        docker_stack.up() as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as http,
    ):
        made = await http.post(
            "/api/auth/keys",
            json={"name": "prometheus", "role": "viewer"},
            headers=bearer(admin_token),
        )
        assert made.status_code == 201, made.text
        with prometheus(tmp_path, address, made.json()["api_key"]) as server:
            query = f'container_cpu_usage_seconds_total{{name="{busy}",host="testhost"}}'

            async def cpu_seconds() -> list[dict[str, object]] | None:
                try:
                    answer = await http.get(
                        f"http://{server}/api/v1/query", params={"query": query}
                    )
                except httpx.TransportError:
                    return None  # Prometheus is still starting
                found = answer.json()["data"]["result"] if answer.status_code == 200 else []
                return found if len(found) == 1 and float(found[0]["value"][1]) > 0 else None

            [series] = await until(cpu_seconds, "the busy container's CPU in Prometheus", 30)
            memory = await http.get(
                f"http://{server}/api/v1/query",
                params={"query": f'container_memory_working_set_bytes{{name="{busy}"}}'},
            )
            targets = await http.get(f"http://{server}/api/v1/targets")

    assert series["metric"] == {
        "__name__": "container_cpu_usage_seconds_total",
        "host": "testhost",
        "id": f"/docker/{busy_id}",
        "image": containers.image,
        "instance": address,
        "job": "vigil",
        "name": busy,
    }
    [working_set] = memory.json()["data"]["result"]
    assert int(working_set["value"][1]) > 0
    [target] = targets.json()["data"]["activeTargets"]
    assert target["health"] == "up", target["lastError"]
