"""What the gateway sends, parsed into the typed frames of `vigil.messages`.

Frames are looked up by their `type` among `SERVER_FRAMES`, so a frame the contract
gains later is parsed as soon as the library knows it; a type this client does not
know is skipped (None), never an error, so an older client keeps working.
"""

import json
from typing import Any

from pydantic import ValidationError

from vigil.messages import SERVER_FRAMES
from vigil.model import Message

_BY_TYPE: dict[str, type[Message]] = {
    frame.model_fields["type"].default: frame for frame in SERVER_FRAMES
}


class BadFrame(ValueError):
    """A frame of a known type that does not fit its model; `str()` says why."""


def parse_frame(raw: str | bytes | dict[str, Any]) -> Message | None:
    """The frame as its model; None for a type this client does not know."""
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError as exc:
        raise BadFrame(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadFrame("not a JSON object")
    model = _BY_TYPE.get(str(data.get("type")))
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadFrame(f"{data.get('type')}: {exc.errors()[0]['msg']}") from None
