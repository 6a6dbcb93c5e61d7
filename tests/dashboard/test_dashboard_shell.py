"""A shell in a container from its page in the dashboard, in headless Chromium against
the real stack (the deployer of the local engine and the gateway with exec on, the
collector, the built dashboard): the terminal (xterm.js) opens, a command typed runs
and its output shows, and `exit` ends it with the shell's exit code."""

import pytest
from playwright.async_api import expect

from tests.browser import chromium, screenshot, sign_in, web_dist
from tests.conftest import ADMIN_PASSWORD
from tests.deploy_support import TEST_HOST, deployer_settings_for, run_deployer
from tests.docker_engine import Containers
from tests.docker_support import DockerStack
from tests.support import NatsServer

pytestmark = pytest.mark.timeout(150)

WAIT_MS = 30_000  # generous: CI shares two cores with the whole stack


async def test_an_operator_opens_a_shell_from_a_containers_page(
    docker_stack: DockerStack, nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    short, name = containers.run("dashshell", "sleep", "3600")
    deployer = deployer_settings_for(nats_server, prefix, exec_enabled=True)
    async with (
        run_deployer(deployer),
        docker_stack.up(web_dir=web_dist(), exec_enabled=True) as address,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address, "admin", ADMIN_PASSWORD)
        await page.goto(f"http://{address}/#/containers/{TEST_HOST}/{short}")
        shell = page.get_by_test_id("shell")
        await shell.get_by_role("button", name="shell").click()
        status = page.get_by_test_id("shell-status")
        await expect(status).to_have_text(f"shell in {name} on {TEST_HOST}", timeout=WAIT_MS)
        screen = page.get_by_test_id("shell-screen")
        await screen.click()
        await page.keyboard.type("echo dash-$((6 * 7))\n")
        await expect(screen).to_contain_text("dash-42", timeout=WAIT_MS)
        await screenshot(page, "container-shell")
        await page.keyboard.type("exit 4\n")
        await expect(status).to_have_text("ended: exited (exit code 4)", timeout=WAIT_MS)
