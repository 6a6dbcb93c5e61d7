"""Make `public/favicon.ico` from `src/favicon.svg` (the page names the SVG; the .ico is
for clients that ask for /favicon.ico whatever the page says).

Chromium draws the SVG at 16, 32 and 48 pixels; the PNGs go into one ICO file as they
are (ICO holds PNG images since Windows Vista; every browser reads them). Run it from
`web/` with the workspace's Python after changing the SVG:

    ../.venv/bin/python scripts/favicon.py
"""

import asyncio
import struct
from pathlib import Path

from playwright.async_api import async_playwright

WEB = Path(__file__).resolve().parent.parent
SIZES = (16, 32, 48)


async def draw(svg: str, size: int) -> bytes:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        try:
            page = await browser.new_page(viewport={"width": size, "height": size})
            html = f"<body style='margin:0'><img src='data:image/svg+xml,{svg}' width={size}>"
            await page.set_content(html.replace("#", "%23"))
            return await page.screenshot(omit_background=True)
        finally:
            await browser.close()


def ico(pngs: dict[int, bytes]) -> bytes:
    """An ICO file of PNG images: a header, a directory entry each, then the images."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = len(header) + 16 * len(pngs)
    entries, images = b"", b""
    for size, png in pngs.items():
        side = 0 if size >= 256 else size  # 0 means 256
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset)
        images += png
        offset += len(png)
    return header + entries + images


async def main() -> None:
    svg = " ".join((WEB / "src" / "favicon.svg").read_text().split())
    pngs = {size: await draw(svg, size) for size in SIZES}
    (WEB / "public" / "favicon.ico").write_bytes(ico(pngs))


if __name__ == "__main__":
    asyncio.run(main())
