"""Client regular expressions cannot stall or bloat the gateway (issue #18): they run
on RE2 in linear time, within a memory budget; what RE2 refuses (backreferences,
lookaround, a program too large) is refused with a message that says why; and one
principal may hold only `max_filtered_views` distinct filtered views at once, counted
across polls, SSE and sockets. Each attack runs against a gateway process while a
healthy client measures its latency and the gateway's RSS (`attack_support`)."""

import asyncio
import random
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.attack_support import gateway_process, healthy_client, viewer_token
from tests.docker_support import announce_container
from tests.support import NatsServer, bus_client, receive, receive_until, send
from vigil.bus import Bus
from vigil.messages import LogBatch, LogLine
from vigil_auth.app import AuthService
from vigil_gateway.filters.logs import InvalidFilter, LineFilter
from vigil_gateway.filters.patterns import MAX_MEM_BYTES, compile_glob, compile_regex
from vigil_gateway.settings import GatewaySettings

HOST, CONTAINER = "regexhost", "abcdef123456"

# Patterns that backtrack without end on a backtracking engine, and ones whose DFA
# blows up (every subset of the last 30 positions is a state): linear on RE2.
HOSTILE = [
    r"(a+)+$",
    r"(x+x+)+y",
    r"^(a|a?)+$",
    r"(.*a){12}$",
    r"(\w+\s?)*!$",
    r"[\s\S]*z[\s\S]{30}",
    r"(a|z)*z(a|z){40}$",
    r"(?s).*z.{40}x",
    r"(a*)*b",
    r"([a-z]+)*[0-9]",
]


def hostile_lines(rng: random.Random) -> list[str]:
    """Lines that make the patterns above work hardest: long runs that almost match."""
    return [
        "a" * 4000 + "!",
        "x" * 4000,
        "".join(rng.choice("az") for _ in range(4000)) + "z",
        "ab " * 1300 + "?",
        "aaaa",  # `(a+)+$` keeps this one
    ]


# -- the engine ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\1", "backreferences (\\1) are not supported"),
        (r"a(?=b)", "lookahead and lookbehind"),
        (r"(?<!a)b", "lookahead and lookbehind"),
        (r"end\Z", "use \\z"),
        (r"(" * 3, "missing )"),
        (r"a{1001}", "at most 1000"),
        (r"\p{L}{1000}", f"too large to run within {MAX_MEM_BYTES // 1024} KiB"),
        (r".{1000}" * 3, "too large"),
        ("a" * 201, "longer than 200 characters"),
    ],
)
def test_a_pattern_re2_refuses_is_refused_saying_why(pattern: str, why: str) -> None:
    with pytest.raises(InvalidFilter, match="regex") as refused:
        LineFilter.of({"regex": pattern})
    assert why in str(refused.value)


def test_hostile_patterns_take_linear_time_on_long_lines() -> None:
    lines = hostile_lines(random.Random(1)) * 10
    for pattern in HOSTILE:
        keep = LineFilter.of({"regex": pattern})
        assert keep is not None
        began = time.perf_counter()
        kept = [line for line in lines if keep.keeps(line)]
        spent = time.perf_counter() - began
        assert spent < 0.5, f"{pattern}: {spent:.3f} s for {len(lines)} lines of 4 KB"
        if pattern == r"(a+)+$":
            assert kept == ["aaaa"] * 10


def test_a_name_glob_matches_whole_names_on_re2() -> None:
    glob = compile_glob("web-*.v?")
    assert glob.fullmatch("web-1.v2") is not None
    assert glob.fullmatch("web-1.v22") is None
    assert glob.fullmatch("xweb-1.v2") is None
    assert compile_glob("a(b)[c]+").fullmatch("a(b)[c]+") is not None  # the rest is literal
    assert compile_regex("ERROR|FATAL").search("level FATAL here") is not None


# -- against a gateway -----------------------------------------------------------------


async def publish_lines(bus: Bus, lines: list[str]) -> None:
    stamp = datetime.now(UTC)
    batch = LogBatch(
        host=HOST,
        container=CONTAINER,
        lines=[LogLine(time=stamp, stream="stdout", text=text) for text in lines],
    )
    await bus.publish(bus.subjects.docker_logs(HOST, CONTAINER), batch)


async def poll(http: httpx.AsyncClient, token: str, regex: str) -> httpx.Response:
    params = {"container": CONTAINER, "regex": regex, "since": "0", "limit": "1000"}
    auth = {"Authorization": f"Bearer {token}"}
    return await http.get("/api/poll/channels/docker.logs", params=params, headers=auth)


async def until_known(http: httpx.AsyncClient, token: str) -> None:
    """Until the gateway's container directory has the announced container."""
    deadline = time.monotonic() + 15
    while (await poll(http, token, "x")).status_code == 404:
        assert time.monotonic() < deadline, "the gateway never knew the container"
        await asyncio.sleep(0.1)


