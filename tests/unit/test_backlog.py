"""A slow socket's backlog: state keeps the newest, streams drop the oldest and say
so, journals never drop."""

import json

from vigil_gateway.transport.backlog import Backlog
from vigil_gateway.transport.wire import Frame


def f(*texts: str) -> tuple[Frame, ...]:
    return tuple(Frame(text) for text in texts)


def drain(backlog: Backlog) -> list[str]:
    frames: list[str] = []
    while (batch := backlog.pop()) is not None:
        frames.extend(frame.text for frame in batch.frames)
    return frames


def test_state_keeps_only_the_newest_value_per_subject_in_its_place() -> None:
    backlog = Backlog(limit=4)
    backlog.put_state(("c", "s1"), f("s1-old"))
    backlog.put_control(Frame("ctl"))
    backlog.put_state(("c", "s2"), f("s2"))
    backlog.put_state(("c", "s1"), f("s1-new"))
    assert drain(backlog) == ["s1-new", "ctl", "s2"]


def test_a_delta_that_replaces_a_queued_value_goes_as_its_snapshot() -> None:
    backlog = Backlog(limit=4)
    backlog.put_state(("c", "s1"), f("delta-2"), snapshot=f("snapshot-2"))
    backlog.put_state(("c", "s1"), f("delta-3"), snapshot=f("snapshot-3"))  # 2 skipped
    backlog.put_state(("c", "s2"), f("delta-7"), snapshot=f("snapshot-7"))  # nothing skipped
    assert drain(backlog) == ["snapshot-3", "delta-7"]


def test_a_slow_reader_of_a_stream_gets_a_gap_then_the_newest_lines() -> None:
    backlog = Backlog(limit=3)
    for n in range(10):
        backlog.put_stream("logs", f(f"line{n}"))
    frames = drain(backlog)
    gap = json.loads(frames[0])
    assert gap == {"type": "gap", "channel": "logs", "dropped": 7}
    assert frames[1:] == ["line7", "line8", "line9"]


def test_control_frames_are_never_dropped() -> None:
    backlog = Backlog(limit=2)
    assert backlog.put_control(Frame("connected"))
    for n in range(5):
        backlog.put_stream("logs", f(f"line{n}"))
    assert backlog.put_control(Frame("pong"))
    frames = drain(backlog)
    assert frames[0] == "connected"
    assert frames[-1] == "pong"
    assert json.loads(frames[1])["dropped"] == 3


def test_control_frames_past_the_limit_are_refused_not_queued() -> None:
    """A client that asks and never reads: the caller closes it (4008) instead."""
    backlog = Backlog(limit=3)
    assert all(backlog.put_control(Frame(f"error {n}")) for n in range(3))
    assert not backlog.put_control(Frame("error 3"))
    assert drain(backlog) == ["error 0", "error 1", "error 2"]


def test_a_journal_never_drops_and_refuses_past_its_limit() -> None:
    backlog = Backlog(limit=3)
    assert all(backlog.put_journal(f(f"step{n}")) for n in range(3))
    first = backlog.pop()
    assert first is not None
    assert [frame.text for frame in first.frames] == ["step0"]  # one read: room for one more
    assert backlog.put_journal(f("step3"))
    assert not backlog.put_journal(f("step4"))  # 4 behind the limit of 3: close it, 4008
    assert drain(backlog) == ["step1", "step2", "step3"]


def test_a_gap_is_reported_even_when_its_channel_sends_nothing_more() -> None:
    backlog = Backlog(limit=2)
    backlog.put_stream("bulk", f("b0"))
    backlog.put_stream("bulk", f("b1"))
    backlog.put_stream("logs", f("l0"))  # drops b0
    backlog.put_stream("logs", f("l1"))  # drops b1: nothing more comes on bulk
    frames = drain(backlog)
    gaps = [json.loads(t) for t in frames if t.startswith('{"type":"gap"')]
    assert gaps == [{"type": "gap", "channel": "bulk", "dropped": 2}]
    assert [t for t in frames if not t.startswith("{")] == ["l0", "l1"]
