"""Runs `bench/load.py` (real nats-server, auth and gateway processes, real WebSocket
clients in their own processes) and returns its figures, printing its table."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1] / "bench" / "load.py"


def run_load(tmp_path: Path, *args: str, within_s: float) -> dict[str, Any]:
    out = tmp_path / "load.json"
    argv = [sys.executable, str(BENCH), *args, "--json", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=within_s, check=False)
    print(done.stdout)
    # The whole of stderr: a crash in the teardown follows the exception that caused it.
    assert done.returncode == 0, f"bench/load.py failed ({done.returncode}):\n{done.stderr}"
    figures: dict[str, Any] = json.loads(out.read_text())
    return figures


def rss_growth(samples: list[dict[str, float]]) -> float:
    """The gateways' RSS over the last fifth of the run against the first fifth."""
    fifth = max(1, len(samples) // 5)
    start = sum(s["rss"] for s in samples[:fifth]) / fifth
    end = sum(s["rss"] for s in samples[-fifth:]) / fifth
    return end / start
