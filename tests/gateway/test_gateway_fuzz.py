"""Bad input, fuzzed: 10 000 client frames of every wrong kind at a real gateway.

Invalid JSON, wrong types, huge and deeply nested payloads, binary frames, unknown
message types, and channel names and parameters built to widen a subscription
(`.`, `*`, `>`, look-alikes, empty, very long). The gateway stays up; every frame
gets its one answer (an error that says what was wrong, or the reply to a valid
request) or, for an oversized one, a close code; and every subscription it grants
names a known channel with parameters that are single, literal names (or, for a
merged view, a label and a name pattern it matches itself, never a subject).
"""

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support import receive, serve_gateway
from vigil.channels import CHANNELS, resolve_channel
from vigil.messages import ClientPong, InvalidClientMessage, parse_client_message
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

EXAMPLES, FRAMES_EACH = 200, 50  # 10 000 frames
MAX_MESSAGE_BYTES = 16_384

# A granted channel: a known name, and parameters that are literal name tokens.
GRANTED = re.compile(
    r"^[a-z_.]+(\?[a-z]+=[A-Za-z0-9][A-Za-z0-9_.:-]*(&[a-z]+=[A-Za-z0-9][A-Za-z0-9_.:-]*)*)?$"
)
WILDCARDS = ("*", ">")

