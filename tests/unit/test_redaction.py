"""The collector's redaction of log lines: each default pattern however its line is
spelled (the patterns run only on lines that hold their hint, lower-cased), a private
key block across lines, and an operator's pattern on every line."""

import re

import pytest

from vigil_collector.logs.lines import parse_time
from vigil_collector.logs.redaction import Redactor

SECRET_LINES = {
    "db at postgres://app:hunter2@db:5432/orders": "hunter2",
    "authorization: bearer abcdefghijklmnop": "abcdefghijklmnop",
    "AUTHORIZATION: BEARER ABCDEFGHIJKLMNOP": "ABCDEFGHIJKLMNOP",
    "key AKIAIOSFODNN7EXAMPLE in use": "AKIAIOSFODNN7EXAMPLE",
    "AWS_Secret_Access_Key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": "wJalrXUtnFEMI",
    "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl": "eyJzdWIi",
    "inline -----BEGIN RSA PRIVATE KEY-----abc-----END RSA PRIVATE KEY----- ok": "abc",
}


@pytest.mark.parametrize("line", SECRET_LINES)
def test_each_default_pattern_redacts_its_secret_however_spelled(line: str) -> None:
    redacted = Redactor([]).line(line)
    assert "[REDACTED]" in redacted
    assert SECRET_LINES[line] not in redacted


def test_a_private_key_block_is_redacted_line_by_line_and_other_lines_kept() -> None:
    redactor = Redactor([re.compile(r"user=\d+")])
    lines = ["start", "-----BEGIN PRIVATE KEY-----", "MIIEv", "-----END PRIVATE KEY----- x"]
    lines += ["GET / user=42 took=3ms"]
    assert [redactor.line(line) for line in lines] == [
        "start",
        "[REDACTED]",
        "[REDACTED]",
        "[REDACTED] x",
        "GET / [REDACTED] took=3ms",
    ]
    assert Redactor([], defaults=False).line("postgres://a:b@c") == "postgres://a:b@c"


def test_a_stamp_is_read_to_the_nanosecond_and_garbage_is_refused() -> None:
    when, nanos = parse_time(b"2026-12-06T12:00:01.123456789Z")
    assert when.isoformat() == "2026-12-06T12:00:01.123456+00:00"
    assert nanos == int(when.replace(microsecond=0).timestamp()) * 10**9 + 123456789
    assert parse_time(b"2026-12-06T12:00:01Z")[1] % 10**9 == 0
    for bad in (b"yesterday", b"2026-12-06 12:00:01Z", b"2026-13-06T12:00:01Z"):
        with pytest.raises(ValueError, match=r"."):
            parse_time(bad)
