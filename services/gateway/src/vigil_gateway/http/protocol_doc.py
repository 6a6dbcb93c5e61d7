"""The client protocol as one page, rendered from the models, channels and endpoints.

`python -m vigil_gateway.http.protocol_doc > docs/protocol.md` writes it; a test fails when
the page and the code disagree, so the page stays true.
"""

import re
import typing
from collections.abc import Iterator
from typing import Any, get_args

from pydantic.fields import FieldInfo

from vigil.channels import CHANNELS
from vigil.messages import (
    CLOSE_MEANINGS,
    ERROR_MEANINGS,
    SERVER_FRAMES,
    ClientReply,
    ClientRequest,
)
from vigil.model import Message
from vigil.patterns import SYNTAX
from vigil_gateway.filters.patterns import MAX_MEM_BYTES, MAX_PATTERN_CHARS
from vigil_gateway.http.endpoints import BY_NAME, ENDPOINTS, Endpoint

INTRO = """# The Vigil client protocol

Generated from the code by `python -m vigil_gateway.http.protocol_doc`; a test keeps it
true. Every stream is reachable three ways with the same shapes and cursors: a
WebSocket, Server-Sent Events (`/sse/...`: each frame below is an event's `data:`, its
cursor the event's `id:`), and HTTP polling (`/api/poll/...`: a state snapshot with an
ETag, or `{"channel","messages","next_cursor"}` pages after `?since=`). Credentials:
`?token=`, `Authorization: Bearer`, the `bearer.<token>` WebSocket subprotocol beside
`vigil`, `?api_key=` or `X-API-Key`.
"""


def render() -> str:
    return "\n".join([INTRO, *_endpoints(), *_channels(), *_client(), *_server(), *_codes()])


def _endpoints() -> Iterator[str]:
    yield "## Endpoints\n"
    yield "| WebSocket | SSE | polling | streams |"
    yield "|---|---|---|---|"
    yield (
        f"| `{BY_NAME.websocket}` (choose channels) | `/sse/{BY_NAME.twin}` | "
        f"`/api/poll/{BY_NAME.twin}` | any channel by name (query: its parameters) |"
    )
    for endpoint in ENDPOINTS:
        yield (
            f"| `{endpoint.websocket}` | `/sse/{endpoint.twin}` | `/api/poll/{endpoint.twin}` | "
            f"{_channel_of(endpoint)} |"
        )
    yield ""
    yield (
        "Query options: `since` (resume after a cursor), `interval_s` (state: at most one "
        "update per that many seconds), `delta=1` (state: deltas, below), `limit` (polling "
        "page size).\n"
    )
    yield (
        "**Deltas** (state channels; `delta` in `subscribe`, `?delta=1` on a stream): the "
        "first frame of each state is the usual one with `key` (which state: one per host) "
        "and `seq`; then `delta` frames that say what changed in its `data` since `seq - 1`. "
        "Top-level fields change whole (`set`, `unset`); the channel's item list (`items`) "
        "by item `id`: `changed` fields, `added` items (last, or in place of a known id), "
        "`removed` ids, and `order` when items moved. A client that sees a `seq` it does not "
        "expect subscribes again for a snapshot; the gateway sends one itself wherever a "
        "socket skipped a value (slow socket, `interval_s`). `vigil.deltas.apply` applies "
        "them in Python.\n"
    )
    yield (
        "**Staleness** (sampled state: `host.metrics`, `docker.stats`, `k8s.metrics` and "
        "their views): when a state's newest value is older than 3 of its `interval_s` "
        "(its source stopped: a collector killed, a host down), its subscribers get "
        "`stale` with its `key` and `age_s`, and a client that subscribes later gets it "
        "right after the snapshot; the value stays the newest but is not live. Where the "
        "collector says its source is down (a Docker engine, on `docker.status`), that "
        "host's stats are marked at once, with a `reason`; when the gateway loses the bus "
        "(or it stops answering), every state is, with the `reason` "
        '"the message bus is unavailable". `fresh` comes before the next '
        "value. A poll answers stale states in `stale` "
        '(`[{"key","age_s","interval_s","reason"?}]`).\n'
    )


