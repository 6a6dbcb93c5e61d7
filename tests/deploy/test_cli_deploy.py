"""`vigil deploy` as a real process: a real deploy (pulled from the test registry) watched
to its end with per-layer pull progress, the deployer's question answered at the
prompt, bad input refused before anything is sent, and deploy secrets given on the
command line used but shown masked."""

import contextlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_support import vigil
from tests.deploy_support import (
    HTTP_PORT,
    Deployment,
    Registry,
    build_and_push,
    containers,
    remove_containers,
    serves,
)
from tests.docker_engine import docker
from vigil.streams import DEPLOY_EVENTS
from vigil_deployer.app import DeployerService


def deploy_args(deployment: Deployment, image: str, *more: str) -> list[str]:
    return [
        "deploy",
        f"web-{deployment.prefix}",
        image,
        "--cmd",
        f"httpd -f -p {HTTP_PORT} -h /www",
        "--port",
        str(HTTP_PORT),
        "--health",
        f"http:{HTTP_PORT}/index",
        "--label",
        f"vigil-test={deployment.prefix}",
        *more,
    ]


@pytest.fixture
def layered_image(
    registry: Registry, docker_image: str, tmp_path: Path, prefix: str
) -> Iterator[str]:
    """An image of this test's own in the registry, with a few MB of layers that are not
    here until the deploy pulls them (the session's shared images stay unpulled for the
    tests that count on pulling them); removed afterwards, with its containers."""
    tag = f"{registry.address}/vigil-test/cli-{uuid.uuid4().hex[:8]}:1"
    salt = uuid.uuid4().bytes
    files = {
        "index": b"big\n" + salt.hex().encode(),
        "blob1": salt + os.urandom(2_000_000),
        "blob2": salt + os.urandom(1_500_000),
    }
    build_and_push(docker_image, tag, tmp_path / "image", files)
    yield tag
    remove_containers(prefix)
    with contextlib.suppress(RuntimeError):  # never pulled, if the test failed early
        docker("rmi", "-f", tag)


async def test_deploy_wait_shows_the_pull_per_layer_and_ends_with_success(
    deployer: DeployerService,
    deployment: Deployment,
    logged_in: dict[str, str],
    layered_image: str,
) -> None:
    done = await vigil(
        logged_in, *deploy_args(deployment, layered_image, "--yes", "--wait"), timeout=90
    )
    assert done.code == 0, done.stderr + done.stdout
    out = done.stdout
    pulls = [float(p) for p in re.findall(r"pull\s+([\d.]+)%", out)]
    assert len(pulls) >= 2  # progress as it went, not only the end
    assert pulls == sorted(pulls)
    assert pulls[-1] == 100.0
    assert re.search(r"\[[0-9a-f]{12} \d+%(, [0-9a-f]{12} \d+%)+\]", out)  # every layer
    for step in ("pull", "create", "start", "health", "switch", "done"):
        assert re.search(rf"✓ {step}\b", out), f"no finished {step} in:\n{out}"
    assert serves(f"web-{deployment.prefix}") == "big"


async def test_the_switch_is_asked_at_the_prompt_and_a_no_rolls_back(
    deployer: DeployerService, deployment: Deployment, logged_in: dict[str, str]
) -> None:
    name = f"web-{deployment.prefix}"
    first = await vigil(
        logged_in, *deploy_args(deployment, deployment.images.web(1), "--yes", "--wait")
    )
    assert first.code == 0, first.stderr
    assert serves(name) == "v1"

    # The first line answers "Deploy ...?", the second the deployer's "Switch ...?".
    v2 = deploy_args(deployment, deployment.images.web(2), "--confirm", "--wait")
    declined = await vigil(logged_in, *v2, stdin="y\nn\n", timeout=60)
    assert declined.code == 1
    assert f"Switch {name} on testhost to {deployment.images.web(2)}?" in declined.stderr
    assert "cancelled" in declined.stderr
    assert serves(name) == "v1"

    confirmed = await vigil(logged_in, *v2, stdin="y\ny\n", timeout=60)
    assert confirmed.code == 0, confirmed.stderr
    assert re.search(r"✓ confirm\s+confirmed by admin", confirmed.stdout)
    assert serves(name) == "v2"
    assert containers(deployment.prefix) == [name]


