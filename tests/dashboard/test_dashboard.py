"""The web dashboard end to end, in headless Chromium (Debian's package, driven by
Playwright) against the real stack: nats-server, auth, the collector on the real
Docker engine, the gateway on uvicorn serving the built dashboard, and for deploys the
deployer and a local registry. Screenshots of the main views go to test-artifacts/."""

import asyncio
import contextlib
import json
import os
import re
import shlex
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect
from websockets.asyncio.client import connect

from tests.browser import chromium, proxy, screenshot, web_dist
from tests.conftest import ADMIN_PASSWORD, collector_settings_for
from tests.deploy_support import HTTP_PORT, HTTPD, Deployment, build_and_push
from tests.docker_engine import Containers, docker
from tests.support import (
    NatsServer,
    host_sample,
    raise_alert,
    receive,
    receive_until,
    run_collector,
    send,
    serve_gateway,
)
from vigil.bus import Bus
from vigil.messages import DiskIoRates, NetworkRates
from vigil_auth.app import AuthService
from vigil_deployer.app import DeployerService
from vigil_gateway.settings import GatewaySettings

pytestmark = pytest.mark.timeout(150)

COUNTER = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done"
SIZE = r"(\d+ B|\d+\.\d (KiB|MiB|GiB))"
PULL_LINE = re.compile(rf"^pull: \d+ % · {SIZE} of ({SIZE}|\?) · \d+/\d+ layers$")
WAIT_MS = 30_000  # generous: CI shares two cores with the whole stack


@pytest.fixture
def dashboard_settings(gateway_settings: GatewaySettings) -> GatewaySettings:
    # The default rate limits: a dashboard subscribes to a handful of channels at once,
    # and again on every view and reconnect, and must never trip them.
    return gateway_settings.model_copy(update={"web_dir": web_dist()})


@pytest.fixture
def talker(containers: Containers) -> str:
    """A container printing `line 0`, `line 1`... ten times a second; its name."""
    return containers.run("talker", "sh", "-c", COUNTER)[1]


@contextlib.asynccontextmanager
async def docker_collector(nats: NatsServer, prefix: str) -> AsyncIterator[None]:
    settings = collector_settings_for(
        nats, prefix, docker="on", docker_interval_s=1.0, interval_s=1.0
    )
    async with run_collector(settings):
        yield


async def sign_in(page: Page, address: str, until: str = "live") -> None:
    """Log in as the admin; return once the connection indicator says `until`."""
    await page.goto(f"http://{address}/")
    await page.fill("input[name=username]", "admin")
    await page.fill("input[name=password]", ADMIN_PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-status", until, timeout=WAIT_MS
    )


async def host_figures_change(page: Page) -> None:
    sample_time = page.get_by_test_id("host-time")
    await expect(sample_time).to_be_visible(timeout=WAIT_MS)
    first = await sample_time.text_content()
    await expect(sample_time).not_to_have_text(first or "", timeout=WAIT_MS)


async def log_count(page: Page) -> int:
    text = await page.get_by_test_id("logs-count").text_content() or ""
    return int(text.split()[0])


async def wait_for_count(page: Page, above: int) -> int:
    """The log viewer's line count once it exceeds `above`."""
    await page.wait_for_function(
        "above => parseInt(document.querySelector('[data-testid=logs-count]').textContent) > above",
        arg=above,
        timeout=WAIT_MS,
    )
    return await log_count(page)


async def downloaded_log(page: Page) -> list[int]:
    """The counter values in the log as the Download button saves it."""
    async with page.expect_download() as info:
        await page.get_by_test_id("logs-download").click()
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    return [int(n) for n in re.findall(r"^line (\d+)$", text, re.MULTILINE)]


async def open_container(page: Page, name: str) -> None:
    await page.get_by_test_id("nav-containers").click()
    await page.get_by_test_id("filter-name").fill(name)
    row = page.locator(f"[data-testid=container-row][data-name={name}]")
    await expect(row).to_be_visible(timeout=WAIT_MS)
    await row.click()
    await expect(page.get_by_test_id("log-line").first).to_be_visible(timeout=WAIT_MS)


