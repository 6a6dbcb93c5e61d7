"""Where a retained source's kept lines end, and which lines read again after a restart
of the collector are new (`vigil_collector.logs.retention`): every line before the last
one kept was kept, and at its very time as many lines as the last batch holds there."""

from vigil.messages import KeptLogBatch, KeptPodLogBatch
from vigil_collector.logs.batches import Position
from vigil_collector.logs.retention import AfterKept, KeptEnd

SECOND = 1_700_000_000  # epoch seconds of the kept lines
START = SECOND * 10**6 + 250_000  # the batch's first line, in epoch microseconds


def batch(*offsets: int) -> KeptLogBatch:
    lines = [(offset, f"line {n}") for n, offset in enumerate(offsets, 1)]
    return KeptLogBatch(host="h", container="web", id="abc", start=START, lines=lines)


def nanos(offset_us: int, extra_ns: int = 0) -> int:
    """A line's time as the engine stamps it (nanoseconds), `offset_us` after `START`."""
    return (START + offset_us) * 1000 + extra_ns


def test_the_end_is_the_last_lines_time_and_how_many_were_kept_at_it() -> None:
    assert KeptEnd.of(batch(0, 10, 20, 20, 20)) == KeptEnd(START + 20, 3)
    assert KeptEnd.of(batch(0, 10)) == KeptEnd(START + 10, 1)
    assert KeptEnd.of(batch(0, 0)) == KeptEnd(START, 2)
    pods = KeptPodLogBatch(
        cluster="c", namespace="n", workload="w", pod="w-1", container="app",
        start=START, lines=[(0, "a"), (5, "b")],
    )  # fmt: skip
    assert KeptEnd.of(pods) == KeptEnd(START + 5, 1)
    assert KeptEnd.of(batch()) is None


def test_lines_read_again_skip_what_was_kept_and_no_more() -> None:
    after = AfterKept(KeptEnd(START + 20, 2))  # two lines kept at +20 µs
    read_again = [
        (nanos(-250_000), False),  # the second's first line: kept
        (nanos(10), False),
        (nanos(20, 100), False),  # the first at +20 µs (ns beyond the µs kept)
        (nanos(20, 700), False),  # the second: both kept
        (nanos(20, 900), True),  # a third at that microsecond was never kept
        (nanos(21), True),
        (0, True),  # no time: cannot be placed, so sent
        (nanos(30), True),
    ]
    assert [after.new(at) for at, _ in read_again] == [new for _, new in read_again]


def test_a_line_at_the_kept_time_is_new_once_as_many_as_were_kept_have_passed() -> None:
    after = AfterKept(KeptEnd(START, 1))
    assert [after.new(nanos(0)) for _ in range(3)] == [False, True, True]


def test_the_log_is_read_from_the_whole_second_of_the_last_line_kept() -> None:
    after = AfterKept(KeptEnd(START + 20, 1))
    assert after.since_s == SECOND
    # The pod API's sinceSeconds: back to that time from now, rounded up, a minute more.
    now = (START + 20) * 1000 + 2_500_000_000  # 2.5 s later
    assert after.seconds_ago(now) == 3 + 60
    assert after.seconds_ago((START + 20) * 1000) == 1 + 60  # never 0 (all of the log)


def test_only_a_source_none_of_whose_lines_this_process_batched_goes_by_what_was_kept() -> None:
    end = KeptEnd(START, 1)
    assert Position().after_kept() is None  # nothing kept
    assert Position(kept=end).after_kept() is not None
    assert Position(nanos=nanos(5), kept=end).after_kept() is None  # its own position rules
