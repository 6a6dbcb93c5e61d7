"""Channels that Apprise speaks to (Slack, Discord, ntfy, Telegram, email and ~100 more):
its URLs checked, masked and sent to.

Apprise is synchronous: every call runs in a worker thread (`asyncio.to_thread`), bounded
by the send timeout. What Apprise logs while it works is caught per thread (its logger
is shared by every send in flight), so a failure's reason is that send's own, scrubbed
of the URL's secrets before it is kept or shown. Apprise's own log records stop at this
handler: they may name a recipient or echo a server's answer.
"""

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import apprise

from vigil_notifier.errors import DeliveryFailed, InvalidChannel
from vigil_notifier.masking import HIDDEN, mask_webhook_url, scrub, secret_pieces

_MAX_REASON_CHARS = 500


class _PerThread(logging.Handler):
    """Keeps each worker thread's Apprise log lines for that thread's send."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        lines: list[str] | None = getattr(self._local, "lines", None)
        if lines is not None and record.levelno >= logging.WARNING:
            lines.append(record.getMessage())

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        lines: list[str] = []
        self._local.lines = lines
        try:
            yield lines
        finally:
            self._local.lines = None


_CAPTURE = _PerThread()
_apprise_log = logging.getLogger("apprise")
_apprise_log.addHandler(_CAPTURE)
_apprise_log.setLevel(logging.INFO)
_apprise_log.propagate = False


def _plugin(url: str) -> apprise.NotifyBase | None:
    return apprise.Apprise.instantiate(url)


def warm_up() -> None:
    """Load Apprise's plugins (about a second, once) before the first send waits on it."""
    _plugin("json://localhost")


def check_url(url: str) -> None:
    """`InvalidChannel` unless Apprise knows the URL's service and can use it."""
    with _CAPTURE.capture() as lines:
        try:
            plugin = _plugin(url)
        except Exception:  # Apprise's parsers on an admin's text: whatever they raise, no
            plugin = None
    if plugin is None:
        why = scrub("; ".join(lines), secret_pieces(url))[:_MAX_REASON_CHARS]
        scheme = url.partition("://")[0] if "://" in url else ""
        reason = f"Apprise cannot use this URL ({scheme or 'no'} scheme)"
        raise InvalidChannel("target.url", f"{reason}: {why}" if why else reason)


# Apprise's plain HTTP targets: their path may be anything, a token included, which
# Apprise's privacy mode does not know to hide. They are masked as webhooks are.
_GENERIC = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})


def mask(url: str) -> str:
    """The URL as Apprise shows it with privacy on (tokens and passwords elided); a plain
    HTTP target's as a webhook's (scheme, host and port)."""
    scheme = url.partition("://")[0].lower()
    if scheme in _GENERIC:
        return mask_webhook_url(url)
    try:
        plugin = _plugin(url)
        return HIDDEN if plugin is None else str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
    except Exception:  # never the URL itself, whatever Apprise makes of it
        return HIDDEN


def _send(url: str, title: str, body: str) -> None:
    pieces = secret_pieces(url)
    with _CAPTURE.capture() as lines:
        plugin = _plugin(url)
        delivered = plugin is not None and plugin.notify(body=body, title=title)
    if not delivered:
        why = scrub("; ".join(lines) or "no reason given", pieces)[:_MAX_REASON_CHARS]
        raise DeliveryFailed(f"{url.partition('://')[0]}: {why}")


async def send(url: str, title: str, body: str, timeout_s: float) -> None:
    """Send through Apprise; `DeliveryFailed` (masked) if it did not go out in time."""
    scheme = url.partition("://")[0]
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.to_thread(_send, url, title, body)
    except TimeoutError:
        raise DeliveryFailed(f"{scheme}: no answer in {timeout_s:g} s") from None
    except DeliveryFailed:
        raise
    except Exception as exc:  # a plugin's own bug is this channel's failure, retried
        raise DeliveryFailed(f"{scheme}: Apprise failed ({type(exc).__name__})") from None