async def test_hosts_and_containers_update_live_and_logs_stream_and_pause(
    nats_server: NatsServer,
    prefix: str,
    containers: Containers,
    talker: str,
    auth_service: AuthService,
    alerts_bus: Bus,
    dashboard_settings: GatewaySettings,
) -> None:
    settings = dashboard_settings.model_copy(update={"log_tail": 20})  # older lines: scroll back
    async with (
        docker_collector(nats_server, prefix),
        serve_gateway(settings) as address,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address)

        # Host figures appear and change.
        await host_figures_change(page)
        await expect(page.get_by_test_id("host-cpu")).to_have_text(re.compile(r"\d+\.\d %"))
        await screenshot(page, "hosts")

        # The container table: ours with its figures, and one started now shows up live.
        await page.get_by_test_id("nav-containers").click()
        await page.get_by_test_id("filter-name").fill(f"vigil-{prefix}")
        talker_row = page.locator(f"[data-testid=container-row][data-name={talker}]")
        await expect(talker_row).to_be_visible(timeout=WAIT_MS)
        await expect(talker_row.get_by_test_id("container-cpu")).to_have_text(
            re.compile(r"\d+\.\d %"), timeout=WAIT_MS
        )
        await expect(talker_row.get_by_test_id("status-badge")).to_have_text("running")
        _, late = containers.run("late", "sleep", "3600")
        late_row = page.locator(f"[data-testid=container-row][data-name={late}]")
        await expect(late_row).to_be_visible(timeout=WAIT_MS)
        await expect(late_row.get_by_test_id("status-badge")).to_have_text("running")
        await page.get_by_test_id("sort-memory").click()
        await screenshot(page, "containers")

        # Logs stream; paused, the view holds still while lines keep coming; then follows.
        await open_container(page, talker)
        streaming = await wait_for_count(page, await log_count(page))
        await page.get_by_test_id("logs-pause").click()
        held = await log_count(page)
        await expect(page.get_by_test_id("logs-follow")).to_contain_text("new", timeout=WAIT_MS)
        assert await log_count(page) == held
        await page.get_by_test_id("logs-follow").click()
        assert await wait_for_count(page, held) > streaming
        await screenshot(page, "container-logs")

        # Scroll-back: older pages from the engine, back to the log's first line, joined
        # to the live ones with nothing missing or twice.
        assert (await downloaded_log(page))[0] > 0  # the stream began with the last 20
        older = page.get_by_test_id("logs-older")
        for _ in range(20):
            if await older.text_content() == "Start of the log":
                break
            await older.click()
            await expect(older).not_to_have_text("Loading…", timeout=WAIT_MS)
        await expect(older).to_have_text("Start of the log")
        numbers = await downloaded_log(page)
        for _ in range(10):  # the older lines show at the view's next render tick (250 ms)
            if numbers[:1] == [0]:
                break
            await asyncio.sleep(0.5)
            numbers = await downloaded_log(page)
        assert numbers == list(range(len(numbers)))  # from `line 0`

        await page.get_by_test_id("nav-admin").click()
        await expect(page.get_by_test_id("connections")).to_contain_text("admin", timeout=WAIT_MS)
        # The audit trail: the sign-in above is in it, and a failed login shows at once.
        audit = page.get_by_test_id("audit")
        await expect(audit).to_contain_text("auth.login", timeout=WAIT_MS)
        async with httpx.AsyncClient(base_url=f"http://{address}") as http:
            wrong = {"username": "mallory", "password": "not-the-password-9"}
            assert (await http.post("/api/auth/token", json=wrong)).status_code == 401
        await expect(audit.locator("tr.refused").first).to_contain_text("mallory", timeout=WAIT_MS)
        await screenshot(page, "admin")

        # An alert raised now is counted in the bar and listed as active.
        await raise_alert(alerts_bus, 7)
        await expect(page.get_by_test_id("nav-alerts")).to_have_text("Alerts (1)", timeout=WAIT_MS)
        await page.get_by_test_id("nav-alerts").click()
        await expect(page.get_by_test_id("alerts-active")).to_contain_text("alert 7")
        await screenshot(page, "alerts")


MERGED_COUNTER = 'i=0; while true; do i=$((i+1)); echo "{hint} $i"; sleep 0.2; done'
MERGED_LINE = re.compile(r"^(\S+) (\S+)( \(late\))? (alpha|beta|gamma) (\d+)$")


async def downloaded_text(page: Page) -> str:
    async with page.expect_download() as info:
        await page.get_by_test_id("logs-download").click()
    download = await info.value
    return await asyncio.to_thread(Path(await download.path()).read_text)


