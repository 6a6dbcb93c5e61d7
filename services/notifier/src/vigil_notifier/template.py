"""Webhook payloads: a JSON template with `{{field}}` placeholders, checked once when the
channel is made and rendered for each transition.

A string that is only `{{field}}` takes the field's JSON value (a number stays a
number); elsewhere in a string a placeholder becomes the field's text. The template is
parsed as strict JSON (no NaN or Infinity) and bounded in size and depth, so rendering
costs at most a walk of a small tree.
"""

import json
import re
from typing import Any

from vigil.messages import AlertChanged
from vigil_notifier.errors import InvalidChannel

FIELDS = (
    "id",
    "state",
    "source",
    "host",
    "metric",
    "value",
    "threshold",
    "time",
    "message",
    "cluster",
    "culprits",
    "log_lines",
    "channel",
)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
_MAX_DEPTH = 16


def parse(template: str) -> Any:
    """The template as JSON, or `InvalidChannel` naming what is wrong with it."""

    def refuse_constant(name: str) -> Any:
        raise InvalidChannel("target.template", f"{name} is not JSON")

    try:
        document = json.loads(template, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidChannel(
            "target.template", f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:  # the parser's own limit, far past ours
        raise InvalidChannel("target.template", f"nested deeper than {_MAX_DEPTH}") from None
    _check(document, 0)
    return document


def _check(node: Any, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise InvalidChannel("target.template", f"nested deeper than {_MAX_DEPTH}")
    if isinstance(node, dict):
        for key, value in node.items():
            _check(key, depth + 1)
            _check(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            _check(value, depth + 1)
    elif isinstance(node, str):
        for name in _PLACEHOLDER.findall(node):
            if name not in FIELDS:
                raise InvalidChannel(
                    "target.template",
                    f"unknown field {{{{{name}}}}} (known: {', '.join(FIELDS)})",
                )


def fields(alert: AlertChanged, channel: str) -> dict[str, Any]:
    values: dict[str, Any] = alert.model_dump(mode="json")
    values["channel"] = channel
    return {name: values.get(name) for name in FIELDS}


def render(template: str | None, alert: AlertChanged, channel: str) -> bytes:
    """The payload of `alert` for the channel named `channel`."""
    values = fields(alert, channel)
    if template is None:
        return json.dumps({"channel": channel, "alert": alert.model_dump(mode="json")}).encode()
    return json.dumps(_fill(parse(template), values)).encode()


def _fill(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {_fill(key, values): _fill(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(value, values) for value in node]
    if isinstance(node, str):
        whole = _PLACEHOLDER.fullmatch(node)
        if whole:
            return values[whole.group(1)]
        return _PLACEHOLDER.sub(lambda match: _text(values[match.group(1)]), node)
    return node


def _text(value: Any) -> str:
    return "" if value is None else str(value)
