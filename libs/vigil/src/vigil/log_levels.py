"""A log line's level: a journal entry's syslog priority, or else the first level word in
its text (`ERROR`, `warn`, `level=info`, `"level":"debug"`...). Filters keep the lines of a
level or worse (the gateway's live log channels, the history service's search); a line
with no level is left out when a level is asked for."""

import re
from typing import Literal, get_args

LevelName = Literal["trace", "debug", "info", "warn", "error", "fatal"]
LEVELS: dict[str, int] = {name: rank for rank, name in enumerate(get_args(LevelName))}
_ALIASES = {"warning": "warn", "err": "error", "critical": "fatal", "crit": "fatal"}
_LEVEL_WORD = re.compile(
    r"\b(trace|debug|info|warn(?:ing)?|err(?:or)?|fatal|crit(?:ical)?)\b", re.IGNORECASE
)


def level_of(text: str) -> int | None:
    """The rank of the line's level (`LEVELS`), None when it names none."""
    found = _LEVEL_WORD.search(text)
    if found is None:
        return None
    word = found.group(1).lower()
    return LEVELS[_ALIASES.get(word, word)]


# syslog priorities 0 emerg .. 7 debug, as levels: emerg, alert and crit are fatal
_PRIORITY_LEVELS = ("fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug")


def level_named(name: str) -> LevelName:
    """`name` (any case, or an alias: warning, err, crit...) as a level, or ValueError
    saying which there are."""
    word = name.lower()
    level = _ALIASES.get(word, word)
    if level not in LEVELS:
        raise ValueError(f"level is one of {', '.join(LEVELS)}, not {name[:20]!r}")
    return level  # type: ignore[return-value]  # one of LevelName's, checked above


def at_least(text: str, least: int, priority: int | None = None) -> bool:
    """Whether the line is of level `least` or worse: by its syslog `priority` when it
    has one (a journal entry's), else by its first level word."""
    if priority is not None and 0 <= priority < len(_PRIORITY_LEVELS):
        return LEVELS[_PRIORITY_LEVELS[priority]] >= least
    level = level_of(text)
    return level is not None and level >= least
