"""A web site of the tests' own on a loopback origin: pages by name and a few static files.

Chromium treats a loopback page as a secure context (getUserMedia works) and lets it reach
other loopback services, so a site here stands in for a customer's site or a softphone app.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from devstack.procs import free_port


class LocalSite:
    def __init__(self, files: dict[str, Path] | None = None) -> None:
        self.pages: dict[str, str] = {}
        self.files = dict(files or {})
        self.runner: web.AppRunner | None = None
        self.origin = ""

    async def start(self) -> LocalSite:
        app = web.Application()
        app.router.add_get("/{name}", self._serve)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.origin = f"http://127.0.0.1:{port}"
        return self

    def page(self, html: str) -> str:
        """Publish `html`; returns its URL."""
        name = f"page{len(self.pages)}"
        self.pages[name] = html
        return f"{self.origin}/{name}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name in self.files:
            return web.FileResponse(self.files[name])
        if name in self.pages:
            return web.Response(text=self.pages[name], content_type="text/html")
        raise web.HTTPNotFound()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
