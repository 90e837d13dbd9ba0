"""The API reference: `GET /docs` (Redoc over /openapi.json) and its one script, unauthenticated.

Redoc is vendored from the npm registry at a pinned version (scripts/vendor-redoc.sh) and served from
the package (api/static/vendor/redoc): no CDN, no build step. The page holds no inline script: the
standalone bundle renders the `<redoc spec-url>` element itself. Without JavaScript, the page's
`<noscript>` table lists every operation. The Content-Security-Policy allows the page's own script,
Redoc's injected styles (styled-components writes <style> elements, hence 'unsafe-inline' for styles
only), its search worker (a blob: URL) and the fetch of /openapi.json; nothing else.
"""

from __future__ import annotations

from quart import Blueprint, Response, current_app, render_template, url_for
from quart_schema import security_scheme_blueprint

from ctrip_core.api.pages import asset, asset_response, secure_pages

blueprint = Blueprint("reference", __name__)
security_scheme_blueprint(blueprint, [])  # unauthenticated, like /health

REDOC = ("vendor", "redoc", "redoc.standalone.js")  # under api/static
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'none'")
secure_pages(blueprint, "/docs", CSP)


def operations(spec: dict) -> list[dict]:
    """Every operation of `spec`, sorted by path, for the page's no-JavaScript table."""
    return [{"method": method.upper(), "path": path, "summary": op.get("summary") or op.get("description") or "",
             "responses": ", ".join(sorted(str(code) for code in op.get("responses", {})))}
            for path, ops in sorted(spec.get("paths", {}).items()) for method, op in ops.items()]


@blueprint.get("/docs")
async def docs():
    """The API reference (Redoc, served locally), rendered from /openapi.json; a plain table without JS."""
    spec = current_app.extensions["QUART_SCHEMA"].openapi_provider.schema()
    body = await render_template("reference/docs.html", operations=operations(spec),
                                 redoc_url=url_for("reference.redoc", v=asset(*REDOC)[1]))
    return Response(body, content_type="text/html; charset=utf-8")


@blueprint.get("/docs/assets/redoc.standalone.js")
async def redoc():
    """Redoc's standalone bundle (MIT, Rebilly), the /docs page's only script."""
    return asset_response(*REDOC, content_type="text/javascript; charset=utf-8")
