"""The gateway serves a built dashboard at `/` when `web_dir` names one; its own routes win."""

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from tests.support import serve_gateway
from vigil_gateway.settings import GatewaySettings


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Vigil</title>")
    (tmp_path / "assets" / "app-1234.js").write_text("console.log('vigil')")
    (tmp_path / "favicon.ico").write_bytes(b"\x00\x00\x01\x00icon")
    return tmp_path


async def test_the_dashboard_is_served_at_the_root_beside_the_api(
    gateway_settings: GatewaySettings, built: Path
) -> None:
    settings = GatewaySettings(**gateway_settings.model_dump() | {"web_dir": built})
    async with serve_gateway(settings) as address, httpx.AsyncClient() as http:
        page = await http.get(f"http://{address}/")
        asset = await http.get(f"http://{address}/assets/app-1234.js")
        health = await http.get(f"http://{address}/healthz")
        api = await http.get(f"http://{address}/api/auth/me")
        missing = await http.get(f"http://{address}/assets/nope.js")
        icon = await http.get(f"http://{address}/favicon.ico")
    assert (page.status_code, page.headers["cache-control"]) == (200, "no-cache")
    assert "<title>Vigil</title>" in page.text
    assert (asset.status_code, asset.text) == (200, "console.log('vigil')")
    assert health.json() == {"status": "ok"}
    assert api.status_code == 401  # the API, not the page
    assert missing.status_code == 404
    assert (icon.status_code, icon.content) == (200, b"\x00\x00\x01\x00icon")
    assert icon.headers["content-type"] in {"image/vnd.microsoft.icon", "image/x-icon"}


async def test_without_web_dir_there_is_no_dashboard(gateway_settings: GatewaySettings) -> None:
    async with serve_gateway(gateway_settings) as address, httpx.AsyncClient() as http:
        assert (await http.get(f"http://{address}/")).status_code == 404


def test_a_web_dir_without_a_build_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no built dashboard"):
        GatewaySettings(web_dir=tmp_path)
