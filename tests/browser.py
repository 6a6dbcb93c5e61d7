"""Real parts for the dashboard's browser tests: Debian's Chromium driven by
Playwright, the built dashboard, and a small HTTP proxy in front of the gateway.

The proxy is what a browser meets in the field: it can refuse WebSocket upgrades (as
some corporate proxies do) and can be pointed at another gateway, so a test can
restart the gateway behind a fixed address. While no gateway answers it waits briefly
for one, as a load balancer holding a connection during a rolling restart would.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright, expect

ROOT = Path(__file__).resolve().parent.parent
WEB_DIST = ROOT / "web" / "dist"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
UPSTREAM_WAIT_S = 10.0
FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def web_dist() -> Path:
    assert (WEB_DIST / "index.html").is_file(), "the dashboard is not built: run `make web`"
    return WEB_DIST


def chromium_binary() -> str:
    assert Path(CHROMIUM).exists(), "chromium not found: apt-get install chromium"
    return CHROMIUM


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium from the machine's package (never a downloaded build)."""
    binary = chromium_binary()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=binary, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(
    page: Page, address: str, username: str, password: str, wait_ms: float = 30_000
) -> None:
    """Log in through the login form; return once the connection indicator says live."""
    await page.goto(f"http://{address}/")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-status", "live", timeout=wait_ms
    )


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


def _one_request(head: bytes) -> bytes:
    """The request head with `Connection: close`, so every request on the proxy comes on
    a connection of its own and is looked at (an upgrade keeps its headers)."""
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    kept = [line for line in lines if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n"


class Proxy:
    """An HTTP proxy on 127.0.0.1 in front of the gateway at `upstream` (host:port)."""

    def __init__(self, upstream: str | None = None) -> None:
        self.upstream = upstream
        self.refuse_upgrades = False
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        # Closing every connection ends each handler by itself (a handler cancelled
        # from outside would be logged as an error by asyncio's server).
        for writer in list(self._writers):
            await self._close(writer)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)
            await self._close(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        upgrade = b"\r\nupgrade: websocket" in head.lower()
        if upgrade and self.refuse_upgrades:
            self.refused += 1
            writer.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            return
        upstream = await self._connect()
        if upstream is None:
            writer.write(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            return
        up_reader, up_writer = upstream
        self._writers.add(up_writer)
        try:
            up_writer.write(head if upgrade else _one_request(head))
            to_upstream = asyncio.create_task(_pipe(reader, up_writer))
            try:
                await _pipe(up_reader, writer)
            finally:
                to_upstream.cancel()
                await asyncio.gather(to_upstream, return_exceptions=True)
        finally:
            await self._close(up_writer)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        deadline = time.monotonic() + UPSTREAM_WAIT_S
        while time.monotonic() < deadline:
            if self.upstream is not None:
                host, port = self.upstream.rsplit(":", 1)
                with contextlib.suppress(ConnectionError, OSError):
                    return await asyncio.open_connection(host, int(port))
            await asyncio.sleep(0.1)
        return None

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        self._writers.discard(writer)
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def proxy(upstream: str | None = None) -> AsyncIterator[Proxy]:
    server = Proxy(upstream)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
