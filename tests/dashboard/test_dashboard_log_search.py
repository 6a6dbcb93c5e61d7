"""A container's log search asking the server, in headless Chromium against the real
stack (the collector on the local engine, the history service, the gateway serving the
built dashboard): lines the page no longer holds are found in the kept logs, newest
first, and the page's own filter still filters only what it holds; a retained
container recreated under its name reads as one history, the server's marker drawn
where each generation begins; the level the view's filter picks is asked too."""

import re

import pytest
from playwright.async_api import expect

from tests.browser import chromium, screenshot, sign_in, web_dist
from tests.conftest import ADMIN_PASSWORD
from tests.deploy_support import TEST_HOST
from tests.docker.test_kept_logs import KEEP, kept_until, run_named
from tests.docker_engine import Containers, docker
from tests.docker_support import DockerStack
from tests.history_support import history_settings_for, run_history
from tests.support import NatsServer, bus_client

pytestmark = pytest.mark.timeout(150)

WAIT_MS = 30_000  # generous: CI shares two cores with the whole stack
NEEDLES = (
    'i=0; while true; do i=$((i+1)); echo "hay $i";'
    ' [ $((i % 10)) = 0 ] && echo "needle $i"; sleep 0.05; done'
)


async def test_a_containers_search_asks_the_kept_logs_not_only_the_page(
    docker_stack: DockerStack, nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    short, _ = containers.run("needles", "sh", "-c", NEEDLES)
    async with (
        run_history(history_settings_for(nats_server, prefix)),
        docker_stack.up(web_dir=web_dist(), log_tail=5) as address,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address, "admin", ADMIN_PASSWORD)
        container_page = f"http://{address}/#/containers/{TEST_HOST}/{short}"
        await page.goto(container_page)
        # Followed for a while: the needles are kept as they come.
        await page.get_by_test_id("logs-search").fill("needle")
        needles = page.get_by_test_id("log-line")
        await expect(needles.nth(4)).to_be_visible(timeout=WAIT_MS)
        first = (await needles.first.text_content() or "").rsplit(" ", 1)[1]

        # Opened again, the page holds only the last few lines and what came since.
        await page.goto(f"http://{address}/#/")
        await page.goto(container_page)
        await expect(page.get_by_test_id("log-line").first).to_be_visible(timeout=WAIT_MS)
        await page.get_by_test_id("logs-search").fill("NEEDLE")
        on_page = await page.get_by_test_id("log-line").count()
        await page.get_by_test_id("logs-server-search").click()
        hits = page.get_by_test_id("server-hit")
        await expect(hits.filter(has_text=re.compile(rf"needle {first}$"))).to_have_count(
            1, timeout=WAIT_MS
        )
        found = await hits.all_text_contents()
        numbers = [int(text.rsplit(" ", 1)[1]) for text in found]
        assert numbers == sorted(numbers, reverse=True)  # newest first
        assert len(numbers) > on_page  # what the page no longer holds
        assert all(n % 10 == 0 for n in numbers)
        await expect(page.get_by_test_id("server-search-count")).to_contain_text("“NEEDLE” kept")

        # A hit clicked opens the lines around it: the hay before and after it, in order.
        middle = numbers[len(numbers) // 2]  # a hit kept before it and one after: 10 lines each
        await hits.filter(has_text=re.compile(rf"needle {middle}$")).click()
        around = page.get_by_test_id("around-line")
        await expect(around).to_have_count(21, timeout=WAIT_MS)
        said = [re.search(r"(hay|needle) \d+$", t) for t in await around.all_text_contents()]
        lines = [found.group(0) if found else None for found in said]
        hay = [f"hay {n}" for n in range(middle - 9, middle + 11)]
        assert lines == [*hay[:10], f"needle {middle}", *hay[10:]], lines
        await expect(page.locator(".server-around .hit")).to_have_text(f"needle {middle}")
        await screenshot(page, "log-search")

        # A search that finds nothing says so.
        await page.get_by_test_id("logs-search").fill("no such line at all")
        await page.get_by_test_id("logs-server-search").click()
        await expect(page.get_by_test_id("server-search-count")).to_contain_text(
            "0 lines with “no such line at all” kept", timeout=WAIT_MS
        )


def generation(name: str) -> tuple[str, ...]:
    """A retained container's command: three lines (the second an error), then quiet."""
    script = f"echo {name} line 1; echo {name} ERROR line 2; echo {name} done; sleep 3600"
    return ("sh", "-c", script)


async def test_a_recreated_containers_lines_around_a_hit_mark_where_each_generation_begins(
    docker_stack: DockerStack, nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    async with (
        run_history(history_settings_for(nats_server, prefix)),
        docker_stack.up(web_dir=web_dist()) as address,
        bus_client(nats_server, prefix) as bus,
        chromium() as browser,
    ):
        first, name = containers.run("kept", *generation("one"), options=KEEP)
        await kept_until(bus, name, "one done")
        docker("rm", "-f", name)  # recreated under the same name, as a deploy does
        second = run_named(containers, name, *generation("two"))
        await kept_until(bus, name, "two done")

        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address, "admin", ADMIN_PASSWORD)
        await page.goto(f"http://{address}/#/containers/{TEST_HOST}/{second}")
        await page.get_by_test_id("logs-search").fill("line")
        await page.get_by_test_id("logs-server-search").click()
        hits = page.get_by_test_id("server-hit")
        await expect(hits).to_have_count(4, timeout=WAIT_MS)  # both generations, by name
        assert said(await hits.all_text_contents()) == [
            "two ERROR line 2",
            "two line 1",
            "one ERROR line 2",
            "one line 1",
        ]
        # The first line of each generation is tagged in the list with its container.
        tagged = hits.filter(has=page.get_by_test_id("hit-generation"))
        await expect(tagged).to_have_count(2)
        await expect(tagged.first).to_contain_text(f"two line 1 · first line of container {second}")
        await expect(tagged.last).to_contain_text(f"one line 1 · first line of container {first}")

        # The lines around the first generation's last: both generations, each after its
        # marker (the server's, not guessed from the ids).
        await hits.filter(has_text="one ERROR line 2").click()
        around = page.locator(".server-around > div")
        await expect(around).to_have_count(8, timeout=WAIT_MS)
        shown = said(await around.all_text_contents())
        assert shown[0].startswith(f"— container {first} started ")
        assert shown[4].startswith(f"— container {second} started ")
        assert shown[1:4] + shown[5:] == [
            "one line 1",
            "one ERROR line 2",
            "one done",
            "two line 1",
            "two ERROR line 2",
            "two done",
        ]
        markers = page.get_by_test_id("around-generation")
        assert await markers.all_text_contents() == [shown[0], shown[4]]
        await screenshot(page, "log-search-generations")

        # The level the view's filter picks is the server search's too.
        await page.get_by_label("level").select_option("error")
        await page.get_by_test_id("logs-server-search").click()
        await expect(page.get_by_test_id("server-search-count")).to_contain_text(
            "2 lines with “line” of level error or worse kept", timeout=WAIT_MS
        )
        assert said(await hits.all_text_contents()) == ["two ERROR line 2", "one ERROR line 2"]


def said(texts: list[str]) -> list[str]:
    """Each shown line's own text (no time, no tag); a marker as it is."""
    found = [re.search(r"\b(one|two) (ERROR )?(line \d|done)\b", text) for text in texts]
    return [match.group(0) if match else text for match, text in zip(found, texts, strict=True)]
