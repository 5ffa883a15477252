"""The aggregator's web server (Flask only): directory pages, their JSON twins, the map, data
exports, pings and SPARQL, over one ``service.Aggregator``.

``create_app(config)`` opens the store (one process holds it), builds the Aggregator (text index,
crawl scheduler, query workers, brokering models; kept as ``app.extensions["hubnet"]``), brings the
text index in step (before returning when that is little work, else in the background while the
app answers: ``Aggregator.catch_up``), starts the crawler thread and registers the blueprints:

- ``directory``: ``/``, ``/groups/<key>``, ``/map``, ``/sources`` (HTML for people)
- ``api``: ``/api/groups``, ``/api/groups/<key>``, ``/sources.json`` (the JSON twins)
- ``data``: ``/downloads`` (the page explaining them), ``/dump.nq``, ``/export.csv``, ``/export.geojson``,
  ``/.well-known/void``, ``/health``
- ``ping``: ``POST /ping`` (rate-limited)
- ``sparql``: ``/sparql`` (crawler/web/sparql.py)
- ``areas``: ``/areas``, ``/areas/<code>``, ``/api/areas``, ``/api/areas/<code>``, ``/api/areas.geojson``

Config keys (``create_app({...})``): ``hubnet.crawler.settings.SERVER_DEFAULTS`` lists every one
with its default and meaning (``DEFAULTS`` here); the ``serve`` command layers them like the crawl
settings (defaults -> ``[server]`` table of the TOML file -> ``HUBNET_<KEY>`` -> its options).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from hubnet import __version__
from hubnet.vocab.errors import HubnetError
from ..settings import SERVER_DEFAULTS, Settings
from hubnet.crawler.store.graph import Store
from hubnet.crawler.store.remote import open_store
from . import api, areas, brokering, data, directory, errors, health, openreferral, ping, render, requestlog, sparql
from .current import EXTENSION
from hubnet.crawler.service import Aggregator

log = logging.getLogger(__name__)
_PACKAGE = Path(__file__).resolve().parent

DEFAULTS = SERVER_DEFAULTS



def create_app(config: dict | None = None) -> Flask:
    """Build the aggregator app. See the module docstring for the config keys."""
    app = Flask(__name__, template_folder=str(_PACKAGE / "templates"), static_folder=str(_PACKAGE / "static"),
                static_url_path="/static")
    app.config.from_mapping(DEFAULTS)
    if config:
        app.config.update(config)
    app.json.sort_keys = False
    app.json.ensure_ascii = False

    store_cfg = app.config["STORE"]
    own_store = not isinstance(store_cfg, Store)
    # raises StoreError(store_in_use) when held; sparql+http://... is a SPARQL server (store/remote.py)
    store = open_store(store_cfg, app.config["CRAWL_SETTINGS"]) if own_store else store_cfg
    settings = app.config["CRAWL_SETTINGS"] or Settings(
        allow_private=bool(app.config["ALLOW_PRIVATE"]), resolve=dict(app.config["RESOLVE"] or {}))
    hub = None
    try:
        hub = Aggregator(store, settings, own_store=own_store, recrawl_interval=app.config["RECRAWL_INTERVAL"],
                         serving=True, index_sync_budget=app.config["INDEX_SYNC_BUDGET"],
                         model_build_budget=app.config["MODEL_BUILD_BUDGET"], model_wait=app.config["MODEL_WAIT"],
                         areas_file=app.config["AREAS_FILE"], boundaries_file=app.config["BOUNDARIES_FILE"],
                         index_batch=int(app.config["INDEX_SYNC_BATCH"]),
                         index_pause=float(app.config["INDEX_SYNC_PAUSE"]))
        app.extensions[EXTENSION] = hub
        app.extensions[sparql.EXTENSION] = hub.start_queries(
            timeout=float(app.config["QUERY_TIMEOUT"]), row_cap=int(app.config["QUERY_ROW_CAP"]),
            workers=int(app.config["QUERY_WORKERS"]), client_concurrency=app.config["QUERY_CLIENT_RUNNING"],
            client_seconds=app.config["QUERY_CLIENT_SECONDS"], demote_after=app.config["QUERY_DEMOTE_AFTER"])
        # A crawl run by the CLI while the server was down is picked up here: now when that is little
        # work (nothing changed: nothing to do), else in the background (a rebuilt index at 100k: minutes).
        hub.catch_up(int(app.config["INDEX_START_INLINE"]))
    except BaseException:
        if hub is not None:
            hub.close()          # releases the index, any query workers, and the store if ours
        elif own_store:
            store.close()
        raise

    limiter = Limiter(get_remote_address, app=app, default_limits=[],
                      storage_uri=app.config["RATELIMIT_STORAGE_URI"])
    app.extensions["hubnet.limiter"] = limiter
    limiter.limit(lambda: app.config["PING_LIMIT"], methods=["POST"])(ping.bp)
    # Each query costs a worker process for up to QUERY_TIMEOUT: one client may not take them all.
    limiter.limit(lambda: app.config["SPARQL_LIMIT"], methods=["GET", "POST"])(sparql.bp)

    app.register_blueprint(directory.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(data.bp)
    app.register_blueprint(openreferral.bp)
    app.register_blueprint(ping.bp)
    app.register_blueprint(sparql.bp)
    app.register_blueprint(areas.bp)
    brokering.init_app(app, hub)
    errors.register(app)
    requestlog.init_app(app)
    _register_filters(app)
    app.before_request(_limit_body)
    app.after_request(_headers)
    if app.config["BACKGROUND"]:
        hub.background.start()
    return app


# ------------------------------------------------------------------------- request bodies
def body_limits(app: Flask) -> dict:
    """The most bytes each route's request body may have: its need, not waitress's 1 GiB default."""
    return {"ping.ping": int(app.config["PING_MAX_BODY"]), "sparql.sparql": sparql.MAX_BODY}


def largest_body(app: Flask) -> int:
    """What the HTTP server itself accepts (``max_request_body_size``): the largest route limit."""
    return max([int(app.config["MAX_CONTENT_LENGTH"]), *body_limits(app).values()])


def _limit_body():
    """413 ``too_large`` before a body bigger than this route needs is read (issue 12, finding 8).

    A declared length is refused at once; a chunked body is cut off by Werkzeug while it is
    read (``max_content_length``). /sparql reads its own body and answers ``query_too_long``.
    """
    limit = body_limits(current_app).get(request.endpoint, int(current_app.config["MAX_CONTENT_LENGTH"]))
    request.max_content_length = limit
    length = request.content_length
    if request.endpoint != "sparql.sparql" and length is not None and length > limit:
        raise HubnetError(f"the request body has {length} bytes; this address accepts at most {limit}",
                          code="too_large", status=413)


# ------------------------------------------------------------------------- response headers
_DATA_PREFIXES = ("/api/", "/sources.json", "/dump.nq", "/export.", "/.well-known/void", "/health")


def _headers(resp):
    """CORS for the data routes (opt-in), and a strict CSP for our own HTML pages."""
    path = request.path
    if current_app.config["CORS"] and path.startswith(_DATA_PREFIXES):
        resp.headers["Access-Control-Allow-Origin"] = "*"
    if resp.mimetype == "text/html" and request.blueprint != "sparql":
        tiles = tile_origin(current_app.config["TILE_URL"])
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data:{(' ' + tiles) if tiles else ''}; connect-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    return resp


def tile_origin(template: str) -> str | None:
    """``https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png`` -> ``https://*.tile.openstreetmap.org``."""
    try:
        parts = urlsplit(template)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = re.sub(r"\{[^}]*\}", "*", parts.netloc)
    if not re.fullmatch(r"[A-Za-z0-9.*:-]+", host):
        return None
    return f"{parts.scheme}://{host}"


# ------------------------------------------------------------------------- template helpers
def _register_filters(app: Flask) -> None:
    render.register(app)

    @app.context_processor
    def _globals():
        return {"version": __version__, "has_sparql": sparql.EXTENSION in app.extensions}
