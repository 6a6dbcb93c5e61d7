"""A kept hit's generation marker: read back as the kind it is (a container's or a
pod's), never a mixture of both, and said in words by `vigil logs --grep`."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from vigil.messages import Generation, LogHit, PodGeneration
from vigil_cli import figures
from vigil_cli.log_search import generation_said

STARTED = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def hit(**fields: Any) -> LogHit:
    line = {"time": STARTED.isoformat(), "stream": "stdout", "text": "up", "at": "k7:0"}
    return LogHit.model_validate_json(LogHit.model_validate({**line, **fields}).model_dump_json())


def test_a_marker_reads_back_as_a_containers_or_a_pods() -> None:
    container = hit(name="api", generation={"id": "0123456789ab", "started": STARTED})
    assert container.generation == Generation(id="0123456789ab", started=STARTED)
    pod = hit(name="shop-web", generation={"pod": "web-2", "uid": "u2", "restarts": 1})
    assert pod.generation == PodGeneration(pod="web-2", uid="u2", restarts=1)
    assert hit().generation is None
    with pytest.raises(ValidationError):
        hit(generation={"id": "0123456789ab", "started": STARTED, "restarts": 1})


def test_vigil_logs_says_a_marker_by_the_kept_name() -> None:
    container = hit(name="api", generation={"id": "0123456789ab", "started": STARTED})
    moment = figures.moment(STARTED)
    assert generation_said(container) == f"api: container 0123456789ab started {moment}"
    pod = hit(name="shop-web", generation={"pod": "web-2", "uid": "u2", "restarts": 1})
    assert generation_said(pod) == "shop-web: pod web-2 (uid u2), restarts 1"
    assert generation_said(hit(name="api")) is None
