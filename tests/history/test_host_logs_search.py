"""A host's journal and log files in the server-side search, with a real collector: a
journal entry two selections followed (so kept twice in LOGS) is found once, redacted,
by `GET /api/logs/search` with its host or with no source named, and by the history
operation; a viewer with no cluster granted finds it too (hosts are not granted: the
`host.journal` and `host.file` channels are any viewer's); so is a log file's line. A
merged view's `journal` selection and `file` narrow the search to what they select."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from tests.grant_support import granted
from tests.history.test_log_search import search
from tests.history_support import history_settings_for, run_history, search_hits
from tests.journal_support import Entry, Journal
from tests.support import (
    NatsServer,
    bearer,
    bus_client,
    collector_settings_for,
    run_collector,
    until,
)
from vigil import ctl
from vigil.messages import FollowFile, FollowJournal, JournalBatch, LogSourceRef
from vigil.operations import Logs
from vigil.subjects import ANY
from vigil_gateway.delivery.polling import fetch

SEARCH = "/api/logs/search"
SELECTIONS = ({"unit": "demo.service"}, {"priority": 4})  # both take a warning of demo


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=15) as client:
        yield client


async def hits(http: httpx.AsyncClient, token: str, **params: Any) -> list[dict[str, Any]]:
    return await search_hits(http, token, **{"pattern": "disk", **params})


async def test_a_journal_entry_two_selections_kept_is_found_once(
    nats_server: NatsServer,
    prefix: str,
    journal: Journal,
    http: httpx.AsyncClient,
    admin_token: str,
) -> None:
    journal.write(
        Entry("disk full, db at postgres://app:hunter2@db/app", priority=4),
        Entry("disk fine", unit="other.service", priority=4),
    )
    collector = collector_settings_for(nats_server, prefix, journal_directory=journal.directory)
    async with (
        run_history(history_settings_for(nats_server, prefix)),
        run_collector(collector),
        bus_client(nats_server, prefix) as bus,
    ):
        for selection in SELECTIONS:
            lease = FollowJournal(host="testhost", holder="test", lease_s=30, **selection)
            await ctl.call(bus, Logs.JOURNAL_FOLLOW, lease)

        async def kept() -> list[str] | None:
            # Once per selection that took it: demo's warning twice, other's once.
            config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
            messages, _ = await fetch(bus, bus.subjects.journal_logs("testhost", ANY), config, 100)
            batches = [JournalBatch.model_validate_json(m.data) for m in messages]
            lines = [line for batch in batches for line in batch.lines]
            return [line.duplicate for line in lines] if len(lines) == 3 else None

        assert sorted(await until(kept, "both selections kept"), key=bool) == [None, None, True]
        found = await hits(http, admin_token, host="testhost", order="oldest")
        viewer = await granted(http, admin_token, "vic", [])
        everything = await hits(http, viewer, order="oldest")
        newest = await hits(http, admin_token, limit=1)
        selected = {
            text: [
                hit["text"][:9] for hit in await hits(http, viewer, host="testhost", journal=text)
            ]
            for text in ("unit=demo", "unit=other*", "priority<=err", "all")
        }
        unhosted = await http.get(
            SEARCH, params={"pattern": "x", "journal": "all"}, headers=bearer(viewer)
        )
        one_host = await search(
            bus, sources=[LogSourceRef(kind="journal", host="testhost")], pattern="disk full"
        )
        elsewhere = await search(
            bus, sources=[LogSourceRef(kind="journal", host="otherhost")], pattern="disk"
        )

    texts = [hit["text"] for hit in found]
    assert texts == ["disk full, db at postgres://app:[REDACTED]@db/app", "disk fine"]
    warning = found[0]
    assert (warning["host"], warning["unit"], warning["priority"]) == (
        "testhost",
        "demo.service",
        4,
    )
    assert "container" not in warning
    assert [hit["text"] for hit in everything] == texts
    assert [hit["text"] for hit in newest] == list(reversed(texts))
    assert [hit.text for hit in one_host] == texts[:1]
    assert elsewhere == []
    assert selected == {  # a merged view's journal selection: `demo` is demo.service
        "unit=demo": ["disk full"],
        "unit=other*": ["disk fine"],
        "priority<=err": [],
        "all": ["disk fine", "disk full"],
    }
    assert unhosted.status_code == 422, unhosted.text
    assert "host" in unhosted.text


async def test_a_log_files_lines_are_found_with_its_host_or_with_everything(
    nats_server: NatsServer,
    prefix: str,
    tmp_path: Path,
    http: httpx.AsyncClient,
    admin_token: str,
) -> None:
    path = tmp_path / "syslog"
    path.write_text("Dec  1 10:00:00 web1 app: disk low, token Bearer abcdefghijklmnop\nok\n")
    collector = collector_settings_for(nats_server, prefix, log_files={"syslog": path})
    async with (
        run_history(history_settings_for(nats_server, prefix)),
        run_collector(collector),
        bus_client(nats_server, prefix) as bus,
    ):
        lease = FollowFile(host="testhost", file="syslog", holder="test", lease_s=30)
        await ctl.call(bus, Logs.FILE_FOLLOW, lease)

        async def found() -> list[dict[str, Any]] | None:
            hit = await hits(http, admin_token, host="testhost")
            return hit or None

        by_host = await until(found, "the file's line kept and searched")
        viewer = await granted(http, admin_token, "val", [])
        everything = await hits(http, viewer)
        kept = await search(bus, sources=[LogSourceRef(kind="file")], pattern="disk")
        named = await hits(http, viewer, host="testhost", file="syslog")
        unknown = await http.get(
            SEARCH,
            params={"pattern": "x", "host": "testhost", "file": "nope"},
            headers=bearer(viewer),
        )

    assert len(by_host) == 1
    hit = by_host[0]
    assert hit["text"] == "Dec  1 10:00:00 web1 app: disk low, token Bearer [REDACTED]"
    assert (hit["host"], hit["file"]) == ("testhost", "syslog")
    assert hit["time"][4:19] == "-12-01T10:00:00"
    assert "container" not in hit
    assert everything == by_host
    assert [k.file for k in kept] == ["syslog"]
    assert named == by_host
    assert unknown.status_code == 404, unknown.text
