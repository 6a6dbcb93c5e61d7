"""What a streaming request says in its query, beside credentials: the channel's own
parameters, and the subscriber's options: where to resume (`since`, or SSE's
`Last-Event-ID`), a pace, deltas, history first."""

from collections.abc import Mapping

from fastapi import Request

from vigil.channels import ChannelKind, ChannelRef
from vigil.messages.client import MAX_HISTORY_FIRST_S
from vigil_gateway.delivery.options import Options

# Query parameters that are not a channel's own.
RESERVED = frozenset({"token", "api_key", "since", "limit", "interval_s", "delta", "history_s"})
FLAGS = {"1": True, "true": True, "0": False, "false": False, "": False}


def channel_params(query: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in query.items() if key not in RESERVED}


def cursor(query: Mapping[str, str]) -> int | None:
    """`?since=`: a cursor; ValueError unless a whole number."""
    raw = query.get("since")
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise ValueError(f"since is a cursor, a whole number, not {raw[:40]!r}")
    return int(raw)


def pace(query: Mapping[str, str]) -> float | None:
    """`?interval_s=`: state at most once per that many seconds; ValueError unless
    0 < s <= 3600."""
    raw = query.get("interval_s")
    if raw is None:
        return None
    try:
        interval_s = float(raw)
    except ValueError:
        interval_s = 0.0
    if not 0 < interval_s <= 3600:
        raise ValueError(f"interval_s is 0 < s <= 3600, not {raw[:20]!r}")
    return interval_s


def delta(query: Mapping[str, str]) -> bool:
    """`?delta=1`: deltas; ValueError unless 1, true, 0 or false."""
    raw = query.get("delta", "")
    if raw.lower() not in FLAGS:
        raise ValueError(f"delta is 1 or 0, not {raw[:20]!r}")
    return FLAGS[raw.lower()]


def history_s(query: Mapping[str, str]) -> int | None:
    """`?history_s=`: that many seconds of history first; ValueError unless a whole
    number from 1 to a day."""
    raw = query.get("history_s")
    if raw is None:
        return None
    seconds = int(raw) if raw.isdigit() and len(raw) < 10 else 0
    if not 1 <= seconds <= MAX_HISTORY_FIRST_S:
        raise ValueError(f"history_s is 1 to {MAX_HISTORY_FIRST_S} seconds, not {raw[:20]!r}")
    return seconds


def options(query: Mapping[str, str], since: int | None) -> Options:
    """The subscriber's options in the query, resuming after `since`; ValueError
    naming what was wrong."""
    return Options(
        since=since, interval_s=pace(query), delta=delta(query), history_s=history_s(query)
    )


def resume_point(request: Request, channel: ChannelRef) -> int | None:
    """Where a stream or journal resumes: `Last-Event-ID`, else `?since=`; ValueError
    if that is not a cursor."""
    if channel.spec.kind is ChannelKind.STATE:
        return None
    last_event_id = request.headers.get("last-event-id")
    return cursor({"since": last_event_id} if last_event_id else request.query_params)
