"""The node's Flask app factory.

    app = create_app({"PROFILE": "profile.jsonld"})

Settings are layered (defaults, TOML file, ``HUBNET_NODE_*`` environment,
then the dict given here: see ``node.config``). The session cookie is
HttpOnly, SameSite=Lax and Secure unless INSECURE_LOCALHOST_COOKIES is set
(``hubnet-node serve`` sets it only on a loopback address without an https
PUBLIC_URL, because a browser would not send a Secure cookie over plain
http://127.0.0.1 and the editor could not be used at all).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from flask import Flask, render_template, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from . import auth, editor, public, state
from .config import resolve
from .geocode import Geocoder
from .ping import pinger_for
from .services import KEY, Services
from .storage import ProfileStore, ensure_private_dir

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src http: https: data:; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_app(config: dict | None = None) -> Flask:
    """A node app for ``config`` (overrides for the layered settings; see node.config)."""
    app = Flask(__name__)
    app.config.update(resolve(config))

    state_dir = ensure_private_dir(Path(app.config["STATE_DIR"]))
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = state.secret_key(state_dir)
    secure = not app.config["INSECURE_LOCALHOST_COOKIES"] or (app.config["PUBLIC_URL"] or "").startswith("https:")
    app.config.update(
        SESSION_COOKIE_NAME="hubnet_node_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=app.config["SESSION_MINUTES"]),
        WTF_CSRF_TIME_LIMIT=app.config["SESSION_MINUTES"] * 60,
    )
    if app.config["PROXY_COUNT"]:
        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)

    app.extensions[KEY] = Services(
        store=ProfileStore(Path(app.config["PROFILE"]), state_dir),
        pinger=pinger_for(app.config, state_dir),
        state_dir=state_dir,
        geocoder=Geocoder(app.config["GEOCODER"]),
    )

    CSRFProtect(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(editor.bp)

    # One limiter per app, so apps (tests) never share counters. Only POST /login
    # is limited: that is where passwords are guessed.
    limiter = Limiter(get_remote_address, app=app, storage_uri=app.config["RATELIMIT_STORAGE_URI"])
    app.view_functions["auth.login"] = limiter.limit(app.config["LOGIN_RATE_LIMIT"], methods=["POST"])(
        app.view_functions["auth.login"])

    _register_error_pages(app)
    app.after_request(_security_headers)
    return app


def _message(title: str, message: str, status: int, **extra):
    return render_template("message.html", title=title, message=message, **extra), status


def _register_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(exc):
        return _message("This form has expired", "The form was open too long, or did not come from this "
                        "site, so nothing was changed. Go back, reload the page and try again.", 400,
                        back_href=url_for("editor.edit"), back_text="Back to the editor")

    @app.errorhandler(413)
    def too_large(exc):
        limit = app.config["MAX_CONTENT_LENGTH"] // 1024
        return _message("Too much to save at once", f"What you sent is larger than {limit} KiB, so it was not "
                        "saved and your profile is unchanged. Shorten the longest texts and try again.", 413,
                        back_href=url_for("editor.edit"), back_text="Back to the editor")

    @app.errorhandler(429)
    def too_many(exc):
        return _message("Too many attempts", "There have been too many login attempts from your address. "
                        "Wait a few minutes, then try again.", 429)


def _security_headers(resp):
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        resp.headers.setdefault("X-Frame-Options", "DENY")
    return resp
