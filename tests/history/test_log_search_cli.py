"""`vigil logs --grep` searching the kept logs, as a real process, and the Python
client's `api.search_logs`, against a real gateway, auth and history service: every
source, a container by name in `[--since, --until)`, the last N hits of a pattern, the
containers a merged view's selector picks, and what cannot be asked said clearly; a kept
hit where a generation begins said before it (on stderr), and carried by the client's
hit."""

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.cli_support import vigil
from tests.client_support import client_for
from tests.docker_support import announce_container
from tests.history.test_history_kubernetes import k8s_sample
from tests.history.test_kept_log_search import kept_lines
from tests.history.test_log_search import T0, container_lines, line, pod_lines
from tests.history_support import history_settings_for, run_history
from tests.support import NatsServer, bus_client, until
from vigil.messages import Generation, LogLine
from vigil_cli import figures


def ago(minutes: int, text: str) -> LogLine:
    """A line written `minutes` ago (now: when the test runs, not when it was collected)."""
    return LogLine(time=datetime.now(UTC) - timedelta(minutes=minutes), stream="stdout", text=text)


@pytest.fixture
async def kept(nats_server: NatsServer, prefix: str) -> AsyncIterator[None]:
    async with run_history(history_settings_for(nats_server, prefix)):
        async with bus_client(nats_server, prefix) as bus:
            await announce_container(bus, "web1", "aaaa11112222", "shop-web")
            # kept as the collectors send them: in time order, batch by batch
            web = [ago(60, "ERROR db gone"), ago(40, "ERROR disk full")]
            await container_lines(bus, "web1", "aaaa11112222", web)
            pod = [ago(30, "ERROR pod oom"), ago(29, "fine"), ago(28, "WARN pod slow")]
            await pod_lines(bus, "prod", "api-1", pod)
            await container_lines(bus, "web1", "aaaa11112222", [ago(10, "ERROR late")])
            prod = k8s_sample(time.time(), 0).model_copy(update={"cluster": "prod"})
            await bus.publish(bus.subjects.k8s_metrics("prod"), prod)  # the gateway knows it
        yield


async def test_vigil_logs_grep_searches_the_kept_logs(
    kept: None, logged_in: dict[str, str]
) -> None:
    async def everything() -> list[str] | None:
        done = await vigil(logged_in, "logs", "--grep", "error", "--since", "2h")
        assert done.code == 0, done.stderr
        return done.stdout.splitlines() if len(done.stdout.splitlines()) == 4 else None

    assert await until(everything, "every hit, oldest first, after its source") == [
        "web1/aaaa11112222 | ERROR db gone",
        "web1/aaaa11112222 | ERROR disk full",
        "prod/shop/api-1 | ERROR pod oom",
        "web1/aaaa11112222 | ERROR late",
    ]

    ranged = await vigil(
        logged_in, "logs", "shop-web", "--grep", "ERROR", "--since", "50m", "--until", "5m"
    )
    assert (ranged.code, ranged.stdout.splitlines()) == (0, ["ERROR disk full", "ERROR late"])

    last = await vigil(logged_in, "logs", "--grep", "ERROR d[a-z]+", "-E", "-n", "1")
    assert (last.code, last.stdout.splitlines()) == (0, ["web1/aaaa11112222 | ERROR disk full"])

    warned = await vigil(logged_in, "logs", "--grep", "pod", "--level", "warning", "-n", "5")
    assert (warned.code, warned.stdout.splitlines()) == (
        0,
        ["prod/shop/api-1 | ERROR pod oom", "prod/shop/api-1 | WARN pod slow"],
    )

    picked = await vigil(logged_in, "logs", "--name", "shop-*", "--grep", "error", "-n", "2")
    assert (picked.code, picked.stdout.splitlines()) == (
        0,
        ["web1/aaaa11112222 | ERROR disk full", "web1/aaaa11112222 | ERROR late"],
    )
    nothing = await vigil(logged_in, "logs", "--name", "api-*", "--grep", "error")
    assert (nothing.code, nothing.stdout) == (0, "")

    for refused in (
        ("logs", "shop-web", "--until", "5m"),  # --until searches: it needs --grep
        ("logs", "shop-web", "--grep", "x", "--until", "5m", "-f"),
        ("logs", "--grep", "(a)\\1", "-E"),
    ):
        done = await vigil(logged_in, *refused)
        assert done.code != 0, refused
        assert done.stderr.startswith("vigil: "), (refused, done.stderr)


async def test_the_python_client_pages_through_a_search(
    kept: None, gateway: str, admin_token: str
) -> None:
    async with client_for(gateway, admin_token) as client:

        async def pages() -> list[list[str]] | None:
            found = [
                [hit.text for hit in page.hits]
                async for page in client.api.search_logs("ERROR", limit=2, host="web1")
            ]
            return found if sum(map(len, found)) == 3 else None

        assert await until(pages, "the container's hits, two a page") == [
            ["ERROR late", "ERROR disk full"],
            ["ERROR db gone"],
        ]
        pages = client.api.search_logs("disk", host="web1")
        (hit,) = (await anext(pages)).hits
        await pages.aclose()
        around = await client.api.lines_around(hit, before=5, after=1, host="web1")
        assert [line.text for line in around.lines] == [
            "ERROR db gone",
            "ERROR disk full",
            "ERROR late",  # in the batch after
        ]
        assert around.hit == 1


async def test_vigil_logs_grep_says_where_a_kept_containers_generation_begins(
    nats_server: NatsServer, prefix: str, logged_in: dict[str, str], gateway: str, admin_token: str
) -> None:
    async with (
        run_history(history_settings_for(nats_server, prefix)),
        bus_client(nats_server, prefix) as bus,
    ):
        first = [line(1, "api one up"), line(2, "api one busy")]
        await kept_lines(bus, "api", "aaaa00000001", first)
        await kept_lines(bus, "api", "aaaa00000002", [line(3, "api two up")])

        async def found() -> tuple[list[str], list[str]] | None:
            done = await vigil(logged_in, "logs", "--grep", "api")
            assert done.code == 0, done.stderr
            lines = done.stdout.splitlines()
            return (lines, done.stderr.splitlines()) if len(lines) == 3 else None

        started = figures.moment(T0)
        assert await until(found, "the kept hits") == (
            [
                "web1/aaaa00000001 | api one up",
                "web1/aaaa00000001 | api one busy",
                "web1/aaaa00000002 | api two up",
            ],
            [
                f"vigil: api: container aaaa00000001 started {started}",
                f"vigil: api: container aaaa00000002 started {started}",
            ],
        )
        async with client_for(gateway, admin_token) as client:
            pages = client.api.search_logs("api two", host="web1")
            (hit,) = (await anext(pages)).hits
            await pages.aclose()
        assert hit.generation == Generation(id="aaaa00000002", started=T0)
