"""The journal source's pure parts: a client's selection read and made canonical, and
an entry of journalctl's JSON made a line (cut, redacted, its priority and stream)."""

import json

import pytest

from vigil.errors import InvalidName
from vigil.journal import JournalSelection
from vigil_collector.journal.reader import journal_line, journalctl_command
from vigil_collector.logs.redaction import Redactor


@pytest.mark.parametrize(
    ("text", "unit", "priority", "canonical"),
    [
        ("all", None, None, "all"),
        ("unit=docker.service", "docker.service", None, "unit=docker.service"),
        ("priority<=warning,unit=ssh*", "ssh*", 4, "unit=ssh*,priority<=warning"),
        ("priority<=0", None, 0, "priority<=emerg"),
        ("unit=getty@tty1.service", "getty@tty1.service", None, "unit=getty@tty1.service"),
    ],
)
def test_a_selection_reads_as_a_unit_and_a_priority(
    text: str, unit: str | None, priority: int | None, canonical: str
) -> None:
    selection = JournalSelection.parse(text)
    assert (selection.unit, selection.priority, selection.text) == (unit, priority, canonical)
    assert JournalSelection.parse(selection.text) == selection


@pytest.mark.parametrize(
    "text",
    [
        "",
        "unit=a,unit=b",
        "priority<=err,priority<=info",
        "priority<=8",
        "priority>=err",
        "unit=",
        "unit=a b",
        "unit=a;reboot",
        "unit=a\nb",
        "unit=" + "a" * 300,
        "all,unit=a",
        "host=web1",
    ],
)
def test_a_selection_that_does_not_fit_is_refused(text: str) -> None:
    with pytest.raises(InvalidName):
        JournalSelection.parse(text)


@pytest.mark.parametrize(
    ("text", "unit", "priority", "admitted"),
    [
        ("all", None, None, True),
        ("unit=docker", "docker.service", 6, True),  # journalctl's: a bare name is a service
        ("unit=docker", "docker.socket", 6, False),
        ("unit=docker.service", None, 6, False),  # no unit: not of a unit's selection
        ("unit=ssh*", "sshd.service", 6, True),
        ("unit=ssh*", "xssh.service", 6, False),  # a glob matches the whole name
        ("unit=getty@tty?.service", "getty@tty1.service", 3, True),
        ("priority<=warning", "a.service", 4, True),
        ("priority<=warning", "a.service", 5, False),
        ("priority<=warning", "a.service", None, False),
        ("unit=a.service,priority<=err", "a.service", 2, True),
        ("unit=a.service,priority<=err", "b.service", 2, False),
    ],
)
def test_a_selection_admits_the_entries_journalctl_would_select(
    text: str, unit: str | None, priority: int | None, admitted: bool
) -> None:
    assert JournalSelection.parse(text).admits(unit, priority) is admitted


def test_a_selections_token_is_one_subject_token_and_differs_by_selection() -> None:
    tokens = {JournalSelection.parse(t).token for t in ("unit=a*", "unit=a?", "priority<=err")}
    assert len(tokens) == 3
    assert all(token.isalnum() for token in tokens)
    assert JournalSelection.parse("all").token == "all"


def entry(**fields: object) -> bytes:
    base = {"__CURSOR": "s=1;i=2", "__REALTIME_TIMESTAMP": "1796575433745865"}
    return json.dumps(base | fields).encode()


def test_journal_lines_are_parsed_cut_and_redacted() -> None:
    redactor = Redactor([])
    parsed = journal_line(
        entry(MESSAGE="disk failing", PRIORITY="2", _SYSTEMD_UNIT="smartd.service"), 1024, redactor
    )
    assert parsed is not None
    line, nanos = parsed
    assert nanos == 1796575433745865000
    assert line.time.microsecond == 745865
    assert (line.stream, line.priority, line.unit, line.cursor) == (
        "stderr",
        2,
        "smartd.service",
        "s=1;i=2",
    )
    # Not UTF-8: journalctl sends the bytes; shown with replacement characters.
    binary = journal_line(entry(MESSAGE=[104, 105, 255], PRIORITY="6"), 1024, redactor)
    assert binary is not None
    assert (binary[0].text, binary[0].stream) == ("hi\ufffd", "stdout")
    long = journal_line(entry(MESSAGE="x" * 2000), 256, redactor)
    assert long is not None
    assert long[0].text.startswith("x" * 256)
    assert "1744 more bytes" in long[0].text
    secret = journal_line(entry(MESSAGE="Authorization: Bearer abcdefgh12345678"), 1024, redactor)
    assert secret is not None
    assert secret[0].text == "Authorization: Bearer [REDACTED]"
    assert journal_line(b"not json", 1024, redactor) is None
    assert journal_line(entry(PRIORITY="77", MESSAGE=None), 1024, redactor) is not None


def test_journalctl_resumes_after_the_cursor_or_starts_with_the_tail() -> None:
    selection = JournalSelection.parse("unit=docker.service,priority<=warning")
    first = journalctl_command("journalctl", None, selection, after="", tail=50)
    assert "--unit=docker.service" in first
    assert "--priority=4" in first
    assert "--lines=50" in first
    assert not [arg for arg in first if arg.startswith("--directory")]
    again = journalctl_command("journalctl", None, JournalSelection(), after="s=1;i=9", tail=50)
    assert "--after-cursor=s=1;i=9" in again
    assert not [arg for arg in again if arg.startswith(("--lines", "--unit", "--priority"))]