LOOK_ALIKES = ["\uff57\uff45\uff42\uff11", "web\u200b1", "w\u0435b1"]  # fullwidth, ZWSP, Cyrillic
injections = st.sampled_from(
    [".", "*", ">", "web1.*", "web1.>", "a..b", "", " ", *LOOK_ALIKES, "x" * 300, "../etc",
     "web1\x00", "$SYS", "_INBOX.x", "vigil.>", "%2A", "\n"]
)  # fmt: skip
names = st.one_of(injections, st.sampled_from(sorted(CHANNELS)), st.text(max_size=40))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
param_names = st.sampled_from(sorted({p for spec in CHANNELS.values() for p in spec.params}))
# Nearly right: a real channel or a hostile name, real parameter names with hostile values.
subscribes = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["subscribe", "unsubscribe"]),
        "channel": st.one_of(st.sampled_from(sorted(CHANNELS)), injections),
        "params": st.dictionaries(param_names, st.one_of(injections, names), max_size=2),
    }
)
types = st.one_of(
    st.sampled_from(["subscribe", "unsubscribe", "ping", "pong", "reauth", "answer"]),
    st.text(max_size=12),
    scalars,
)
messages = st.fixed_dictionaries(
    {"type": types},
    optional={
        "channel": st.one_of(names, scalars),
        "params": st.one_of(
            st.dictionaries(st.one_of(param_names, names), st.one_of(names, scalars), max_size=4),
            scalars,
        ),
        "since": st.one_of(st.integers(), scalars),
        "interval_s": st.one_of(st.floats(allow_nan=True), scalars),
        "delta": scalars,
        "token": st.text(max_size=50),
        "requestId": st.one_of(st.text(max_size=80), scalars),
        "data": json_values,
        "extra": json_values,
    },
)  # fmt: skip
frames = st.one_of(
    subscribes.map(json.dumps),
    subscribes.map(json.dumps),
    messages.map(json.dumps),
    json_values.map(json.dumps),  # valid JSON, not a message
    st.text(max_size=200),  # mostly not JSON
    st.binary(max_size=200),  # binary frames
    st.integers(50, 3000).map(lambda depth: "[" * depth + "]" * depth),  # deeply nested
    st.integers(50, 3000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.integers(1, 40).map(lambda n: json.dumps({"type": "ping", "pad": "x" * n * 1000})),
)


def answered(frame: str | bytes) -> bool:
    """Whether the gateway answers the frame: all do but a pong to its heartbeat."""
    try:
        return not isinstance(parse_client_message(frame), ClientPong)
    except InvalidClientMessage:
        return True


class Fuzzer:
    """A socket that sends frames and accounts for what comes back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: ClientConnection | None = None
        self.answers: dict[str, int] = {}
        self.closes: dict[int, int] = {}
        self.granted: set[str] = set()

    async def send(self, frame: str | bytes) -> None:
        if self.ws is None:
            self.ws = await connect(self.url, max_size=None)
            assert (await receive(self.ws))["type"] == "connected"
        ws = self.ws
        oversized = len(frame.encode() if isinstance(frame, str) else frame) > MAX_MESSAGE_BYTES
        try:
            await ws.send(frame)
            if oversized:
                await ws.wait_closed()
            elif answered(frame):
                self._account(await self._answer(ws))
        except ConnectionClosed:
            pass
        if ws.close_code is not None:
            self.closes[ws.close_code] = self.closes.get(ws.close_code, 0) + 1
            assert ws.close_code == 1009, f"closed {ws.close_code} {ws.close_reason!r}"
            assert oversized
            self.ws = None

    async def _answer(self, ws: ClientConnection) -> dict[str, Any]:
        while True:
            message = await receive(ws, timeout=5)
            if message["type"] not in {"update", "ping"}:  # data of a granted channel
                return message
            assert message["type"] == "ping" or message["channel"] in self.granted

    def _account(self, answer: dict[str, Any]) -> None:
        kind = answer["type"]
        key = f"error {answer['code']}" if kind == "error" else kind
        self.answers[key] = self.answers.get(key, 0) + 1
        if kind == "error":
            assert answer["message"], "an error must say what was wrong"
        if kind == "subscribed":
            channel = answer["channel"]
            name, _, query = channel.partition("?")
            params = dict(pair.split("=", 1) for pair in query.split("&")) if query else {}
            assert resolve_channel(name, params).key == channel  # exactly a valid channel
            if not CHANNELS[name].selects:  # (a merged view's name pattern is a glob)
                assert GRANTED.match(channel), f"granted a widened channel: {channel!r}"
                assert not any(w in channel for w in WILDCARDS)
            self.granted.add(channel)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


@pytest.fixture
def fuzz_settings(gateway_settings: GatewaySettings) -> GatewaySettings:
    return gateway_settings.model_copy(
        update={
            "rate_limit": "window",
            "rate_limit_messages": 1_000_000,
            "share_rate_limit": False,
            "max_message_bytes": MAX_MESSAGE_BYTES,
            "max_handshakes_per_s": 10_000,
        }
    )


def generated_frames() -> list[str | bytes]:
    """Hypothesis's frames, drawn up front (it cannot drive a coroutine itself)."""
    drawn: list[str | bytes] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(frames, min_size=FRAMES_EACH, max_size=FRAMES_EACH))
    def draw(batch: list[str | bytes]) -> None:
        drawn.extend(batch)

    draw()
    return drawn


async def test_ten_thousand_bad_frames_get_clear_answers_and_never_widen_a_subscription(
    auth_service: AuthService, fuzz_settings: GatewaySettings, admin_token: str
) -> None:
    drawn = generated_frames()
    async with serve_gateway(fuzz_settings) as address:
        url = f"ws://{address}/ws?token={admin_token}"
        fuzzer = Fuzzer(url)
        try:
            for frame in drawn:
                try:
                    await fuzzer.send(frame)
                except AssertionError as exc:
                    raise AssertionError(f"after frame {frame[:200]!r}: {exc}") from None
        finally:
            await fuzzer.close()
        async with connect(url) as ws:  # still up, still serving
            assert (await receive(ws))["type"] == "connected"
    totals = {**fuzzer.answers, **{f"close {c}": n for c, n in fuzzer.closes.items()}}
    print(f"{len(drawn)} frames; answers:", dict(sorted(totals.items())))
    assert len(drawn) >= 10_000
    assert totals["error INVALID_MESSAGE"] > len(drawn) // 2
    assert totals.get("close 1009", 0) > 0