def merged_download(text: str) -> list[tuple[datetime, str, bool, str, int]]:
    """A merged view's downloaded lines: (time, source, late, counter, number)."""
    lines = []
    for line in text.splitlines():
        if match := MERGED_LINE.match(line):
            time, source, late, counter, number = match.groups()
            lines.append((datetime.fromisoformat(time), source, bool(late), counter, int(number)))
    return lines


async def test_merged_logs_show_every_source_in_time_order_with_toggles_and_joins(
    nats_server: NatsServer,
    prefix: str,
    containers: Containers,
    auth_service: AuthService,
    dashboard_settings: GatewaySettings,
) -> None:
    _, alpha = containers.run("alpha", "sh", "-c", MERGED_COUNTER.format(hint="alpha"))
    _, beta = containers.run("beta", "sh", "-c", MERGED_COUNTER.format(hint="beta"))
    settings = dashboard_settings.model_copy(update={"merge_window_s": 0.5, "log_lease_s": 1.5})
    async with (
        docker_collector(nats_server, prefix),
        serve_gateway(settings) as address,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address)
        await page.get_by_test_id("nav-merged").click()
        await page.get_by_test_id("merged-label").fill(f"vigil.test={containers.label}")
        await page.get_by_test_id("merged-open").click()
        toggle = "[data-testid=source-toggle][data-source={}]"
        for name in (alpha, beta):
            await expect(page.locator(toggle.format(name))).to_be_visible(timeout=WAIT_MS)
        await wait_for_count(page, 10)

        # A container started now joins the view with a marker (the search keeps markers).
        _, gamma = containers.run("gamma", "sh", "-c", MERGED_COUNTER.format(hint="gamma"))
        await page.get_by_test_id("logs-search").fill(gamma)
        joined = page.locator(f"[data-testid=log-marker][data-marker=joined][data-source={gamma}]")
        await expect(joined).to_be_visible(timeout=WAIT_MS)
        await expect(
            page.locator(f"[data-testid=log-line][data-source={gamma}]").first
        ).to_be_visible(timeout=WAIT_MS)
        await page.get_by_test_id("logs-search").fill("")
        await wait_for_count(page, await log_count(page) + 10)

        text = await downloaded_text(page)
        lines = merged_download(text)
        on_time = [time for time, _, late, _, _ in lines if not late]
        assert on_time == sorted(on_time), "merged lines out of time order"
        for name, counter in ((alpha, "alpha"), (beta, "beta"), (gamma, "gamma")):
            numbers = [n for _, source, _, c, n in lines if source == name and c == counter]
            assert numbers, f"no lines of {counter}"
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), counter
        assert f"--- {gamma} joined" in text

        # Toggled off, a source's lines go (from the list and the download), and come back.
        await page.locator(toggle.format(beta)).click()
        await expect(page.locator(f"[data-testid=log-view] [data-source={beta}]")).to_have_count(0)
        await expect(
            page.locator(f"[data-testid=log-line][data-source={alpha}]").first
        ).to_be_visible()
        assert f" {beta} " not in await downloaded_text(page)
        await screenshot(page, "merged-logs")
        await page.locator(toggle.format(beta)).click()
        await expect(
            page.locator(f"[data-testid=log-line][data-source={beta}]").first
        ).to_be_visible(timeout=WAIT_MS)

        # The containers page merges the logs of the containers it shows.
        await page.get_by_test_id("nav-containers").click()
        await page.get_by_test_id("filter-name").fill(f"vigil-{containers.label}-alpha")
        await page.get_by_test_id("merge-shown").click()
        await expect(page.get_by_test_id("merged-name")).to_have_value(
            f"*vigil-{containers.label}-alpha*"
        )
        await expect(
            page.locator(f"[data-testid=log-line][data-source={alpha}]").first
        ).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator(f"[data-testid=log-view] [data-source={beta}]")).to_have_count(0)

        # The form's filters go to the gateway: a regex keeps every tenth line.
        await page.get_by_test_id("merged-regex").fill("0$")
        await page.get_by_test_id("merged-open").click()
        await expect(page).to_have_url(re.compile(r"regex=0%24"))
        shown = page.locator("[data-testid=log-line]")
        await expect(shown.first).to_be_visible(timeout=WAIT_MS)
        for text in await shown.all_text_contents():
            assert re.search(r" alpha \d*0$", text), text


