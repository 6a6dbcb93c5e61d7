"""A merged view's search asking the server, in headless Chromium against the real stack
(the collector on the local engine, the history service, the gateway serving the built
dashboard): the kept lines of every container the view's selector picks, and of no
other."""

import re

import pytest
from playwright.async_api import expect

from tests.browser import chromium, screenshot, sign_in, web_dist
from tests.conftest import ADMIN_PASSWORD
from tests.docker_engine import Containers
from tests.docker_support import DockerStack
from tests.history_support import history_settings_for, run_history
from tests.support import NatsServer

pytestmark = pytest.mark.timeout(150)

WAIT_MS = 30_000  # generous: CI shares two cores with the whole stack
NEEDLES = 'i=0; while true; do i=$((i+1)); echo "needle of {hint} $i"; sleep 0.2; done'


async def test_a_merged_views_search_asks_the_kept_logs_of_what_it_picks(
    docker_stack: DockerStack, nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    started = {
        hint: containers.run(hint, "sh", "-c", NEEDLES.format(hint=hint))
        for hint in ("alpha", "beta")
    }
    outsider = Containers(f"{containers.label}x", containers.image)
    outsider.run("other", "sh", "-c", NEEDLES.format(hint="other"))
    try:
        async with (
            run_history(history_settings_for(nats_server, prefix)),
            docker_stack.up(web_dir=web_dist()) as address,
            chromium() as browser,
        ):
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            await sign_in(page, address, "admin", ADMIN_PASSWORD)
            await page.goto(f"http://{address}/#/logs?label=vigil.test={containers.label}")
            lines = page.get_by_test_id("log-line")
            for hint in ("alpha", "beta"):  # both followed: their lines are kept
                await expect(lines.filter(has_text=f"needle of {hint}").first).to_be_visible(
                    timeout=WAIT_MS
                )

            await page.get_by_test_id("logs-search").fill("NEEDLE")
            await page.get_by_test_id("logs-server-search").click()
            hits = page.get_by_test_id("server-hit")
            for hint in ("alpha", "beta"):
                await expect(hits.filter(has_text=f"needle of {hint}").first).to_be_visible(
                    timeout=WAIT_MS
                )
            said = [re.search(r"needle of (\w+)", t) for t in await hits.all_text_contents()]
            assert {found.group(1) for found in said if found} == {"alpha", "beta"}
            for text in await hits.all_text_contents():  # each after its source
                hint = re.findall(r"needle of (\w+)", text)[0]
                short, name = started[hint]
                assert f"{name} needle" in text or f"/{short} needle" in text, text
            await screenshot(page, "merged-log-search")
    finally:
        outsider.remove_all()
