"""Filters on log channels, applied at the gateway: `grep` (text, any case), `regex`
and `level` (the least level shown) are parameters of the channel, so every client of
the same filtered view shares one feed and each line is tested once.

A line's level is the first level word in it (`ERROR`, `warn`, `level=info`,
`"level":"debug"`...); a line with none is not shown when a level is asked for.
Regular expressions come from clients, so each match runs with a time limit
(the `regex` module's): a pattern that backtracks without end fails that line
rather than stalling the gateway.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import regex

FILTERS = ("grep", "regex", "level")
LEVELS = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "error": 4, "fatal": 5}
_ALIASES = {"warning": "warn", "err": "error", "critical": "fatal", "crit": "fatal"}
_LEVEL_WORD = regex.compile(
    r"\b(trace|debug|info|warn(?:ing)?|err(?:or)?|fatal|crit(?:ical)?)\b", regex.IGNORECASE
)
MATCH_TIMEOUT_S = 0.01


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
    pattern: regex.Pattern[str] | None = None
    least: int | None = None

    @classmethod
    def of(cls, params: Mapping[str, str]) -> "LineFilter | None":
        """The filter a channel's parameters ask for (None: every line), or
        `InvalidFilter`."""
        if not any(name in params for name in FILTERS):
            return None
        pattern = None
        if "regex" in params:
            try:
                pattern = regex.compile(params["regex"])
            except regex.error as exc:
                raise InvalidFilter(f"regex: {exc}") from None
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
        if self.pattern is not None:
            try:
                return self.pattern.search(text, timeout=MATCH_TIMEOUT_S) is not None
            except TimeoutError:
                return False
        return True
