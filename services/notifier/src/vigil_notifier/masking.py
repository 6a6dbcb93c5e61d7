"""Secrets never shown back: URLs masked for views and logs, errors scrubbed.

An Apprise URL is masked by Apprise itself (`url(privacy=True)`: each service's plugin
knows which parts are tokens); a webhook URL keeps its scheme, host and port only, since
its path and query often hold the token (Slack's, Discord's, a Teams workflow's).
"""

from urllib.parse import urlsplit

HIDDEN = "***"
_SHORTEST = 4  # shorter pieces are not scrubbed from text (they would hit everything)


def mask_webhook_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return HIDDEN
    hidden = f"/{HIDDEN}" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{host}{port}{hidden}"


def secret_pieces(url: str, *more: str) -> list[str]:
    """The parts of `url` (and `more`) that must not appear in a message: the URL, its
    user info, path segments and query values."""
    pieces = [url, *more]
    try:
        parts = urlsplit(url)
    except ValueError:
        return [piece for piece in pieces if piece]
    pieces += [parts.username or "", parts.password or "", parts.path, parts.query]
    pieces += parts.path.split("/")
    pieces += [pair.partition("=")[2] for pair in parts.query.split("&")]
    return [piece for piece in pieces if len(piece) >= _SHORTEST]


def scrub(text: str, pieces: list[str]) -> str:
    """`text` with every secret piece replaced by `***` (the longest first)."""
    for piece in sorted(set(pieces), key=len, reverse=True):
        text = text.replace(piece, HIDDEN)
    return text
