"""The dashboard's TypeScript view of the protocol (web/src/stream/protocol.ts) names
every frame the gateway sends, with every field as it goes on the wire."""

import re
from pathlib import Path

from vigil.messages.client import SERVER_FRAMES

PROTOCOL_TS = Path(__file__).resolve().parents[2] / "web" / "src" / "stream" / "protocol.ts"


def declared_frames(source: str) -> dict[str, set[str]]:
    """Each `type: "..."` member of the ServerFrame union (or its interface) and the
    field names declared beside it."""
    frames: dict[str, set[str]] = {}
    for body in re.findall(r"\{([^{}]*type: [^{}]*)\}", source):
        types = re.search(r"type: ([^;]+);", body)
        assert types is not None
        fields = set(re.findall(r"(\w+)\??:", body)) - {"type"}
        for name in re.findall(r'"(\w+)"', types.group(1)):
            frames[name] = fields
    return frames


def test_every_server_frame_and_field_is_declared_for_the_dashboard() -> None:
    frames_part = PROTOCOL_TS.read_text().split("export type ChannelEvent")[0]
    declared = declared_frames(frames_part)
    sent = {}
    for model in SERVER_FRAMES:
        fields = {
            field.serialization_alias or field.alias or name
            for name, field in model.model_fields.items()
        }
        sent[model.model_fields["type"].default] = fields - {"type"}
    assert set(declared) == set(sent)
    for frame, fields in sent.items():
        assert fields <= declared[frame], f"{frame}: {sorted(fields - declared[frame])} missing"