async def test_restarted_gateway_reconnects_with_no_duplicate_or_missing_lines(
    nats_server: NatsServer,
    prefix: str,
    talker: str,
    auth_service: AuthService,
    dashboard_settings: GatewaySettings,
) -> None:
    async with docker_collector(nats_server, prefix), proxy() as front, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        indicator = page.get_by_test_id("connection")
        async with serve_gateway(dashboard_settings) as address:
            front.upstream = address
            await sign_in(page, front.address)
            await open_container(page, talker)
            before = await wait_for_count(page, 20)
            front.upstream = None  # the restarted one comes up where the proxy sends
        # The gateway is gone: the dashboard says so and retries.
        await expect(indicator).to_have_attribute("data-status", "reconnecting")
        async with serve_gateway(dashboard_settings) as address:
            front.upstream = address
            await expect(indicator).to_have_attribute("data-status", "live", timeout=WAIT_MS)
            await expect(indicator).to_have_attribute("data-transport", "websocket")
            await wait_for_count(page, before + 30)
            lines = await downloaded_log(page)
    assert lines, "no counter lines in the downloaded log"
    assert lines == list(range(lines[0], lines[0] + len(lines))), "duplicate or missing lines"
    assert len(lines) > before


async def test_blocked_websocket_falls_back_to_sse_and_keeps_updating(
    nats_server: NatsServer,
    prefix: str,
    containers: Containers,
    talker: str,
    auth_service: AuthService,
    dashboard_settings: GatewaySettings,
) -> None:
    async with (
        docker_collector(nats_server, prefix),
        serve_gateway(dashboard_settings) as address,
        proxy(address) as front,
        chromium() as browser,
    ):
        front.refuse_upgrades = True
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, front.address, until="fallback")
        await expect(page.get_by_test_id("connection")).to_have_attribute("data-transport", "sse")
        assert front.refused >= 2

        await host_figures_change(page)
        await screenshot(page, "fallback-sse")

        await open_container(page, talker)
        await wait_for_count(page, await log_count(page))

        # A merged view streams over SSE too.
        await page.get_by_test_id("nav-merged").click()
        await page.get_by_test_id("merged-label").fill(f"vigil.test={containers.label}")
        await page.get_by_test_id("merged-open").click()
        talker_lines = page.locator(f"[data-testid=log-line][data-source={talker}]")
        await expect(talker_lines.first).to_be_visible(timeout=WAIT_MS)
        await wait_for_count(page, await log_count(page))
        await expect(page.get_by_test_id("connection")).to_have_attribute("data-transport", "sse")


