"""The health and metrics endpoint of a service that has no HTTP of its own.

The collector, auth and deployer talk only over NATS; for a container healthcheck and
for Prometheus each opens this small endpoint when `VIGIL_<SERVICE>_PROBE_PORT` is set:
`GET /healthz` answers 200 while the service is ready (connected, serving) and 503
otherwise; `GET /metrics` gives the process figures and readiness in Prometheus text
(`service_collectors`, which the gateway's own `/metrics` carries too).
It reads one request line and the headers (bounded in size and time), answers, closes.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from pydantic import Field

from vigil.settings import VigilSettings

log = logging.getLogger(__name__)

_READ_TIMEOUT_S = 5.0
_MAX_LINE_BYTES = 8192
_MAX_HEADERS = 64


class ProbeSettings(VigilSettings):
    """The settings of a service that can serve the probe (under its own env prefix)."""

    probe_port: int | None = Field(
        default=None, ge=0, le=65535, description="Serve /healthz and /metrics here; off unset."
    )
    probe_bind: str = Field(default="127.0.0.1", description="Address the probe listens on.")


class _Readiness(Collector):
    def __init__(self, service: str, ready: Callable[[], bool]) -> None:
        self._service = service
        self._ready = ready

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "vigil_service_ready",
            "1 while the service is connected and serving.",
            labels=["service"],
        )
        family.add_metric([self._service], 1.0 if self._ready() else 0.0)
        yield family


def service_collectors(service: str, ready: Callable[[], bool]) -> list[Collector]:
    """What every service's metrics carry, whoever serves them: the process's figures
    (`process_*`: CPU, resident memory, open files) and `vigil_service_ready`."""
    return [ProcessCollector(registry=None), _Readiness(service, ready)]


class Probe:
    """`async with Probe(...)`: the endpoint lives for the block (none when the port is unset)."""

    def __init__(self, settings: ProbeSettings, service: str, ready: Callable[[], bool]) -> None:
        self._settings = settings
        self._ready = ready
        self._registry = CollectorRegistry()
        for collector in service_collectors(service, ready):
            self._registry.register(collector)
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the probe is not serving")
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> "Probe":
        if self._settings.probe_port is not None:
            self._server = await asyncio.start_server(
                self._answer,
                self._settings.probe_bind,
                self._settings.probe_port,
                limit=_MAX_LINE_BYTES,
            )
            log.info("probe on %s:%s (/healthz, /metrics)", self._settings.probe_bind, self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT_S):
                path = await _request_path(reader)
            status, content_type, body = self._response(path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (
            TimeoutError,
            ValueError,
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass  # a bad or slow client gets nothing; the probe stays up
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _response(self, path: str) -> tuple[str, str, bytes]:
        if path == "/healthz":
            if self._ready():
                return "200 OK", "text/plain", b"ok\n"
            return "503 Service Unavailable", "text/plain", b"not ready\n"
        if path == "/metrics":
            return "200 OK", "text/plain; version=0.0.4", generate_latest(self._registry)
        return "404 Not Found", "text/plain", b"not found\n"


async def _request_path(reader: asyncio.StreamReader) -> str:
    """The path of a `GET` request, its headers read and ignored; `ValueError` if malformed."""
    method, target, _version = (await reader.readuntil(b"\n")).decode("latin-1").split()
    if method != "GET":
        raise ValueError(f"method {method}")
    for _ in range(_MAX_HEADERS):
        if (await reader.readuntil(b"\n")).strip() == b"":
            return target.split("?", 1)[0]
    raise ValueError("too many headers")


async def probed(
    main: Awaitable[None], settings: ProbeSettings, service: str, ready: Callable[[], bool]
) -> None:
    """Run `main` with the service's probe open beside it."""
    async with Probe(settings, service, ready):
        await main
