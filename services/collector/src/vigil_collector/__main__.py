"""`python -m vigil_collector`: read settings from the environment and run."""

import contextlib
import ctypes
import logging
import sys
from typing import TYPE_CHECKING

from vigil.lifecycle import run_until_signalled
from vigil.probe import probed
from vigil_collector.settings import CollectorSettings

if TYPE_CHECKING:
    from vigil_collector.app import Collector


def main() -> None:
    _few_malloc_arenas()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = CollectorSettings()
    logging.getLogger(__name__).info(
        "collecting host %s every %ss", settings.host, settings.interval_s
    )
    app = build(settings)
    run_until_signalled(probed(app.run(), settings, "collector", lambda: app.healthy))


def build(settings: CollectorSettings) -> "Collector":
    """The collector of `settings`, its modules imported only once the settings say
    which NATS transport it needs."""
    if not any(url.startswith(("ws://", "wss://")) for url in settings.nats_servers):
        _import_nats_without_aiohttp()
    from vigil_collector.app import build_app  # after the above: it imports nats

    return build_app(settings)


def _import_nats_without_aiohttp() -> None:
    """nats-py imports aiohttp, when it is installed, for its WebSocket transport only
    (`ws://` servers), and the kubernetes client installs it for an async API the
    collector does not use: ~9 MB of RSS for nothing. Hidden while nats-py is imported,
    so it keeps its TCP transport alone; importable again afterwards."""
    if "nats" in sys.modules:
        return
    sys.modules["aiohttp"] = None  # type: ignore[assignment]  # makes `import aiohttp` fail
    try:
        import nats.aio.transport  # noqa: F401
    finally:
        del sys.modules["aiohttp"]


_M_ARENA_MAX = -8  # glibc's mallopt parameter


def _few_malloc_arenas() -> None:
    """glibc gives each thread that allocates an arena of its own (up to 8 per core), and
    the collector's threads (the Docker events reader, `asyncio.to_thread`) keep each
    one's pages: two arenas hold ~3 MB less RSS at 500 containers (`bench/collector_rss.py`),
    for no CPU measurable. Before any thread starts; elsewhere than glibc, nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 2)


if __name__ == "__main__":
    main()
