"""The client's reconnect policy (seed 001: 2, 5, 10, 30 s) with jitter, and its parts
that need no server: frames, credentials, subscriptions."""

import base64
import json
import random

import pytest

from vigil.channels import resolve_channel
from vigil.messages import Ask, Delta, Gap, Reset, Update
from vigil_client import Backoff, Tokens
from vigil_client.credentials import jwt_expiry
from vigil_client.frames import BadFrame, parse_frame
from vigil_client.subscription import Subscription


def test_backoff_waits_2_5_10_then_30_seconds_for_ever() -> None:
    backoff = Backoff(jitter=0)
    assert [backoff.delay(n) for n in range(1, 8)] == [2, 5, 10, 30, 30, 30, 30]


def test_jitter_spreads_each_wait_within_its_share_and_is_not_constant() -> None:
    backoff = Backoff(jitter=0.25, rng=random.Random(7))
    for failures, base in ((1, 2.0), (2, 5.0), (3, 10.0), (4, 30.0)):
        waits = [backoff.delay(failures) for _ in range(200)]
        assert all(base * 0.75 <= w <= base * 1.25 for w in waits)
        assert max(waits) - min(waits) > base * 0.3  # really spread, not one value
        assert abs(sum(waits) / len(waits) - base) < base * 0.06  # centred on the step


@pytest.mark.parametrize(
    ("steps", "jitter"), [((), 0.1), ((1.0, -1.0), 0.1), ((1.0,), 1.0), ((1.0,), -0.1)]
)
def test_a_policy_that_makes_no_sense_is_refused(steps: tuple[float, ...], jitter: float) -> None:
    with pytest.raises(ValueError, match=r"backoff|jitter"):
        Backoff(steps=steps, jitter=jitter)


def test_frames_parse_into_the_library_models() -> None:
    update = parse_frame('{"type":"update","channel":"alerts","data":{"a":1},"cursor":4}')
    assert update == Update(channel="alerts", data={"a": 1}, cursor=4)
    ask = parse_frame(
        {"type": "ask", "requestId": "r1", "kind": "k", "question": "q", "data": {}, "timeout_s": 1}
    )
    assert isinstance(ask, Ask)
    assert ask.request_id == "r1"
    assert parse_frame('{"type":"from-the-future","x":1}') is None  # skipped, not an error
    with pytest.raises(BadFrame, match="update"):
        parse_frame('{"type":"update","channel":"alerts"}')
    with pytest.raises(BadFrame, match="JSON"):
        parse_frame("{nope")


def _jwt(claims: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJub25lIn0.{body}.sig"


def test_tokens_know_their_expiry_and_refresh_before_it() -> None:
    tokens = Tokens.of_access_token(_jwt({"exp": 1_000_900}))
    assert jwt_expiry(tokens.access_token) == 1_000_900
    assert tokens.refresh_due(now=1_000_000) == 1_000_840  # a minute before
    assert tokens.refresh_due(now=1_000_890) == 1_000_898  # a fifth of what is left
    assert jwt_expiry("not-a-jwt") is None


async def _nothing(subscription: Subscription) -> None:
    return None


async def test_a_subscription_skips_what_it_saw_and_follows_resets() -> None:
    subscription = Subscription(
        resolve_channel("alerts"), since=None, interval_s=None, on_close=_nothing
    )
    for cursor in (5, 6, 6, 5, 7):  # a transport switch delivers 5 and 6 again
        subscription.deliver(Update(channel="alerts", data={}, cursor=cursor))
    subscription.deliver(Reset(channel="alerts", since=7, first_cursor=20))
    subscription.deliver(Update(channel="alerts", data={}, cursor=20))
    events = subscription.pending()
    assert [getattr(e, "cursor", None) for e in events] == [5, 6, 7, None, 20]
    assert (subscription.skipped, subscription.cursor) == (2, 20)


async def test_a_reader_that_falls_behind_its_buffer_gets_a_gap_with_the_count() -> None:
    subscription = Subscription(
        resolve_channel("alerts"), since=None, interval_s=None, on_close=_nothing, buffer=3
    )
    for cursor in range(1, 11):
        subscription.deliver(Update(channel="alerts", data={}, cursor=cursor))
    first = await subscription.next()
    assert first == Gap(channel="alerts", dropped=7)
    assert [getattr(e, "cursor", None) for e in subscription.pending()] == [8, 9, 10]


async def test_a_delta_that_does_not_follow_asks_once_for_a_snapshot() -> None:
    asked: list[Subscription] = []
    subscription = Subscription(
        resolve_channel("docker.stats"),
        since=None,
        interval_s=None,
        on_close=_nothing,
        delta=True,
        on_resync=asked.append,
    )
    snapshot = {"host": "h1", "containers": [{"id": "a", "cpu": 1}]}
    subscription.deliver(Update(channel="docker.stats", data=snapshot, key="k", seq=1))
    subscription.deliver(
        Delta.model_validate(
            {
                "channel": "docker.stats",
                "key": "k",
                "seq": 2,
                "items": "containers",
                "changed": {"a": {"cpu": 2}},
                "set": {"host": "h1"},
            }
        )
    )
    for seq in (4, 5):  # 3 was missed: neither is applied, one snapshot is asked for
        subscription.deliver(Delta(channel="docker.stats", key="k", seq=seq, unset=["host"]))
    assert asked == [subscription]
    fresh = {"host": "h1", "containers": []}
    subscription.deliver(Update(channel="docker.stats", data=fresh, key="k", seq=5))
    events = subscription.pending()
    assert [e.data for e in events if isinstance(e, Update)] == [
        snapshot,
        {"host": "h1", "containers": [{"id": "a", "cpu": 2}]},
        fresh,
    ]
    assert (subscription.deltas, subscription.resyncs) == (1, 1)
