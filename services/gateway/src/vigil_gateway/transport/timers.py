"""The two timers that watch an open connection, with no task of their own.

- `Heartbeat` (seed 003): a `ping` every interval; a ping without a `pong` within the
  pong timeout is a miss, and too many misses in a row close the socket with 4003.
- `Expiry`: the socket closes with 4001 when its credentials expire, unless a
  `reauth` moved that on (`watch` again with the new principal).
"""

import asyncio
from collections.abc import Callable

from vigil.access import Principal
from vigil.messages import CloseCode, ServerPing, utc_now
from vigil_gateway.settings import GatewaySettings

Send = Callable[[str], None]
Close = Callable[[CloseCode, str], None]


class Heartbeat:
    def __init__(self, settings: GatewaySettings, send: Send, close: Close) -> None:
        self._settings = settings
        self._send = send
        self._close = close
        self._timer: asyncio.TimerHandle | None = None  # the next ping, or the pong deadline
        self._awaiting_pong = False
        self._misses = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._settings.heartbeat_interval_s, self._ping)

    def pong(self) -> None:
        if self._awaiting_pong and self._timer is not None:
            self._timer.cancel()
            self._awaiting_pong = False
            self._misses = 0
            self.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _ping(self) -> None:
        self._send(ServerPing(time=utc_now()).model_dump_json())
        self._awaiting_pong = True
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._settings.pong_timeout_s, self._missed)

    def _missed(self) -> None:
        self._awaiting_pong = False
        self._misses += 1
        if self._misses >= self._settings.max_missed_pongs:
            self._close(CloseCode.HEARTBEAT_TIMEOUT, f"no pong to {self._misses} pings in a row")
            return
        self.start()


class Expiry:
    def __init__(self, close: Close) -> None:
        self._close = close
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, principal: Principal) -> None:
        """Close when `principal`'s credentials expire (instead of any earlier watch)."""
        self.stop()
        expires_at = principal.expires_at
        if expires_at is None:
            return
        left = (expires_at - utc_now()).total_seconds()
        if left <= 0:
            self._close(CloseCode.INVALID_CREDENTIALS, "the token has expired")
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(left, self.watch, principal)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