async def test_a_deploy_from_the_form_shows_its_steps_and_asks_for_confirmation(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    deployer: DeployerService,
    deployment: Deployment,
    dashboard_settings: GatewaySettings,
    tmp_path: Path,
) -> None:
    # An image of this test's own, so its layers are pulled (with bars) whatever ran before.
    salt = uuid.uuid4().bytes
    image = f"{deployment.images.registry}/vigil-test/dash-{salt.hex()[:8]}:1"
    files = {"index": b"dash\n" + salt.hex().encode(), "blob": salt + os.urandom(1_000_000)}
    await asyncio.to_thread(build_and_push, deployment.images.base, image, tmp_path / "i", files)
    more = {
        "ports": [{"container_port": HTTP_PORT}],
        "labels": {"vigil-test": prefix},
        "health": {"kind": "http", "port": HTTP_PORT, "path": "/index", "timeout_s": 10},
    }
    async with serve_gateway(dashboard_settings) as address, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address)
        await page.get_by_test_id("nav-deploys").click()
        form = page.get_by_test_id("deploy-form")
        await form.locator("input[name=name]").fill(f"web-{prefix}")
        await form.locator("input[name=image]").fill(image)
        # Split as a shell would: the quoted argument reaches the container without quotes.
        await form.locator("input[name=command]").fill(shlex.join(HTTPD[:-1]) + " '/www'")
        await expect(form.get_by_test_id("command-arg")).to_have_text(HTTPD)
        await form.locator("input[name=command]").fill(shlex.join(HTTPD[:-1]) + " '/www")
        await expect(form.get_by_test_id("command-argv")).to_have_text(
            "command: a quote is not closed"
        )
        await expect(form.locator("button[type=submit]")).to_be_disabled()
        await form.locator("input[name=command]").fill(shlex.join(HTTPD[:-1]) + " '/www'")
        # Deploy secrets: write-only, so nothing the dashboard shows after holds them.
        await form.locator("textarea[name=secret_args]").fill("tok-8e2a5c1d94")
        await form.locator("textarea[name=env]").fill("DB_PASSWORD=pw-3f7b9e0a62\nMODE=blue")
        await form.locator("textarea[name=extra]").fill(json.dumps(more))
        await screenshot(page, "deploy-form")
        await form.locator("button[type=submit]").click()

        dialog = page.get_by_test_id("ask-dialog")
        await expect(dialog).to_contain_text(f"web-{prefix}", timeout=30_000)
        await expect(page.locator("[data-testid=deploy-step][data-step=pull]")).to_be_visible()
        await expect(page.get_by_test_id("layer").first).to_be_visible()
        # One unit system (IEC), and "?" for a total Docker has not told yet.
        await expect(page.get_by_test_id("pull-line")).to_have_text(PULL_LINE)
        await expect(page.locator("[data-testid=deploy-step][data-step=pull]")).not_to_contain_text(
            " MB"
        )
        await screenshot(page, "deploy-confirm")
        await dialog.get_by_role("button", name="Confirm").click()

        await expect(page.get_by_test_id("deploy-state")).to_have_text("succeeded", timeout=30_000)
        switch = page.locator("[data-testid=deploy-step][data-step=switch]")
        await expect(switch).to_have_attribute("data-status", "finished")
        await expect(page.locator("[data-testid=deploy-step][data-step=confirm]")).to_contain_text(
            "confirmed by admin"
        )
        await screenshot(page, "deploy")
        spec = page.get_by_test_id("deploy-spec")
        await expect(spec).to_contain_text(f"{' '.join(HTTPD)} secret(***)")
        await expect(spec).to_contain_text("DB_PASSWORD=***")
        shown = await page.content()
        await page.get_by_test_id("nav-deploys").click()
        await expect(page.get_by_test_id("deploy-history")).to_contain_text(f"web-{prefix}")
        shown += await page.content()
    assert "tok-8e2a5c1d94" not in shown
    assert "pw-3f7b9e0a62" not in shown
    container = json.loads(docker("inspect", f"web-{prefix}"))[0]["Config"]
    assert container["Cmd"] == [*HTTPD, "tok-8e2a5c1d94"]
    assert "DB_PASSWORD=pw-3f7b9e0a62" in container["Env"]


async def test_a_host_whose_collector_stopped_is_greyed_until_it_samples_again(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    dashboard_settings: GatewaySettings,
) -> None:
    settings = dashboard_settings.model_copy(update={"stale_min_s": 0.0})
    sampling = collector_settings_for(nats_server, prefix, interval_s=0.5)  # no Docker
    stale = re.compile(r"\bstale\b")
    async with serve_gateway(settings) as address, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        card = page.get_by_test_id(f"host-{sampling.host}")
        async with run_collector(sampling):
            await sign_in(page, address)
            await expect(card).to_be_visible(timeout=WAIT_MS)
            await expect(card).not_to_have_class(stale)
        # The collector stopped: its last figures stay, greyed, saying how old they are.
        await expect(card).to_have_class(stale, timeout=WAIT_MS)
        await expect(card.get_by_test_id("stale-note")).to_contain_text("no data for")
        await expect(card.get_by_test_id("host-cpu")).to_be_visible()
        await screenshot(page, "host-stale")
        async with run_collector(sampling):
            await expect(card).not_to_have_class(stale, timeout=WAIT_MS)
            await expect(card.get_by_test_id("stale-note")).to_have_count(0)


async def spend_the_request_budget(address: str, token: str, at_least_s: float) -> float:
    """Send requests as the user until the gateway refuses one (RATE_LIMITED); the wait
    it names, once that is `at_least_s` or more (a window about to end is waited out, as
    the gateway says, and spent anew)."""
    async with connect(f"ws://{address}/ws?token={token}") as ws:
        await receive(ws)  # connected
        while True:
            await send(ws, {"type": "ping"})
            answer = await receive_until(ws, lambda m: m["type"] in {"pong", "error"})
            if answer["type"] == "pong":
                continue
            assert answer["code"] == "RATE_LIMITED", answer
            retry_after_s = float(answer["retry_after_s"])
            if retry_after_s >= at_least_s:
                return retry_after_s
            await asyncio.sleep(retry_after_s)  # the gateway's own word: a fresh window then


