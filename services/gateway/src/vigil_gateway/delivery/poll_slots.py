"""How many polls one principal may have in progress at once on this gateway.

A poll reads a page (up to `max_poll_bytes`) from JetStream and holds it until the
client has taken the answer, which a client that stops reading never does (until
`send_timeout_s` cuts it off). So a principal (a user or an API key) has at most
`max_polls_per_user` polls in progress at once, from the request until its answer
is sent or the client is gone; one more is refused (`LIMIT_REACHED`, HTTP 429).
"""

from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi import Response
from starlette.types import Receive, Scope, Send

from vigil.access import Principal
from vigil.messages import ErrorCode
from vigil_gateway.errors import ChannelRefused


class PollSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: Counter[str] = Counter()

    def take(self, principal: Principal) -> Callable[[], None]:
        """A slot for `principal`, and the call that gives it back (once); or
        `ChannelRefused` (LIMIT_REACHED) when it holds `limit` already."""
        key = principal.key
        if self._held[key] >= self.limit:
            raise ChannelRefused(
                ErrorCode.LIMIT_REACHED,
                f"{principal.name} has {self.limit} polls in progress, the most at once;"
                " wait for their answers",
            )
        self._held[key] += 1
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            if not given_back:
                given_back = True
                self._held[key] -= 1
                if self._held[key] <= 0:
                    del self._held[key]

        return give_back


class SlotResponse(Response):
    """A response that gives its poll slot back once it is sent, or could not be."""

    def __init__(self, *args: Any, give_back: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._give_back = give_back

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._give_back()
