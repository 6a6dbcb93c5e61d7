"""A rule's proposed restart confirmed from the dashboard's alerts page, in headless
Chromium against the real stack (the alerter, the deployer of the local engine, the
collector, the gateway serving the built dashboard): an operator sees the proposal on
the raised alert and confirms it; the deployer asks in the confirmation dialog: a no
does nothing and leaves it standing, a yes restarts the container, once; the page then
shows it done, live. A proposed rollback of the last deploy (v1 then v2 of a service)
shows as such, its question names both deploys, a yes brings v1 back, and the deploys
page says which deploy the new one rolls back."""

import time
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.alerter_support import (
    alerter_settings_for,
    restarts,
    rule_proposing,
    run_alerter,
    started_at,
)
from tests.browser import chromium, screenshot, web_dist
from tests.deploy_support import TEST_HOST, Deployment, Images, serves
from tests.docker_engine import Containers
from tests.docker_support import DockerStack
from tests.support import NatsServer, bus_client, until, user_token
from vigil import ctl
from vigil.access import Role
from vigil.messages import DeployRecord, ListDeploys
from vigil.operations import Deploy
from vigil_deployer.app import DeployerService

pytestmark = pytest.mark.timeout(150)

WAIT_MS = 30_000  # generous: CI shares two cores with the whole stack


async def test_an_operator_confirms_a_proposed_restart_from_the_alerts_page(
    docker_stack: DockerStack,
    deployer: DeployerService,
    containers: Containers,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
) -> None:
    since = int(time.time()) - 1
    _, name = containers.run("dashproposed", "sleep", "3600")
    before = started_at(name)
    async with bus_client(nats_server, prefix) as bus:
        operator = await user_token(bus, admin_token, "olga", Role.OPERATOR, [TEST_HOST])
    async with (
        run_alerter(alerter_settings_for(nats_server, prefix)),
        docker_stack.up(web_dir=web_dist()) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as http,
        chromium() as browser,
    ):
        page = await _alerts_page(http, browser, address, operator, rule_proposing(name, "restart"))
        active = page.get_by_test_id("alerts-active")
        proposal = active.get_by_role("button", name=f"restart {name} on {TEST_HOST}?")
        await expect(proposal).to_be_visible(timeout=WAIT_MS)
        assert started_at(name) == before  # proposed, not done

        # Declined in the dialog: nothing done, and the proposal stands.
        await proposal.click()
        dialog = page.get_by_test_id("ask-dialog")
        await expect(dialog).to_contain_text("proposes it", timeout=WAIT_MS)
        await dialog.get_by_role("button", name="Decline").click()
        await expect(active.get_by_test_id("proposal-result")).to_contain_text(
            "olga declined", timeout=WAIT_MS
        )
        assert started_at(name) == before

        await proposal.click()
        await expect(dialog).to_contain_text(f"Restart container {name} on {TEST_HOST}?")
        await expect(dialog).to_contain_text("proposes it", timeout=WAIT_MS)
        await dialog.get_by_role("button", name="Confirm").click()
        await expect(active.get_by_test_id("proposal").first).to_contain_text(
            f"restart {name} on {TEST_HOST}: done by olga", timeout=WAIT_MS
        )
        await screenshot(page, "alert-proposal")
    assert started_at(name) != before
    assert restarts(name, since) == ["restart"]  # exactly once


async def test_an_operator_rolls_back_the_last_deploy_from_the_alerts_page(
    docker_stack: DockerStack,
    deployer: DeployerService,
    deployment: Deployment,
    images: Images,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
) -> None:
    v1 = deployment.spec()
    first, _ = await deployment.run(v1)
    second, _ = await deployment.run(v1.model_copy(update={"image": images.web(2)}))
    name = v1.name
    assert serves(name) == "v2"
    operator = await user_token(deployment.bus, admin_token, "olga", Role.OPERATOR, [TEST_HOST])
    async with (
        run_alerter(alerter_settings_for(nats_server, prefix)),
        docker_stack.up(web_dir=web_dist()) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as http,
        chromium() as browser,
    ):
        page = await _alerts_page(
            http, browser, address, operator, rule_proposing(name, "rollback")
        )
        active = page.get_by_test_id("alerts-active")
        what = f"roll back the last deploy of {name} on {TEST_HOST}?"
        proposal = active.get_by_role("button", name=what)
        await expect(proposal).to_be_visible(timeout=WAIT_MS)

        await proposal.click()
        dialog = page.get_by_test_id("ask-dialog")
        await expect(dialog).to_contain_text(
            f"Roll back {name} on {TEST_HOST} from {images.web(2)} (deploy {second.id}) "
            f"to {images.web(1)} (deploy {first.id})?",
            timeout=WAIT_MS,
        )
        await screenshot(page, "alert-rollback-question")
        await dialog.get_by_role("button", name="Confirm").click()

        async def rolled_back() -> DeployRecord | None:
            listing = ListDeploys(name=name, host=TEST_HOST)
            token = deployment.tokens["alice"]
            found = await ctl.call(deployment.bus, Deploy.LIST, listing, token=token)
            newest = found.deploys[0]
            return newest if newest.state == "succeeded" and newest.rollback_of else None

        record = await until(rolled_back, "the rollback deploy succeeded", timeout=60)
        await page.get_by_test_id("nav-deploys").click()
        await expect(page.get_by_test_id("rollback-of")).to_have_text(
            f" · rolls back {second.id}", timeout=WAIT_MS
        )
    assert (record.rollback_of, record.spec.image) == (second.id, images.web(1))
    assert serves(name) == "v1"


async def _alerts_page(
    http: httpx.AsyncClient, browser: Browser, address: str, operator: str, rule: dict[str, Any]
) -> Page:
    """`rule` made by the operator olga (`operator`, her token), and the dashboard's alerts
    page as she sees it once logged in."""
    headers = {"Authorization": f"Bearer {operator}"}
    made = await http.post("/api/alerts/rules", json=rule, headers=headers)
    assert made.status_code == 201, made.text
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    await page.goto(f"http://{address}/")
    await page.fill("input[name=username]", "olga")
    await page.fill("input[name=password]", "password of olga")
    await page.click("button[type=submit]")
    await expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-status", "live", timeout=WAIT_MS
    )
    await page.get_by_test_id("nav-alerts").click()
    return page
