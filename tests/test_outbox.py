"""A connection's outbox: state keeps the newest, streams drop the oldest and say so."""

import json

from vigil_gateway.outbox import Close, Outbox


async def drain(outbox: Outbox) -> list[str]:
    frames: list[str] = []
    while len(outbox):
        item = await outbox.get()
        assert not isinstance(item, Close)
        frames.extend(item.frames)
    return frames


async def test_state_keeps_only_the_newest_value_per_subject_in_its_place() -> None:
    outbox = Outbox(limit=4)
    outbox.put_state(("c", "s1"), ("s1-old",))
    outbox.put_control("ctl")
    outbox.put_state(("c", "s2"), ("s2",))
    outbox.put_state(("c", "s1"), ("s1-new",))
    assert await drain(outbox) == ["s1-new", "ctl", "s2"]


async def test_a_slow_reader_of_a_stream_gets_a_gap_then_the_newest_lines() -> None:
    outbox = Outbox(limit=3)
    for n in range(10):
        outbox.put_stream("logs", (f"line{n}",))
    frames = await drain(outbox)
    gap = json.loads(frames[0])
    assert gap == {"type": "gap", "channel": "logs", "dropped": 7}
    assert frames[1:] == ["line7", "line8", "line9"]


async def test_control_frames_are_never_dropped() -> None:
    outbox = Outbox(limit=1)
    outbox.put_control("connected")
    for n in range(5):
        outbox.put_stream("logs", (f"line{n}",))
    outbox.put_control("pong")
    frames = await drain(outbox)
    assert frames[0] == "connected"
    assert frames[-1] == "pong"
    assert json.loads(frames[1])["dropped"] == 4


async def test_a_close_goes_ahead_of_everything_queued() -> None:
    outbox = Outbox(limit=4)
    outbox.put_control("pong")
    outbox.put_close(4001, "revoked")
    outbox.put_close(4003, "later reasons do not replace the first")
    assert await outbox.get() == Close(4001, "revoked")


async def test_a_journal_never_drops_and_closes_a_client_that_falls_behind_with_4008() -> None:
    outbox = Outbox(limit=3)
    for n in range(3):
        outbox.put_journal("deploy", (f"step{n}",))
    first = await outbox.get()
    assert not isinstance(first, Close)
    assert first.frames == ("step0",)  # one read: room for one more
    outbox.put_journal("deploy", ("step3",))
    outbox.put_journal("deploy", ("step4",))  # now 4 behind the limit of 3
    close = await outbox.get()
    assert isinstance(close, Close)
    assert close.code == 4008
    assert "resume from your last cursor" in close.reason


async def test_a_gap_is_reported_even_when_its_channel_sends_nothing_more() -> None:
    outbox = Outbox(limit=2)
    outbox.put_stream("bulk", ("b0",))
    outbox.put_stream("bulk", ("b1",))
    outbox.put_stream("logs", ("l0",))  # drops b0
    outbox.put_stream("logs", ("l1",))  # drops b1: nothing more comes on bulk
    frames = await drain(outbox)
    gaps = [json.loads(f) for f in frames if f.startswith('{"type":"gap"')]
    assert gaps == [{"type": "gap", "channel": "bulk", "dropped": 2}]
    assert [f for f in frames if not f.startswith("{")] == ["l0", "l1"]
