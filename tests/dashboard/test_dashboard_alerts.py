"""The dashboard's alerts page end to end, in headless Chromium against the real stack:
nats-server, auth, the alerter with a real rule on a host's CPU, the gateway on uvicorn
serving the built dashboard. The host's samples are published as its collector would;
the rule raises and resolves the alert, and every transition reaches the page live."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.alerter_support import alerter_settings_for, make_rule, run_alerter
from tests.browser import chromium, screenshot, sign_in, web_dist
from tests.support import NatsServer, host_sample, serve_gateway, user_token, wait_for
from vigil.access import Role
from vigil.bus import Bus
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

pytestmark = pytest.mark.timeout(120)

WAIT_MS = 30_000  # generous: CI shares two cores with the whole stack
BEAT_S = 0.5  # the collector's interval, faster
HOT = {
    "name": "busy host",
    "target": {"kind": "host", "hosts": "busy"},
    "condition": {"kind": "metric", "metric": "cpu_percent", "threshold": 80},
}


class Host:
    """A host whose collector publishes a sample every beat, at the CPU figure set."""

    def __init__(self) -> None:
        self.cpu = 10.0


@contextlib.asynccontextmanager
async def collecting(bus: Bus, name: str) -> AsyncIterator[Host]:
    host = Host()

    async def beat() -> None:
        while True:
            sample = host_sample(cpu=host.cpu, host=name)
            await bus.publish(bus.subjects.host_metrics(name), sample)
            await asyncio.sleep(BEAT_S)

    task = asyncio.create_task(beat())
    try:
        yield host
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def alerts_page(page: Page, address: str, username: str) -> None:
    await sign_in(page, address, username, f"password of {username}", WAIT_MS)
    await page.get_by_test_id("nav-alerts").click()
    await expect(page.get_by_test_id("alerts-active")).to_be_visible()


async def test_an_alert_is_raised_acknowledged_and_resolved_live_and_a_viewer_cannot_ack(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    alerts_bus: Bus,
    gateway_settings: GatewaySettings,
    tmp_path: Path,
) -> None:
    settings = gateway_settings.model_copy(update={"web_dir": web_dist()})
    async with (
        run_alerter(alerter_settings_for(nats_server, prefix)) as alerter,
        serve_gateway(settings) as address,
        collecting(alerts_bus, "busy") as host,
        chromium() as browser,
    ):
        await user_token(alerts_bus, admin_token, "otto", Role.OPERATOR, [])
        await user_token(alerts_bus, admin_token, "vera", Role.VIEWER, [])
        rule = await make_rule(alerts_bus, admin_token, **HOT)
        await wait_for(lambda: rule.id in alerter.evaluator.rules, "the rule read")
        operator = await (
            await browser.new_context(viewport={"width": 1500, "height": 900})
        ).new_page()
        viewer = await (
            await browser.new_context(viewport={"width": 1500, "height": 900})
        ).new_page()
        await alerts_page(operator, address, "otto")
        await alerts_page(viewer, address, "vera")

        # Raised: on both pages, live.
        host.cpu = 95.0
        rows = {
            page: page.locator(f"[data-testid=alert-row][data-id^='rule:{rule.id}:']")
            for page in (operator, viewer)
        }
        for page, row in rows.items():
            await expect(row).to_have_attribute("data-phase", "raised", timeout=WAIT_MS)
            await expect(page.get_by_test_id("nav-alerts")).to_have_text("Alerts (1)")

        # A viewer is told why, and has no working button.
        await expect(viewer.get_by_test_id("alerts-viewer-note")).to_contain_text("operator role")
        await expect(rows[viewer].get_by_test_id("alert-ack-button")).to_be_disabled()
        await expect(rows[viewer].get_by_test_id("alert-silence-button")).to_be_disabled()
        await expect(viewer.get_by_test_id("silence-new")).to_have_count(0)

        # The operator acknowledges with a note; the viewer's page shows it too, unreloaded.
        await rows[operator].get_by_test_id("alert-ack-button").click()
        dialog = operator.get_by_test_id("ack-dialog")
        await dialog.locator("textarea[name=note]").fill("looking at it")
        await dialog.get_by_role("button", name="Acknowledge").click()
        await expect(dialog).to_have_count(0, timeout=WAIT_MS)
        for row in rows.values():
            await expect(row).to_have_attribute("data-phase", "acknowledged", timeout=WAIT_MS)
            await expect(row.get_by_test_id("alert-ack")).to_contain_text("by otto")
            await expect(row.get_by_test_id("alert-ack")).to_contain_text("looking at it")
        await expect(rows[operator].get_by_test_id("alert-ack-button")).to_have_count(0)

        # A silence from the alert, for 4 h: listed with who made it, then expired.
        await rows[operator].get_by_test_id("alert-silence-button").click()
        dialog = operator.get_by_test_id("silence-dialog")
        await expect(dialog.locator("input[name=alert_ids]")).to_have_value(
            await rows[operator].get_attribute("data-id") or ""
        )
        await dialog.locator("select[name=duration]").select_option(label="4 h")
        await dialog.locator("input[name=comment]").fill("tuning it")
        # A refusal (the gateway's 422) is said in the dialog, which stays open.
        await dialog.locator("input[name=hosts]").fill("no such host!")
        await dialog.get_by_role("button", name="Silence").click()
        await expect(dialog.get_by_test_id("dialog-refusal")).to_contain_text(
            "matcher.hosts", timeout=WAIT_MS
        )
        await dialog.locator("input[name=hosts]").fill("*")
        await dialog.get_by_role("button", name="Silence").click()
        await expect(dialog).to_have_count(0, timeout=WAIT_MS)
        silence = operator.get_by_test_id("silence-row")
        await expect(silence).to_contain_text("otto", timeout=WAIT_MS)
        await expect(silence).to_contain_text("tuning it")
        await expect(rows[operator].get_by_test_id("alert-silenced")).to_contain_text(
            "silenced until"
        )
        await operator.screenshot(path=str(tmp_path / "alerts-acknowledged.png"), full_page=True)
        await silence.get_by_test_id("silence-expire").click()
        await expect(silence).to_have_count(0, timeout=WAIT_MS)
        await expect(operator.get_by_test_id("silences")).to_contain_text("No silence in force")

        # Resolved: out of Active and into Recent on both pages, still saying who acknowledged it.
        host.cpu = 5.0
        for page in (operator, viewer):
            recent = page.get_by_test_id("alerts-recent").locator(f"[data-id^='rule:{rule.id}:']")
            await expect(recent).to_contain_text("resolved", timeout=WAIT_MS)
            await expect(recent).to_contain_text("otto")
            await expect(page.get_by_test_id("alerts-active")).to_contain_text("No active alert")
            await expect(page.get_by_test_id("nav-alerts")).to_have_text("Alerts")
        await operator.screenshot(path=str(tmp_path / "alerts-resolved.png"), full_page=True)


async def test_an_operator_adds_and_deletes_a_rule_and_a_viewer_only_reads_them(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    alerts_bus: Bus,
    gateway_settings: GatewaySettings,
) -> None:
    settings = gateway_settings.model_copy(update={"web_dir": web_dist()})
    async with (
        run_alerter(alerter_settings_for(nats_server, prefix)),
        serve_gateway(settings) as address,
        chromium() as browser,
    ):
        await user_token(alerts_bus, admin_token, "otto", Role.OPERATOR, [])
        await user_token(alerts_bus, admin_token, "vera", Role.VIEWER, [])
        operator = await (await browser.new_context()).new_page()
        viewer = await (await browser.new_context()).new_page()
        await alerts_page(operator, address, "otto")
        await alerts_page(viewer, address, "vera")

        # A rule the alerter refuses: its words in the dialog, which stays open.
        await operator.get_by_test_id("rule-new").click()
        dialog = operator.get_by_test_id("rule-dialog")
        await dialog.locator("input[name=name]").fill("hot web")
        await dialog.locator("input[name=where]").fill("web.*!")
        await dialog.get_by_role("button", name="Create").click()
        await expect(dialog.get_by_test_id("dialog-refusal")).to_contain_text(
            "glob", timeout=WAIT_MS
        )

        # Corrected: containers named api-* on web*, memory against their limit, proposing
        # a restart; it is listed in words.
        await dialog.locator("input[name=where]").fill("web*")
        await dialog.locator("input[name=nameGlob]").fill("api-*")
        await dialog.locator("select[name=metric]").select_option("memory_of_limit")
        await dialog.locator("input[name=threshold]").fill("90")
        await dialog.locator("select[name=propose]").select_option("restart")
        await dialog.get_by_role("button", name="Create").click()
        await expect(dialog).to_be_hidden(timeout=WAIT_MS)
        row = operator.get_by_test_id("rule-row").filter(has_text="hot web")
        await expect(row).to_contain_text("containers named api-* on web*")
        await expect(row).to_contain_text("memory_of_limit > 90")
        await expect(row).to_contain_text("restart")
        await expect(row).to_contain_text("otto")
        await screenshot(operator, "alert-rules")

        # The viewer reads it (at the page's next look, or a reload), with no way to edit.
        await viewer.reload()
        await expect(viewer.get_by_test_id("rule-row").filter(has_text="hot web")).to_be_visible(
            timeout=WAIT_MS
        )
        await expect(viewer.get_by_test_id("rule-new")).to_have_count(0)
        await expect(viewer.get_by_test_id("rule-delete")).to_have_count(0)

        await row.get_by_test_id("rule-delete").click()
        await expect(operator.get_by_test_id("rule-row")).to_have_count(0, timeout=WAIT_MS)
