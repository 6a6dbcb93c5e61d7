"""The dashboard's Kubernetes views end to end, in headless Chromium against the real
stack and the testbed cluster: nats-server, auth, the collector following the cluster,
the gateway on uvicorn serving the built dashboard. Screenshots go to test-artifacts/."""

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from kubernetes import client
from playwright.async_api import Page, expect

from tests.browser import chromium, screenshot, sign_in, web_dist
from tests.conftest import ADMIN_PASSWORD
from tests.deploy_support import run_deployer
from tests.k8s.test_k8s_deployer import make_deployment
from tests.k8s_cluster import Cluster
from tests.k8s_support import (
    collecting,
    container,
    k8s_deployer_settings,
    k8s_settings,
    run_pod,
)
from tests.support import NatsServer, serve_gateway
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

pytestmark = pytest.mark.timeout(240)

COUNTER = "i=1; while true; do echo line $i; i=$((i+1)); sleep 0.2; done"
WAIT_MS = 60_000  # metrics.k8s.io needs a scrape or two before a new pod has figures
VIEWER = ("vera", "vera-password-1")


@pytest.fixture
def dashboard_settings(gateway_settings: GatewaySettings) -> GatewaySettings:
    # The default rate limits (a dashboard must never trip them); a short tail, so the
    # pod's first lines come by scroll-back.
    update = {"web_dir": web_dist(), "log_tail": 20}
    return gateway_settings.model_copy(update=update)


async def add_viewer(address: str, admin_token: str, clusters: list[str]) -> None:
    """A viewer granted only `clusters`."""
    username, password = VIEWER
    body = {"username": username, "password": password, "roles": ["viewer"], "clusters": clusters}
    async with httpx.AsyncClient(base_url=f"http://{address}") as http:
        made = await http.post(
            "/api/auth/users", json=body, headers={"Authorization": f"Bearer {admin_token}"}
        )
    assert made.status_code == 201, made.text


async def log_count(page: Page) -> int:
    text = await page.get_by_test_id("logs-count").text_content() or ""
    return int(text.split()[0])


async def downloaded_numbers(page: Page) -> list[int]:
    async with page.expect_download() as info:
        await page.get_by_test_id("logs-download").click()
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    return [int(n) for n in re.findall(r"^line (\d+)$", text, re.MULTILINE)]


async def test_the_cluster_its_pods_and_a_pods_log_appear_live_and_only_with_a_grant(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    auth_service: AuthService,
    admin_token: str,
    dashboard_settings: GatewaySettings,
) -> None:
    cluster = k8s_cluster.context
    run_pod(k8s_cluster, namespace, "numbers", container("num", k8s_cluster.image, COUNTER))
    run_pod(k8s_cluster, namespace, "crash", container("main", k8s_cluster.image, "exit 2"))
    async with (
        collecting(k8s_settings(nats_server, prefix, k8s_cluster)),
        serve_gateway(dashboard_settings) as address,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address, "admin", ADMIN_PASSWORD, WAIT_MS)

        # The cluster is listed; its pods table shows ours with figures and status.
        await page.get_by_test_id("nav-k8s").click()
        cluster_row = page.locator(f"[data-testid=cluster-row][data-cluster={cluster}]")
        await expect(cluster_row).to_be_visible(timeout=WAIT_MS)
        await screenshot(page, "k8s-clusters")
        await cluster_row.get_by_role("link").click()
        row = page.locator(f"[data-testid=pod-row][data-namespace={namespace}][data-pod=numbers]")
        await expect(row).to_be_visible(timeout=WAIT_MS)
        await page.get_by_test_id("filter-namespace").select_option(namespace)
        await expect(page.get_by_test_id("pod-row")).to_have_count(2)
        await expect(row.get_by_test_id("pod-status")).to_have_text("Running", timeout=WAIT_MS)
        await expect(row.get_by_test_id("pod-ready")).to_have_text("1/1")
        await expect(row.get_by_test_id("pod-restarts")).to_have_text("0")
        await expect(row.get_by_test_id("pod-cpu")).to_have_text(
            re.compile(r"^\d+ m$"), timeout=WAIT_MS
        )
        await expect(row.get_by_test_id("pod-memory")).to_have_text(
            re.compile(r"^\d+(\.\d)? (KiB|MiB)$")
        )
        # The crashing one: its badge says why, its restarts count.
        crash = page.locator(f"[data-testid=pod-row][data-namespace={namespace}][data-pod=crash]")
        await expect(crash.get_by_test_id("pod-status")).to_have_text(
            "CrashLoopBackOff", timeout=WAIT_MS
        )
        await expect(crash.get_by_test_id("pod-ready")).to_have_text("0/1")
        await expect(crash.get_by_test_id("pod-restarts")).not_to_have_text("0")
        await page.get_by_test_id("pod-sort-memory").click()
        await screenshot(page, "k8s-pods")

        # The pod page: its container, and its log streaming.
        await row.click()
        await expect(
            page.locator("[data-testid=pod-container][data-container=num]")
        ).to_contain_text("running", timeout=WAIT_MS)
        await expect(page.get_by_test_id("log-line").first).to_be_visible(timeout=WAIT_MS)
        first = await log_count(page)
        await page.wait_for_function(
            "n => parseInt(document.querySelector('[data-testid=logs-count]').textContent) > n",
            arg=first,
            timeout=WAIT_MS,
        )
        await screenshot(page, "k8s-pod")

        # Scroll-back to the log's first line, joined to the live lines: none missing or twice.
        older = page.get_by_test_id("logs-older")
        for _ in range(20):
            if await older.text_content() == "Start of the log":
                break
            await older.click()
            await expect(older).not_to_have_text("Loading…", timeout=WAIT_MS)
        await expect(older).to_have_text("Start of the log")
        numbers = await downloaded_numbers(page)
        for _ in range(10):  # the older lines show at the view's next render tick (250 ms)
            if numbers[:1] == [1]:
                break
            await asyncio.sleep(0.5)
            numbers = await downloaded_numbers(page)
        assert numbers == list(range(1, len(numbers) + 1))
        assert len(numbers) > first

        # A viewer granted another cluster only does not see this one.
        await add_viewer(address, admin_token, ["some-other-cluster"])
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            other = await context.new_page()
            await sign_in(other, address, *VIEWER, WAIT_MS)
            await other.get_by_test_id("nav-k8s").click()
            # The page says how a cluster is added, and that the grant may be why.
            no_clusters = other.get_by_test_id("no-clusters")
            await expect(no_clusters).to_contain_text("VIGIL_COLLECTOR_KUBECONFIG", timeout=WAIT_MS)
            await expect(no_clusters).to_contain_text(
                "may see only some-other-cluster, which may be why"
            )
            await other.goto(f"http://{address}/#/k8s/{cluster}")
            await expect(other.get_by_test_id("cluster-error")).to_contain_text("FORBIDDEN")
            await expect(other.get_by_test_id("pod-row")).to_have_count(0)
            await screenshot(other, "k8s-no-grant")
        finally:
            await context.close()