async def test_bad_input_is_refused_before_anything_is_deployed(
    deployer: DeployerService, deployment: Deployment, logged_in: dict[str, str]
) -> None:
    web = deployment.images.web(1)
    cases = {
        ("deploy", "web", "Not An Image!", "--yes"): "not an image reference",
        ("deploy", "web", web, "--port", "http", "--yes"): "--port 'http'",
        ("deploy", "web", web, "--health", "ping:1", "--yes"): "--health 'ping:1'",
        ("deploy", "web", web, "--env", "NOVALUE", "--yes"): "--env 'NOVALUE'",
        ("deploy", "we.b", web, "--yes"): "name",
        ("deploy", "--yes"): "vigil deploy NAME IMAGE",
        ("deploy", "--spec", "/nonexistent.json", "--yes"): "cannot read the spec",
    }
    for args, complaint in cases.items():
        done = await vigil(logged_in, *args)
        assert done.code == 1, (args, done.stderr)
        assert complaint in done.stderr, (args, done.stderr)
    declined = await vigil(logged_in, "deploy", "web", web, stdin="n\n")
    assert declined.code == 1
    assert "not deployed" in declined.stderr
    listed = await deployment.bus.js.stream_info(
        deployment.bus.subjects.stream_name(DEPLOY_EVENTS.base_name)
    )
    assert listed.state.messages == 0  # nothing reached the deployer


async def test_env_values_and_secret_arguments_reach_the_container_and_are_shown_masked(
    deployer: DeployerService, deployment: Deployment, logged_in: dict[str, str]
) -> None:
    name = f"web-{deployment.prefix}"
    serve = f"exec httpd -f -p {HTTP_PORT} -h /www"
    args = [
        *deploy_args(deployment, deployment.images.web(1)),
        *("--cmd", f"sh -c '{serve}'", "--secret-arg", "tok-2c9e5a7f18"),
        *("--env", "DB_PASSWORD=pw-7b3d0e6c41", "--yes", "--wait", "--json"),
    ]
    done = await vigil(logged_in, *args, timeout=90)
    assert done.code == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["spec"]["env"] == {"DB_PASSWORD": "***"}
    assert record["spec"]["command"] == ["sh", "-c", serve, {"secret": "***"}]
    assert not {"tok-2c9e5a7f18", "pw-7b3d0e6c41"} & set(
        re.findall(r"[\w-]+", done.stdout + done.stderr)
    )
    container = json.loads(docker("inspect", name))[0]["Config"]
    assert container["Cmd"] == ["sh", "-c", serve, "tok-2c9e5a7f18"]
    assert "DB_PASSWORD=pw-7b3d0e6c41" in container["Env"]

    alone = await vigil(logged_in, "deploy", name, deployment.images.web(1), "--secret-arg", "x")
    assert alone.code == 1
    assert "--secret-arg goes after the command's words" in alone.stderr


async def test_a_failed_deploy_shows_the_containers_output_once_and_unwrapped_when_piped(
    deployer: DeployerService, deployment: Deployment, logged_in: dict[str, str]
) -> None:
    said = "config-missing: " + "/etc/web/settings.toml " * 6  # one line, far wider than 80
    crash = f"echo {said.strip()}; exit 3"
    args = [*deploy_args(deployment, deployment.images.web(1)), "--cmd", f"sh -c '{crash}'"]
    piped = {name: value for name, value in logged_in.items() if name != "COLUMNS"}
    done = await vigil(piped, *args, "--yes", "--wait", timeout=60)

    assert done.code == 1, done.stderr + done.stdout
    everything = done.stdout + done.stderr
    assert everything.count(said.strip()) == 1, everything
    [health] = [line for line in done.stdout.splitlines() if line.startswith("✗ health")]
    assert health.endswith(f"its last output: {said.strip()}"), done.stdout  # not wrapped
    deploy_id = re.findall(r"^deploy ([0-9a-f]+):", done.stdout, re.MULTILINE)[0]
    [summary] = done.stderr.splitlines()
    assert summary.startswith(f"vigil: deploy {deploy_id} failed: health: the new container "), (
        summary
    )
    assert summary.endswith("; rolled back"), summary
    record = await deployment.record(deploy_id)
    assert (record.reason or "").count(said.strip()) == 1, record.reason
