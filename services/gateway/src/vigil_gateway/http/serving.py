"""Serving the gateway with uvicorn, and draining it on SIGTERM (seed 004).

`uvicorn_config` is the one way to serve it: HTTP through `HeadLimitedProtocol`, every
request head (a handshake's too) bounded in time and size (`vigil_gateway.http.http_protocol`),
and WebSockets through `WireProtocol`, whose wire the gateway writes frames to (see
`vigil_gateway.transport.wire`).

The first SIGTERM (or SIGINT) does not stop uvicorn at once: the gateway turns
not-ready, refuses new handshakes with 1012, and closes its sockets with 1012 in
batches spread over the drain window, so clients reconnect to other replicas without
a thundering herd. Then uvicorn shuts down as usual. A second signal stops at once.
"""

import asyncio
import logging
import resource
from types import FrameType
from typing import Any

import uvicorn

from vigil_gateway.http.http_protocol import http_protocol
from vigil_gateway.replica.gateway import Gateway
from vigil_gateway.settings import GatewaySettings
from vigil_gateway.transport.wire import wire_protocol

log = logging.getLogger(__name__)


def uvicorn_config(app: Any, settings: GatewaySettings, **options: Any) -> uvicorn.Config:
    """How uvicorn serves the gateway `app` (`options`: uvicorn's own, e.g. `log_level`)."""
    # uvicorn would trust forwarded headers from loopback (or $FORWARDED_ALLOW_IPS): only
    # the configured proxies are, and with none the headers are not read at all.
    trusted = [str(network) for network in settings.trusted_proxies]
    return uvicorn.Config(
        app,
        host=settings.bind,
        port=settings.port,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted,
        http=http_protocol(
            settings.request_head_timeout_s,
            settings.max_request_head_bytes,
            settings.max_pending_request_heads,
            settings.send_timeout_s,
            settings.send_buffer_bytes,
        ),
        ws=wire_protocol(settings.send_buffer_bytes),
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=settings.permessage_deflate,
        ws_ping_interval=None,  # the gateway's own heartbeat (seed 003) does this
        **options,
    )


def raise_file_limit(settings: GatewaySettings) -> None:
    """Let the process hold `max_connections` sockets: raise the soft limit of open
    files to the hard one (distributions often start at 1024), and say if that is short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        soft = hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    wanted = settings.max_connections + 100  # the bus, listeners, HTTP requests
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning(
            "open files are limited to %d: fewer than max_connections (%d) sockets fit; "
            "raise the limit (ulimit -n) or lower VIGIL_GATEWAY_MAX_CONNECTIONS",
            soft,
            settings.max_connections,
        )


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, gateway: Gateway, drain_window_s: float) -> None:
        super().__init__(config)
        self._gateway = gateway
        self._drain_window_s = drain_window_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining: asyncio.Future[None] | None = None

    async def startup(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)  # type: ignore[arg-type]

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining is not None or self._loop is None:
            super().handle_exit(sig, frame)  # a second signal, or not started: stop now
            return
        self._draining = asyncio.run_coroutine_threadsafe(self._drain_then_exit(), self._loop)  # type: ignore[assignment]

    async def _drain_then_exit(self) -> None:
        try:
            await self._gateway.drain(self._drain_window_s)
        finally:
            self.should_exit = True
