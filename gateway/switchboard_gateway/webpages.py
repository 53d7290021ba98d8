"""GET /widget.js, the click-to-call bundle, and /demo/{namespace}/{name}, a page embedding it."""

from __future__ import annotations

import hashlib
import html
import logging
from pathlib import Path

from aiohttp import web

from switchboard_gateway.keys import CONFIG

logger = logging.getLogger("switchboard.gateway")

WIDGET = web.AppKey("widget", bytes)
WIDGET_ETAG = web.AppKey("widget_etag", str)

# The page's only script is the widget; the embed key (when the agent needs one) comes from the
# URL fragment, which the browser never sends to any server, into the widget's data attribute.
DEMO_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Call {title}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem;
  color: #1b1f24; }}
pre {{ background: #f6f8fa; padding: 0.75rem; overflow-x: auto; border-radius: 0.5rem; }}
</style>
</head>
<body>
<h1>Call {title}</h1>
<p>A live call with the VoiceAgent <code>{key}</code> from this browser (microphone needed).</p>
<div id="call"></div>
<h2>Embed it</h2>
<pre>{snippet}</pre>
{key_note}
<script>
(function () {{
  var key = new URLSearchParams(location.hash.slice(1)).get("key");
  var s = document.createElement("script");
  s.src = {widget_src};
  s.dataset.voiceagent = {voiceagent};
  s.dataset.target = "#call";
  if (key) s.dataset.embedKey = key;
  document.body.appendChild(s);
}})();
</script>
</body>
</html>
"""


def _js_string(value: str) -> str:
    """A JavaScript string literal that is also safe inside a <script> element."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\u003c")
    return f'"{escaped}"'


async def widget(request: web.Request) -> web.Response:
    body = request.app[WIDGET]
    if not body:
        return web.Response(status=404, text="the widget bundle is not installed on this gateway\n")
    etag = request.app[WIDGET_ETAG]
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="text/javascript", charset="utf-8", headers=headers)


async def demo(request: web.Request) -> web.Response:
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    route = request.app[CONFIG].route(namespace, name)
    if route is None or route.web is None or not route.web.demo:
        raise web.HTTPNotFound(text="no demo page for this agent\n")
    base = request.app[CONFIG].public_url.rstrip("/")
    key = route.key
    snippet = f'<script src="{base}/widget.js" data-voiceagent="{key}"></script>'
    key_note = ""
    if route.web.embed_key_sha256 is not None:
        key_note = (
            "<p>This agent needs an embed key: open this page as "
            "<code>…#key=&lt;embed key&gt;</code> (the fragment never leaves the browser).</p>"
        )
    page = DEMO_PAGE.format(
        title=html.escape(name),
        key=html.escape(key),
        snippet=html.escape(snippet),
        key_note=key_note,
        widget_src=_js_string(f"{base}/widget.js"),
        voiceagent=_js_string(key),
    )
    # the page runs only its own inline script and the widget from this gateway; it talks to
    # the gateway and to LiveKit (whose URL the session names, so any ws/http origin)
    csp = (
        f"default-src 'none'; script-src {base} 'unsafe-inline'; style-src 'unsafe-inline';"
        " connect-src ws: wss: http: https:; media-src blob: mediastream:;"
        " frame-ancestors 'none'"
    )
    return web.Response(
        text=page, content_type="text/html", headers={"Content-Security-Policy": csp}
    )


def add_routes(app: web.Application) -> None:
    """Serve the widget bundle (read once at start) and the demo pages."""
    path = app[CONFIG].widget_path
    body = b""
    if path is not None:
        try:
            body = Path(path).read_bytes()
        except OSError as err:
            logger.warning("widget bundle %s unreadable: %s", path, type(err).__name__)
    app[WIDGET] = body
    app[WIDGET_ETAG] = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    app.router.add_get("/widget.js", widget)
    app.router.add_get("/demo/{namespace}/{name}", demo)
