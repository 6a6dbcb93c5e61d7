"""The web dashboard (`web/`): its built files served at `/`.

The dashboard is a single-page app with hash routes, so two things are served: the
page itself at `/` (never cached, so a new build is picked up on reload) and its
content-hashed assets under `/assets/` (cached for good), the page's icon among them;
and `/favicon.ico`, which browsers and bookmarks ask for whatever the page names. They
are registered after every API, SSE and WebSocket route, so those always win.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

INDEX = "index.html"
ASSETS = "assets"
FAVICON = "favicon.ico"


def serve_dashboard(app: FastAPI, folder: Path) -> None:
    """Serve the dashboard built into `folder` (`npm run build` in `web/`)."""
    index = folder / INDEX

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        """The dashboard's page."""
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    favicon = folder / FAVICON
    if favicon.is_file():  # a build of before it had one: a 404, as before

        @app.get("/favicon.ico", include_in_schema=False)
        async def icon() -> FileResponse:
            return FileResponse(favicon, headers={"Cache-Control": "public, max-age=86400"})

    app.mount(
        "/assets",
        StaticFiles(directory=folder / ASSETS),
        name="dashboard-assets",
    )
