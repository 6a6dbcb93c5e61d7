"""How many filtered log views one principal may hold at once on this gateway.

A filtered view (a log channel with `grep`, `regex` or `level`) costs the gateway work
on every line of its source, once per distinct view: clients of the same view share
its feed and each line is tested once. So a principal (a user or an API key) may hold
at most `max_filtered_views` distinct ones at once, counted across its sockets, its
SSE streams and its polls in progress; one more is refused (`LIMIT_REACHED`) until it
leaves one. Holding the same view twice (two tabs) counts once.
"""

import contextlib
from collections import Counter
from collections.abc import Iterator

from vigil.access import Principal
from vigil.channels import ChannelRef
from vigil.messages import ErrorCode
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.filters.logs import LineFilter


class FilterQuota:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, Counter[str]] = {}  # principal key -> channel key -> holders

    def check(self, principal: Principal, channel: ChannelRef) -> None:
        """`ChannelRefused` (LIMIT_REACHED) if `channel` filters lines and would be one
        distinct view too many for `principal`."""
        held = self._held.get(principal.key, Counter())
        if not LineFilter.asks(dict(channel.params)) or channel.key in held:
            return
        if len(held) >= self.limit:
            raise ChannelRefused(
                ErrorCode.LIMIT_REACHED,
                f"{principal.name} holds {len(held)} filtered log views (grep, regex, level),"
                " the most allowed at once; leave one first",
            )

    def take(self, principal: Principal, channel: ChannelRef) -> None:
        """Count `channel` for `principal` if it filters lines (`check` first)."""
        self.check(principal, channel)
        if LineFilter.asks(dict(channel.params)):
            self._held.setdefault(principal.key, Counter())[channel.key] += 1

    def give_back(self, principal: Principal, channel: ChannelRef) -> None:
        held = self._held.get(principal.key)
        if held is None or channel.key not in held:
            return
        held[channel.key] -= 1
        if held[channel.key] <= 0:
            del held[channel.key]
        if not held:
            del self._held[principal.key]

    @contextlib.contextmanager
    def holding(self, principal: Principal, channel: ChannelRef) -> Iterator[None]:
        """`channel` counted while the block runs (a poll)."""
        self.take(principal, channel)
        try:
            yield
        finally:
            self.give_back(principal, channel)

    def held_by(self, principal: Principal) -> int:
        return len(self._held.get(principal.key, ()))