async def test_a_refused_log_pane_says_why_and_fills_once_the_retry_is_answered(
    nats_server: NatsServer,
    prefix: str,
    talker: str,
    auth_service: AuthService,
    admin_token: str,
    dashboard_settings: GatewaySettings,
) -> None:
    # The user's budget is shared by all their sockets: a script of theirs spends it
    # (seed 003's window, where pings and subscriptions share one budget).
    settings = dashboard_settings.model_copy(
        update={"rate_limit": "window", "rate_limit_messages": 20, "rate_limit_window_s": 8.0}
    )
    async with (
        docker_collector(nats_server, prefix),
        serve_gateway(settings) as address,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address)
        await page.get_by_test_id("nav-containers").click()
        await page.get_by_test_id("filter-name").fill(talker)
        row = page.locator(f"[data-testid=container-row][data-name={talker}]")
        await expect(row).to_be_visible(timeout=WAIT_MS)

        await spend_the_request_budget(address, admin_token, at_least_s=4.0)
        await row.click()  # the log pane subscribes: refused for now
        refusal = page.get_by_test_id("refusal")
        await expect(refusal).to_contain_text("RATE_LIMITED", timeout=WAIT_MS)
        await expect(refusal).to_contain_text(re.compile(r"Trying again in \d+ s"))
        await expect(page.get_by_test_id("logs-count")).to_have_text("0 lines")
        await screenshot(page, "refused-log")

        # Asked again when the gateway said: the notice goes and the lines come.
        await expect(refusal).to_have_count(0, timeout=WAIT_MS)
        await wait_for_count(page, 0)
        await expect(page.get_by_test_id("empty-log")).to_have_count(0)


MIB = 1024**2

# Per chart of a card: the y axis's box (the canvas left of the plot, in canvas pixels)
# and the leftmost column in it where anything is drawn (a label cut by the box's edge
# is drawn from column 0).
AXIS_INK = """card => [...card.querySelectorAll('.uplot')].map(plot => {
  const canvas = plot.querySelector('canvas');
  const over = plot.querySelector('.u-over');
  const ratio = canvas.width / canvas.clientWidth;
  const width = Math.round(parseFloat(over.style.left) * ratio);
  const rows = Math.round((parseFloat(over.style.top) + parseFloat(over.style.height)) * ratio);
  const pixels = canvas.getContext('2d').getImageData(0, 0, width, rows).data;
  let leftmost = null;
  for (let y = 0; y < rows; y++)
    for (let x = 0; x < (leftmost ?? width); x++)
      if (pixels[(y * width + x) * 4 + 3] > 0) leftmost = x;
  return {title: plot.closest('figure').querySelector('figcaption').textContent, width, leftmost};
})"""


async def test_chart_labels_fit_their_axis(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    alerts_bus: Bus,
    dashboard_settings: GatewaySettings,
) -> None:
    async with serve_gateway(dashboard_settings) as address, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address)
        # A host moving some hundred MiB a second: labels as wide as "118.1 MiB/s".
        sample = host_sample(host="busy").model_copy(
            update={
                "disk_io": DiskIoRates(
                    read_bytes_per_s=518.1 * MIB,
                    write_bytes_per_s=18.1 * MIB,
                    read_ops_per_s=0,
                    write_ops_per_s=0,
                ),
                "network": NetworkRates(
                    rx_bytes_per_s=118.1 * MIB,
                    tx_bytes_per_s=18.1 * MIB,
                    rx_packets_per_s=0,
                    tx_packets_per_s=0,
                    rx_bytes_total=0,
                    tx_bytes_total=0,
                ),
            }
        )
        await alerts_bus.publish(alerts_bus.subjects.host_metrics("busy"), sample)
        card = page.get_by_test_id("host-busy")
        await expect(card.get_by_test_id("host-network")).to_contain_text("118.1 MiB/s")
        await screenshot(page, "host-charts")
        axes = await card.evaluate(AXIS_INK)
    assert [axis["title"] for axis in axes] == ["CPU and memory %", "disk I/O", "network"]
    for axis in axes:
        assert axis["leftmost"] is not None, f"no label on the axis of {axis}"
        assert axis["leftmost"] >= 1, f"a label cut by the left edge of its axis: {axis}"


