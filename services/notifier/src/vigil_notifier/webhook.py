"""Generic webhooks: a JSON body from the channel's template, signed with HMAC-SHA256.

The receiver checks `X-Vigil-Signature: sha256=<hex>` against the body with the secret
it shares with the channel, and may drop a repeat by `X-Vigil-Delivery` (the same on
every attempt of one transition to one channel). Redirects are not followed: a signed
body goes only where the admin said.
"""

import hashlib
import hmac
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from vigil.messages import DELIVERY_HEADER, SIGNATURE_HEADER, AlertChanged, WebhookTarget
from vigil_notifier import template
from vigil_notifier.errors import DeliveryFailed, InvalidChannel
from vigil_notifier.masking import mask_webhook_url, scrub, secret_pieces


def check(target: WebhookTarget) -> None:
    """`InvalidChannel` unless the URL is http(s) with a host and the template parses."""
    if any(char.isspace() or not char.isprintable() for char in target.url):
        raise InvalidChannel("target.url", "a URL has no whitespace or control characters")
    try:
        parts = urlsplit(target.url)
        parts.port  # noqa: B018  (raises on a bad port)
        URL(target.url)  # as the HTTP client will read it
    except ValueError as exc:
        reason = scrub(str(exc), secret_pieces(target.url))
        raise InvalidChannel("target.url", f"not a URL: {reason}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidChannel("target.url", "a webhook URL is http:// or https://")
    if not parts.hostname:
        raise InvalidChannel("target.url", "a webhook URL names a host")
    if target.template is not None:
        template.parse(target.template)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def send(
    session: aiohttp.ClientSession,
    target: WebhookTarget,
    alert: AlertChanged,
    channel: str,
    delivery: str,
    timeout_s: float,
) -> None:
    """POST the signed payload; `DeliveryFailed` (masked) unless it answers 2xx in time."""
    body = template.render(target.template, alert, channel)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(target.secret, body),
        DELIVERY_HEADER: delivery,
    }
    where = mask_webhook_url(target.url)
    try:
        async with session.post(
            target.url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            status = response.status
    except TimeoutError:
        raise DeliveryFailed(f"POST {where}: no answer in {timeout_s:g} s") from None
    except (aiohttp.ClientError, ValueError) as exc:
        reason = scrub(str(exc), secret_pieces(target.url, target.secret))[:200]
        raise DeliveryFailed(f"POST {where}: {type(exc).__name__} {reason}".rstrip()) from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"POST {where} answered {status}")
