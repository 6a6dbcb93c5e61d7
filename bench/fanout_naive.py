"""The baseline of `bench/fanout.py`: the naive FastAPI hub the issue describes.

A core NATS subscription on every host-metrics subject forwards each message's JSON
as it is, `for ws in clients: await ws.send_text(m)`, to every socket that sent a
`subscribe`. No auth, no parsing, no per-client queue: the least a FastAPI hub can
do, served by uvicorn with the same defaults as the gateway.
"""

import argparse
import contextlib
import signal
from collections.abc import AsyncIterator

import nats
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from nats.aio.msg import Msg

from vigil.subjects import ANY, Subjects

SUBSCRIBED = '{"type":"subscribed","channel":"host.metrics","kind":"state"}'


def build_app(nats_url: str, prefix: str) -> FastAPI:
    clients: set[WebSocket] = set()

    async def forward(msg: Msg) -> None:
        text = msg.data.decode()
        for ws in list(clients):
            try:
                await ws.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                clients.discard(ws)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nc = await nats.connect(nats_url, name="bench-naive-hub")
        await nc.subscribe(
            Subjects(prefix).host_metrics(ANY),
            cb=forward,
            pending_msgs_limit=1_000_000,
            pending_bytes_limit=2**31,
        )
        try:
            yield
        finally:
            await nc.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws")
    async def hub(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                if '"subscribe"' in await websocket.receive_text():
                    clients.add(websocket)
                    await websocket.send_text(SUBSCRIBED)
        except WebSocketDisconnect:
            pass
        finally:
            clients.discard(websocket)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="naive FastAPI fan-out hub (see fanout.py)")
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-seconds", type=int, default=600, help="watchdog")
    args = parser.parse_args()
    signal.alarm(args.max_seconds)
    uvicorn.run(
        build_app(args.nats_url, args.prefix),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