def _channel_of(endpoint: Endpoint) -> str:
    """The channel an endpoint streams, found by asking it with placeholder names."""
    path = dict.fromkeys(re.findall(r"{(\w+)}", endpoint.websocket), "x")
    name = endpoint.channel(path, {}).spec.name
    return "the `system` channel (seed 001)" if name == "system" else f"the `{name}` channel"


def _channels() -> Iterator[str]:
    yield "## Channels\n"
    yield "| channel | kind | parameters | least role | what |"
    yield "|---|---|---|---|---|"
    for spec in CHANNELS.values():
        params = ", ".join(
            f"`{name}`" + (" (required)" if name in spec.required else "") for name in spec.params
        )
        yield (
            f"| `{spec.name}` | {spec.kind} | {params or '—'} | {spec.role.name.lower()} | "
            f"{spec.description} |"
        )
    yield ""
    yield (
        "*state*: the newest value per subject (a slow client skips to the newest); "
        "*stream*: ordered, with cursors, a slow client gets `gap` with the count dropped; "
        "*journal*: ordered, with cursors, never dropped; *mixed*: several of these.\n"
    )
    yield (
        "**Log filters** (`grep`, `regex`, `level` on `docker.logs`, `k8s.logs` and "
        "`logs.merged`): `grep` keeps lines holding the text (any case), `level` lines of at "
        "least that level (trace, debug, info, warn, error, fatal), `regex` lines a regular "
        f"expression finds. Expressions run on RE2 ({SYNTAX}): time linear in the line, no "
        "backreferences, no lookahead or lookbehind, `\\z` for the end, repetitions up to "
        f"1000, at most {MAX_PATTERN_CHARS} characters and a program within "
        f"{MAX_MEM_BYTES // 1024} KiB; a pattern RE2 refuses gets `INVALID_MESSAGE` saying why. "
        "A user (or API key) holds a few distinct filtered views at once on a gateway "
        "(`VIGIL_GATEWAY_MAX_FILTERED_VIEWS`, 4), across sockets, SSE streams and polls; "
        "one more gets `LIMIT_REACHED` (HTTP 429).\n"
    )


def _client() -> Iterator[str]:
    yield "## What a client sends\n"
    yield (
        "Requests count against the rate limit and are answered with `remaining`; so does "
        "any message that draws an `error` (malformed, binary, an `answer` to no open "
        "question). Replies to a client that does not read them queue up to the outbox "
        "limit, then it is closed with 4008:\n"
    )
    for model in get_args(ClientRequest):
        yield from _model(model)
    yield "Replies (to an open question, to the heartbeat) do not count:\n"
    for model in get_args(ClientReply):
        yield from _model(model)


def _server() -> Iterator[str]:
    yield "## What the gateway sends\n"
    for model in SERVER_FRAMES:
        yield from _model(model)


def _model(model: type[Message]) -> Iterator[str]:
    tag = model.model_fields["type"]
    name = get_args(tag.annotation)[0] if get_args(tag.annotation) else tag.default
    yield f"### `{name}`\n"
    if model.__doc__ and model.__doc__ is not Message.__doc__:
        yield " ".join(model.__doc__.split()) + "\n"
    fields = [(name, field) for name, field in model.model_fields.items() if name != "type"]
    if fields:
        yield "| field | type | |"
        yield "|---|---|---|"
    for field_name, field in fields:
        yield f"| `{field.alias or field_name}` | {_type(field)} | {_note(field)} |"
    yield ""


def _type(field: FieldInfo) -> str:
    annotation: Any = field.annotation
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else None
    text = text or str(annotation).replace("typing.", "")
    return f"`{text.replace('|', 'or')}`"


def _note(field: FieldInfo) -> str:
    parts = ["required" if field.is_required() else "optional"]
    if field.description:
        parts.append(" ".join(field.description.split()))
    return "; ".join(parts).replace("|", "/")


def _codes() -> Iterator[str]:
    yield "## Error codes (`error` frames, HTTP `detail.code`)\n"
    yield "| code | meaning |"
    yield "|---|---|"
    for code, meaning in ERROR_MEANINGS.items():
        yield f"| `{code}` | {meaning} |"
    yield ""
    yield "## Close codes\n"
    yield "| code | meaning |"
    yield "|---|---|"
    for close, meaning in CLOSE_MEANINGS.items():
        yield f"| {int(close)} | {meaning} |"
    yield ""


if __name__ == "__main__":
    print(render(), end="")
