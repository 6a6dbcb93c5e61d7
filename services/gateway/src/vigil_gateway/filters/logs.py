"""Filters on log channels, applied at the gateway: `grep` (text, any case), `regex`
and `level` (the least level shown) are parameters of the channel, so every client of
the same filtered view shares one feed and each line is tested once.

A line's level is the first level word in it (`vigil.log_levels`); a line with none
is not shown when a level is asked for.
Regular expressions come from clients, so they run on RE2, in time linear in the
line, within a memory budget (`patterns`).
"""

from collections.abc import Mapping
from dataclasses import dataclass

import re2

from vigil.channels import ChannelRef
from vigil.log_levels import LEVELS, at_least, level_named
from vigil.messages import ErrorCode
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.filters.patterns import InvalidPattern, compile_regex

FILTERS = ("grep", "regex", "level")


class InvalidFilter(ValueError):
    """A filter parameter that cannot be used; `str()` says why."""


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
            try:
                least = LEVELS[level_named(params["level"])]
            except ValueError as exc:
                raise InvalidFilter(str(exc)) from None
        grep = params.get("grep")
        return cls(grep=grep.lower() if grep else None, pattern=pattern, least=least)

    def keeps(self, text: str) -> bool:
        if self.grep is not None and self.grep not in text.lower():
            return False
        if self.least is not None and not at_least(text, self.least):
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
