"""docs/protocol.md is the protocol the code speaks."""

from pathlib import Path

from vigil_gateway.http.protocol_doc import render

PAGE = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_the_protocol_page_matches_the_code() -> None:
    assert PAGE.read_text() == render(), (
        "docs/protocol.md is stale: run `uv run --all-packages python -m "
        "vigil_gateway.http.protocol_doc > docs/protocol.md`"
    )
