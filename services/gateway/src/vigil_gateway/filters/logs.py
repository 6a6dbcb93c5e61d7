"""Filters on log channels, applied at the gateway: `grep` (text, any case), `regex`
and `level` (the least level shown) are parameters of the channel, so every client of
the same filtered view shares one feed and each line is tested once.

A line's level is the first level word in it (`ERROR`, `warn`, `level=info`,
`"level":"debug"`...); a line with none is not shown when a level is asked for.
Regular expressions come from clients, so they run on RE2, in time linear in the
line, within a memory budget (`patterns`).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

import re2

from vigil.channels import ChannelRef
from vigil.messages import ErrorCode
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.filters.patterns import InvalidPattern, compile_regex

FILTERS = ("grep", "regex", "level")
LEVELS = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "error": 4, "fatal": 5}
_ALIASES = {"warning": "warn", "err": "error", "critical": "fatal", "crit": "fatal"}
_LEVEL_WORD = re.compile(
    r"\b(trace|debug|info|warn(?:ing)?|err(?:or)?|fatal|crit(?:ical)?)\b", re.IGNORECASE
)


class InvalidFilter(ValueError):
    """A filter parameter that cannot be used; `str()` says why."""


def level_of(text: str) -> int | None:
    found = _LEVEL_WORD.search(text)
    if found is None:
        return None
    word = found.group(1).lower()
    return LEVELS[_ALIASES.get(word, word)]


@dataclass(frozen=True)
class LineFilter:
    grep: str | None = None
    pattern: "re2._Regexp[str] | None" = None
    least: int | None = None

    @classmethod
    def of(cls, params: Mapping[str, str]) -> "LineFilter | None":
        """The filter a channel's parameters ask for (None: every line), or
        `InvalidFilter`."""
        if not cls.asks(params):
            return None
        pattern = None
        if "regex" in params:
            try:
                pattern = compile_regex(params["regex"])
            except InvalidPattern as exc:
                raise InvalidFilter(f"regex {params['regex'][:40]!r}: {exc}") from None
        least = None
        if "level" in params:
            level = params["level"].lower()
            if _ALIASES.get(level, level) not in LEVELS:
                raise InvalidFilter(f"level is one of {', '.join(LEVELS)}, not {level[:20]!r}")
            least = LEVELS[_ALIASES.get(level, level)]
        grep = params.get("grep")
        return cls(grep=grep.lower() if grep else None, pattern=pattern, least=least)

    def keeps(self, text: str) -> bool:
        if self.grep is not None and self.grep not in text.lower():
            return False
        if self.least is not None:
            level = level_of(text)
            if level is None or level < self.least:
                return False
        return self.pattern is None or self.pattern.search(text) is not None

    @staticmethod
    def asks(params: Mapping[str, str]) -> bool:
        """Whether a channel's parameters filter its lines (work per line at the gateway)."""
        return any(name in params for name in FILTERS)


def filter_of(channel: ChannelRef) -> LineFilter | None:
    """The filter of a log channel (None: every line), or `ChannelRefused`
    (INVALID_MESSAGE) for one that cannot be used: the one way from a channel to its
    filter, for its admission (`Hub.admit`) as for its feeds and polls."""
    try:
        return LineFilter.of(dict(channel.params))
    except InvalidFilter as exc:
        raise ChannelRefused(ErrorCode.INVALID_MESSAGE, str(exc)) from None
