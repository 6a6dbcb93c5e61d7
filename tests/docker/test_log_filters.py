"""Log filters at the gateway: text, regular expression and least level, on a single
container's logs and on a merged view; a filter that cannot be used is refused."""

from typing import Any

import httpx
import pytest

from tests.docker_engine import Containers
from tests.docker_support import DockerStack, known
from tests.support import receive, receive_until, send
from vigil.log_levels import level_of
from vigil_gateway.filters.logs import InvalidFilter, LineFilter


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("2026-11-23 ERROR db down", 4),
        ("level=warn msg=slow", 3),
        ('{"level":"debug","msg":"x"}', 1),
        ("WARNING: disk", 3),
        ("[crit] gone", 5),
        ("plain words, no level", None),
        ("informational", None),  # a word, not a level
    ],
)
def test_the_level_of_a_line_is_its_first_level_word(text: str, level: int | None) -> None:
    assert level_of(text) == level


def test_a_filter_keeps_what_every_part_of_it_keeps() -> None:
    keep = LineFilter.of({"grep": "Order", "level": "warn", "regex": r"id=\d+"})
    assert keep is not None
    assert keep.keeps("ERROR order id=42 failed")
    assert not keep.keeps("INFO order id=42 placed")  # below the level
    assert not keep.keeps("ERROR payment id=42")  # no "order"
    assert not keep.keeps("ERROR order failed")  # no id
    assert LineFilter.of({"container": "x"}) is None


@pytest.mark.parametrize(
    ("params", "reason"),
    [({"regex": "(unclosed"}, "regex"), ({"level": "loud"}, "level is one of")],
)
def test_a_filter_that_cannot_be_used_says_why(params: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidFilter, match=reason):
        LineFilter.of(params)


SCRIPT = (
    'i=0; while true; do i=$((i+1)); echo "INFO tick $i"; echo "ERROR boom $i"; sleep 0.1; done'
)


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [line["text"] for m in messages for line in m["data"]["lines"]]


async def test_filtered_log_channels_single_and_merged(
    docker_stack: DockerStack,
    containers: Containers,
    admin_token: str,
) -> None:
    short, _ = containers.run("filtered", "sh", "-c", SCRIPT)
    async with (
        docker_stack.up(log_lease_s=1.5, merge_window_s=0.3) as address,
        docker_stack.socket(address) as ws,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as http,
    ):
        await known(http, admin_token, short)
        await receive(ws)
        subscriptions = [
            ("docker.logs", {"container": short, "level": "error"}),
            ("docker.logs", {"container": short, "regex": r"tick \d*7$"}),
            ("logs.merged", {"label": f"vigil.test={containers.label}", "grep": "BOOM 1"}),
        ]
        keys = []
        for channel, params in subscriptions:
            await send(ws, {"type": "subscribe", "channel": channel, "params": params})
            answer = await receive_until(ws, lambda m: m["type"] in {"subscribed", "error"}, 15)
            assert answer["type"] == "subscribed", answer
            keys.append(answer["channel"])
        await send(
            ws,
            {
                "type": "subscribe",
                "channel": "docker.logs",
                "params": {"container": short, "regex": "(x"},
            },
        )
        refused = await receive_until(ws, lambda m: m["type"] == "error", 15)
        got: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
        while min(len(texts(v)) for v in got.values()) < 3:
            message = await receive_until(ws, lambda m: m["type"] == "update", 15)
            got[message["channel"]].append(message)
    errors, sevens, merged = (texts(got[key]) for key in keys)
    assert all(text.startswith("ERROR boom ") for text in errors)
    assert all(text.startswith("INFO tick ") and text.endswith("7") for text in sevens)
    assert all("boom 1" in text.lower() for text in merged if not text.startswith("—"))
    assert keys[0] == f"docker.logs?container={short}&host=testhost&level=error"
    assert refused["code"] == "INVALID_MESSAGE"
    assert "regex" in refused["message"]