def kept_texts(page: dict[str, Any]) -> list[str]:
    return [line["text"] for m in page["messages"] for line in m["data"]["lines"]]


@pytest.mark.timeout(120)
async def test_hostile_regexes_over_polling_never_stall_the_gateway(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    gateway_settings: GatewaySettings,
) -> None:
    rng = random.Random(7)
    settings = gateway_settings.model_copy(update={"max_filtered_views": 2})
    async with (
        bus_client(nats_server, prefix) as bus,
        gateway_process(settings) as gateway,
        httpx.AsyncClient(base_url=f"http://{gateway.address}", timeout=30) as http,
    ):
        viewer = await viewer_token(gateway.address, admin_token)
        await announce_container(bus, HOST, CONTAINER, "regex-target")
        for _ in range(40):  # 40 batches of 5 long lines: 800 KB to test per pattern
            await publish_lines(bus, hostile_lines(rng))
        await until_known(http, viewer)
        async with healthy_client(gateway, viewer) as health:
            for round_ in range(3):
                for pattern in HOSTILE:
                    answer = await poll(http, viewer, pattern)
                    assert answer.status_code == 200, (pattern, answer.text)
                    if pattern == r"(a+)+$" and round_ == 0:
                        assert kept_texts(answer.json()) == ["aaaa"] * 40
                    await asyncio.sleep(0.02)
        health.assert_unharmed()


@pytest.mark.timeout(120)
async def test_filtered_views_are_capped_per_principal_across_sse_sockets_and_polls(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    gateway_settings: GatewaySettings,
) -> None:
    """Ten SSE views with distinct hostile regexes: the first `max_filtered_views` stream
    while lines flow, the rest are refused (429), and so is one more over a socket or a
    poll; leaving a view makes room."""
    rng = random.Random(3)
    limit = 4
    settings = gateway_settings.model_copy(update={"max_filtered_views": limit})
    async with (
        bus_client(nats_server, prefix) as bus,
        gateway_process(settings) as gateway,
        httpx.AsyncClient(base_url=f"http://{gateway.address}", timeout=30) as http,
    ):
        viewer = await viewer_token(gateway.address, admin_token)
        auth = {"Authorization": f"Bearer {viewer}"}
        await announce_container(bus, HOST, CONTAINER, "regex-target")
        await until_known(http, viewer)
        streams: list[httpx.Response] = []
        try:
            async with healthy_client(gateway, viewer) as health:
                for pattern in HOSTILE:
                    params = {"container": CONTAINER, "regex": pattern}
                    request = http.build_request(
                        "GET", "/sse/channels/docker.logs", params=params, headers=auth
                    )
                    response = await http.send(request, stream=True)
                    if response.status_code == 200:
                        streams.append(response)
                        continue
                    assert response.status_code == 429, response.status_code
                    refused = (await response.aread()).decode()
                    assert "LIMIT_REACHED" in refused
                    assert "filtered log views" in refused
                    await response.aclose()
                assert len(streams) == limit
                answer = await poll(http, viewer, "another")
                assert answer.status_code == 429, answer.text
                async with connect(f"ws://{gateway.address}/ws?token={viewer}") as ws:
                    await receive(ws)
                    params = {"container": CONTAINER, "regex": "yet another"}
                    await send(
                        ws, {"type": "subscribe", "channel": "docker.logs", "params": params}
                    )
                    error = await receive_until(ws, lambda m: m["type"] in {"error", "subscribed"})
                    assert (error["type"], error["code"]) == ("error", "LIMIT_REACHED"), error
                readers = [EventReader(stream) for stream in streams]
                began = time.monotonic()
                while time.monotonic() - began < 3:  # 20 batches a second of hostile lines
                    await publish_lines(bus, hostile_lines(rng))
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
                for reader in readers:
                    await reader.stop()
                await streams.pop().aclose()  # leaving one makes room for another
                deadline = time.monotonic() + 5  # once the gateway has seen it go
                while (answer := await poll(http, viewer, "another")).status_code == 429:
                    assert time.monotonic() < deadline, answer.text
                    await asyncio.sleep(0.1)
                assert answer.status_code == 200, answer.text
        finally:
            for stream in streams:
                await stream.aclose()
        health.assert_unharmed()
    assert "aaaa" in readers[0].text, "(a+)+$ kept its lines"
    assert "xxxx" not in readers[0].text, "and only those"


class EventReader:
    """Reads an SSE response in the background; `text` is what came so far."""

    def __init__(self, response: httpx.Response) -> None:
        self.text = ""
        self._task = asyncio.create_task(self._read(response))

    async def _read(self, response: httpx.Response) -> None:
        async for chunk in response.aiter_text():
            self.text += chunk

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
