"""`vigil up` (and so `make up`) follows the Kubernetes clusters this machine's kubeconfig
names, as kubectl would read it, the way it follows a Docker engine that answers; a
context whose name cannot be a cluster id is left out, not a reason to fail."""

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from tests.conftest import collector_settings_for
from tests.k8s_cluster import Cluster
from tests.stack.test_stack_up import (
    OUTPUT_LINE_LIMIT,
    REPO_ROOT,
    Recorder,
    cleanup_after,
    collect_lines,
    login_over_http,
    make_up_env,
    printed_admin_password,
)
from tests.support import NatsServer, free_port
from vigil_cli.stack import followed_kubeconfig
from vigil_collector.kubernetes.kube import clusters_of

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- {name: one, cluster: {server: "https://127.0.0.1:1"}}
users:
- {name: admin, user: {token: t}}
contexts:
- {name: dev, context: {cluster: one, user: admin}}
- {name: kubernetes-admin@kubernetes, context: {cluster: one, user: admin}}
current-context: dev
"""


def test_the_collector_follows_kubeconfig_else_the_home_kubeconfig(tmp_path: Path) -> None:
    home_config = tmp_path / ".kube" / "config"
    home_config.parent.mkdir()
    home_config.write_text(KUBECONFIG)
    other = tmp_path / "other.yaml"
    other.write_text(KUBECONFIG)
    home = {"HOME": str(tmp_path)}
    setting = "VIGIL_COLLECTOR_KUBECONFIG"

    assert followed_kubeconfig(home) == {setting: str(home_config)}
    # KUBECONFIG, as kubectl reads it: one file or a list, the missing ones left out.
    listed = os.pathsep.join([str(other), str(tmp_path / "gone"), str(home_config)])
    assert followed_kubeconfig(home | {"KUBECONFIG": listed}) == {
        setting: os.pathsep.join([str(other), str(home_config)])
    }
    assert followed_kubeconfig(home | {"KUBECONFIG": str(tmp_path / "gone")}) == {}
    assert followed_kubeconfig({"HOME": str(tmp_path / "nobody")}) == {}
    # The collector's own setting wins; set empty, it follows none.
    assert followed_kubeconfig(home | {setting: str(other)}) == {setting: str(other)}
    assert followed_kubeconfig(home | {setting: ""}) == {}


def test_a_context_that_cannot_be_a_cluster_id_is_left_out_when_all_are_followed(
    nats_server: NatsServer, prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(KUBECONFIG)
    every = collector_settings_for(nats_server, prefix, kubeconfig=str(kubeconfig))
    with caplog.at_level(logging.WARNING, logger="vigil_collector.kubernetes.kube"):
        assert [cluster.name for cluster in clusters_of(every)] == ["dev"]
    assert "'kubernetes-admin@kubernetes' of" in caplog.text
    with pytest.raises(ValidationError, match="invalid cluster 'kubernetes-admin@kubernetes'"):
        collector_settings_for(  # named, it is refused at once
            nats_server,
            prefix,
            kubeconfig=str(kubeconfig),
            k8s_contexts=["dev", "kubernetes-admin@kubernetes"],
        )


@pytest.mark.timeout(180)
async def test_vigil_up_follows_the_clusters_of_kubeconfig(
    tmp_path: Path, k8s_cluster: Cluster
) -> None:
    gateway_port, nats_port = free_port(), free_port()
    env = make_up_env(tmp_path, gateway_port, nats_port) | {"KUBECONFIG": k8s_cluster.kubeconfig}
    env.pop("VIGIL_COLLECTOR_KUBECONFIG", None)
    marker = f"VIGIL_DATA_DIR={env['VIGIL_DATA_DIR']}"
    lines: Recorder[str] = Recorder()
    with cleanup_after(marker):
        up = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vigil_cli",
            "up",
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
            limit=OUTPUT_LINE_LIMIT,
        )
        assert up.stdout is not None
        output = asyncio.create_task(collect_lines(up.stdout, lines))
        try:
            await lines.wait_for(lambda seen: any("Vigil is up" in s for s in seen), 90)
            token = await login_over_http(
                gateway_port, "admin", printed_admin_password(lines.items)
            )
            listed = await clusters_listed(gateway_port, token, k8s_cluster.context, within=60)
            assert k8s_cluster.context in listed, "\n".join(lines.items[-100:])
        finally:
            os.killpg(up.pid, signal.SIGTERM)
            await asyncio.wait_for(up.wait(), 30)
            await output


async def clusters_listed(port: int, token: str, wanted: str, within: float) -> list[str]:
    """The clusters the gateway lists, once `wanted` is among them (or the deadline)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        while True:
            answer = await http.get(
                "/api/k8s/clusters", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200, answer.text
            listed = [cluster["cluster"] for cluster in answer.json()["clusters"]]
            if wanted in listed or time.monotonic() > deadline:
                return listed
            await asyncio.sleep(0.5)
