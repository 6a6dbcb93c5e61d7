"""The short load run of issue #11: 1000 dashboards for 60 s on one gateway process.

Each client is subscribed to docker.stats (100 containers every 2 s), the logs of one
of 10 chatty containers and a deploy's journal (an event a second). The bounds hold
on a shared 2-core machine; the figures of a run are in RELIABILITY.md.
"""

from pathlib import Path

import pytest

from tests.load_support import rss_growth, run_load

CLIENTS = 1000
SECONDS = 60


@pytest.mark.timeout(240)
def test_1000_dashboards_for_a_minute_within_bounds(tmp_path: Path) -> None:
    figures = run_load(
        tmp_path,
        *("--clients", str(CLIENTS), "--seconds", str(SECONDS), "--journal-s", "1"),
        within_s=220,
    )
    assert figures["error_rate"] < 0.01, figures["errors"] | figures["closed"]
    assert figures["journal_lost"] == 0
    assert figures["clients_reporting"] == CLIENTS
    assert figures["published"]["journal events"] >= SECONDS
    for kind in ("state", "stream", "journal"):
        assert figures["latency_ms"][kind]["n"] > 0, f"no {kind} update measured"
    # a state channel may skip to the newest batch for a slow client, but not often
    assert figures["updates"]["state"] >= CLIENTS * figures["published"]["state"] * 0.9
    growth = rss_growth(figures["samples"])
    print(f"gateway RSS end/start: {growth:.2f}")
    assert growth < 1.25