async def test_empty_tables_say_what_is_missing_and_what_to_do(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    deployer: DeployerService,
    dashboard_settings: GatewaySettings,
) -> None:
    # A stack with no collector: no host, no container, no cluster, no deploy, no alert.
    async with serve_gateway(dashboard_settings) as address, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address)
        await expect(page.get_by_test_id("empty-hosts")).to_contain_text("is a collector running")

        await page.get_by_test_id("nav-containers").click()
        await expect(page.get_by_test_id("empty-containers")).to_contain_text(
            "Is Docker followed on this host?"
        )
        await page.get_by_test_id("nav-k8s").click()
        no_clusters = page.get_by_test_id("no-clusters")
        await expect(no_clusters).to_contain_text("VIGIL_COLLECTOR_KUBECONFIG")
        await expect(no_clusters).to_contain_text("Your account may see every cluster")
        await screenshot(page, "k8s-empty")

        await page.get_by_test_id("nav-deploys").click()
        await expect(page.get_by_test_id("empty-deploys")).to_contain_text("No deploys yet")
        await page.get_by_test_id("nav-alerts").click()
        await expect(page.get_by_test_id("alerts-active")).to_contain_text("No active alert")
        await expect(page.get_by_test_id("alerts-recent")).to_contain_text("No alert in the recent")
        await page.get_by_test_id("nav-admin").click()
        await expect(page.get_by_test_id("empty-keys")).to_contain_text("No API keys")
        await screenshot(page, "admin-empty")


async def test_the_page_names_its_icon_and_favicon_ico_answers(
    auth_service: AuthService, dashboard_settings: GatewaySettings
) -> None:
    async with serve_gateway(dashboard_settings) as address, chromium() as browser:
        page = await browser.new_page()
        missing: list[str] = []
        page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        await page.goto(f"http://{address}/")
        await expect(page.locator("input[name=username]")).to_be_visible()
        named = await page.locator("link[rel=icon]").get_attribute("href")
        assert named is not None
        icon = await page.request.get(f"http://{address}{named}")
        ico = await page.request.get(f"http://{address}/favicon.ico")
        ico_head = (await ico.body())[:4]
    assert (icon.status, icon.headers["content-type"]) == (200, "image/svg+xml")
    assert (ico.status, ico.headers["content-type"]) == (200, "image/vnd.microsoft.icon")
    assert ico_head == b"\x00\x00\x01\x00"  # an ICO file
    assert not missing, f"404 while loading the page: {missing}"


async def test_a_container_is_paused_restarted_and_kept_from_its_page(
    nats_server: NatsServer,
    prefix: str,
    containers: Containers,
    talker: str,
    auth_service: AuthService,
    deployer: DeployerService,
    dashboard_settings: GatewaySettings,
) -> None:
    async with (
        docker_collector(nats_server, prefix),
        serve_gateway(dashboard_settings) as address,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address)
        await open_container(page, talker)
        badge = page.locator("h2").get_by_test_id("status-badge")
        actions = page.get_by_test_id("container-actions")
        result = page.get_by_test_id("action-result")

        await actions.get_by_role("button", name="pause").click()
        await expect(result).to_have_text("pause: done (paused)", timeout=WAIT_MS)
        await expect(badge).to_have_text("paused", timeout=WAIT_MS)  # live, from the socket
        await actions.get_by_role("button", name="unpause").click()
        await expect(badge).to_have_text("running", timeout=WAIT_MS)
        started = docker("inspect", "-f", "{{.State.StartedAt}}", talker)
        await actions.get_by_role("button", name="restart").click()
        await expect(result).to_have_text("restart: done (running)", timeout=WAIT_MS)
        assert docker("inspect", "-f", "{{.State.StartedAt}}", talker) != started

        # Kill is asked first; declined in the dialog, the container runs on.
        await actions.get_by_role("button", name="kill").click()
        dialog = page.get_by_test_id("ask-dialog")
        await expect(dialog).to_contain_text(f"Send SIGKILL to container {talker}", timeout=WAIT_MS)
        await screenshot(page, "container-action-asked")
        await dialog.get_by_role("button", name="Decline").click()
        await expect(result).to_contain_text("kill: admin declined", timeout=WAIT_MS)
        assert docker("inspect", "-f", "{{.State.Status}}", talker).strip() == "running"