async def test_a_pod_is_deleted_and_its_deployment_scaled_from_the_pod_page(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    auth_service: AuthService,
    dashboard_settings: GatewaySettings,
) -> None:
    cluster = k8s_cluster.context
    make_deployment(k8s_cluster, namespace, "web")
    deployer = k8s_deployer_settings(nats_server, prefix, k8s_cluster)
    async with (
        run_deployer(deployer),
        collecting(k8s_settings(nats_server, prefix, k8s_cluster)),
        serve_gateway(dashboard_settings) as address,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address, "admin", ADMIN_PASSWORD, WAIT_MS)
        await page.get_by_test_id("nav-k8s").click()
        await (
            page.locator(f"[data-testid=cluster-row][data-cluster={cluster}]")
            .get_by_role("link")
            .click(timeout=WAIT_MS)
        )
        await page.get_by_test_id("filter-namespace").select_option(namespace, timeout=WAIT_MS)
        row = page.locator(f"[data-testid=pod-row][data-namespace={namespace}]").first
        await expect(row.get_by_test_id("pod-status")).to_have_text("Running", timeout=WAIT_MS)
        pod = await row.get_attribute("data-pod")
        await row.click()

        actions = page.get_by_test_id("pod-actions")
        result = page.get_by_test_id("action-result")
        await actions.get_by_label("replicas").fill("2")
        await actions.get_by_role("button", name="scale").click()
        await expect(result).to_have_text("scale: scaled to 2", timeout=WAIT_MS)
        with k8s_cluster.api_client() as api:
            found = client.AppsV1Api(api).read_namespaced_deployment("web", namespace)
        assert found.spec.replicas == 2

        await actions.get_by_role("button", name="delete pod").click()
        dialog = page.get_by_test_id("ask-dialog")
        await expect(dialog).to_contain_text(f"Delete pod {namespace}/{pod}", timeout=WAIT_MS)
        await screenshot(page, "k8s-pod-delete-asked")
        await dialog.get_by_role("button", name="Confirm").click()
        await expect(result).to_have_text("delete: deleted", timeout=WAIT_MS)


async def test_an_admin_opens_a_shell_in_a_pods_container_from_its_page(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    auth_service: AuthService,
    dashboard_settings: GatewaySettings,
) -> None:
    cluster = k8s_cluster.context
    run_pod(k8s_cluster, namespace, "shelled", container("app", k8s_cluster.image, "sleep 3600"))
    deployer = k8s_deployer_settings(nats_server, prefix, k8s_cluster, exec_enabled=True)
    async with (
        run_deployer(deployer),
        collecting(k8s_settings(nats_server, prefix, k8s_cluster)),
        serve_gateway(dashboard_settings.model_copy(update={"exec_enabled": True})) as address,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address, "admin", ADMIN_PASSWORD, WAIT_MS)
        await page.goto(f"http://{address}/#/k8s/{cluster}/{namespace}/shelled")
        shell = page.get_by_test_id("shell")
        await shell.get_by_role("button", name="shell").click(timeout=WAIT_MS)
        status = page.get_by_test_id("shell-status")
        await expect(status).to_have_text(
            f"shell in {namespace}/shelled on {cluster}", timeout=WAIT_MS
        )
        screen = page.get_by_test_id("shell-screen")
        await screen.click()
        await page.keyboard.type("echo pod-$((6 * 7)); stty size\n")
        await expect(screen).to_contain_text("pod-42", timeout=WAIT_MS)
        await expect(screen).to_contain_text("24 100", timeout=WAIT_MS)  # the terminal's size
        await screenshot(page, "k8s-pod-shell")
        await page.keyboard.type("exit 4\n")
        await expect(status).to_have_text("ended: exited (exit code 4)", timeout=WAIT_MS)
