"""Scroll-back: a page of a container's older log lines, read from the engine.

`ctl.logs.page` asks the collector of a host for up to `limit` lines from before a
time, the oldest line a client holds (without one, the newest lines: `tail`). The
engine applies `tail` before `until`, so the two do not make "the last N before T";
instead the page reads the lines in a window before that time (`since`, `until`:
to the nanosecond, inclusive), widening it until it holds a page or reaches the
container's creation. The lines stamped at that very time are the client's already
and are left out. Lines go through the same assembly as followed ones: joined, cut,
redacted.

Lines carry their time to the microsecond, so two lines within one microsecond at the
edge of a page would lose the second; the engine stamps lines microseconds apart.
"""

import asyncio
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from vigil import ctl
from vigil.access import Principal
from vigil.messages import ErrorCode, LogLine, LogPage, ReadLogs
from vigil_collector.docker.engine import UNREACHABLE, describe, is_missing
from vigil_collector.docker.log_reader import LineAssembler
from vigil_collector.logs.lines import parse_time
from vigil_collector.logs.redaction import Redactor, compile_patterns
from vigil_collector.settings import CollectorSettings

_FIRST_WINDOW = timedelta(minutes=5)
_WIDER = 8  # each window this many times the one before
_AT_BEFORE = 64  # lines kept beyond a page: those stamped `before` itself are left out


class LogPages:
    def __init__(self, settings: CollectorSettings) -> None:
        self._settings = settings
        self._patterns = compile_patterns(settings.redact_patterns)
        self._api: Any = None

    def attach(self, api: Any) -> None:
        self._api = api

    def detach(self) -> None:
        self._api = None

    async def read(self, request: ReadLogs, caller: Principal) -> LogPage:
        """The `ctl.logs.page` handler (for the requests of this host's containers)."""
        api = self._api
        if api is None:
            raise ctl.Refused(ErrorCode.UNAVAILABLE, "the Docker engine is unavailable")
        try:
            info = await asyncio.to_thread(api.inspect_container, request.container)
            lines = await asyncio.to_thread(self._page, api, info, request)
        except UNREACHABLE as exc:
            if is_missing(exc):
                raise ctl.Refused(
                    ErrorCode.NOT_FOUND, f"no container {request.container!r}"
                ) from exc
            raise ctl.Refused(ErrorCode.UNAVAILABLE, describe(exc)) from exc
        page = lines[-request.limit :]
        more = len(lines) >= request.limit  # else the engine gave all it has
        return LogPage(lines=page, next_before=page[0].time if more and page else None)

    def _page(self, api: Any, info: dict[str, Any], request: ReadLogs) -> list[LogLine]:
        """Runs in a worker thread: at least `limit` lines before `before`, oldest
        first, or all there are."""
        before = request.before
        if before is None:
            return self._read(api, info, {"tail": request.limit}, keep=request.limit)
        created = _parse_created(info.get("Created"))
        window = _FIRST_WINDOW
        while True:
            since = before - window
            window_query = {"since": _engine_time(since), "until": _engine_time(before)}
            lines = self._read(api, info, window_query, keep=request.limit + _AT_BEFORE)
            lines = [line for line in lines if line.time < before]
            if len(lines) >= request.limit or created is None or since <= created:
                return lines
            window *= _WIDER

    def _read(
        self, api: Any, info: dict[str, Any], query: dict[str, Any], *, keep: int
    ) -> list[LogLine]:
        """The newest `keep` of the lines the query gives."""
        found: deque[LogLine] = deque(maxlen=keep)
        lines = LineAssembler(
            tty=bool((info.get("Config") or {}).get("Tty")),
            max_line_bytes=self._settings.logs_max_line_bytes,
            redactor=Redactor(self._patterns, defaults=self._settings.redact_defaults),
            emit=lambda line, nanos: found.append(line),
        )
        # The request a follower makes (see log_reader), without `follow`.
        url = api._url("/containers/{0}/logs", info["Id"])
        params = {"stdout": 1, "stderr": 1, "timestamps": 1, **query}
        response = api._get(url, params=params, stream=True)
        try:
            api._raise_for_status(response)
            for chunk in response.raw.stream(65536, decode_content=False):
                lines.feed(chunk)
        finally:
            response.close()
        lines.flush()
        return list(found)


def _parse_created(stamp: str | None) -> datetime | None:
    """The container's `Created` (RFC 3339 with nanoseconds), or None."""
    try:
        return parse_time(stamp.encode())[0] if stamp else None
    except ValueError:
        return None


def _engine_time(when: datetime) -> str:
    """`seconds.nanoseconds`, as the engine's `until` takes a time."""
    return f"{int(when.timestamp())}.{when.microsecond * 1000:09d}"
