"""``hubnet-node serve --site DIR``: many groups on one node, each at ``/<slug>/``.

Every active group is served by its own single-group node app (``node.app.create_app``
over its profile and private state folder: the very editor, login and public pages
of ``hubnet-node serve --profile``), mounted at ``/<slug>/``. Each has its own
password, its own key signing its session cookie, and a cookie named for it and
scoped to its path, so one group's login never opens another group's editor.

The front app answers the site's own pages: the index of published groups at ``/``
(``/index.json`` its twin), ``/.well-known/hubnet`` declaring ``"hosting": "path"``
(so aggregators let a document speak only for its own group's path), the invite
pages, and the addresses of groups that are not active: a draft or invited group
is 404 (unpublished), a suspended one 410, a moved one 301 to its new address.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from urllib.parse import quote

from flask import Flask, Response, redirect, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect

from hubnet import vocab
from hubnet.vocab import DocumentError

from .. import state
from ..app import _security_headers, create_app
from ..config import DEFAULTS
from ..doc import WELL_KNOWN_VERSION, group_node, text
from ..public import problem
from ..services import services
from ..storage import ProfileStore
from .registry import Site, find_invite, invite_expired, stamp, utcnow

KEY = "hubnet_site"


class SiteApp:
    """The WSGI app of a hosting site: active groups go to their own node app, the rest to the front app."""

    def __init__(self, root, *, clock=utcnow, insecure_cookies: bool = False):
        self.site = Site.open(root)
        self.clock = clock
        self.insecure_cookies = insecure_cookies
        self.front = _front_app(self)
        self._apps: dict = {}
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        slug, sep, rest = path[1:].partition("/")
        record = self.site.read()["groups"].get(slug) if slug else None
        if record is None or record.get("state") != "active":
            return self.front(environ, start_response)
        if not sep:  # /slug -> /slug/ (relative links on the group's page need the slash)
            return redirect(f"{environ.get('SCRIPT_NAME', '')}/{quote(slug)}/", 301)(environ, start_response)
        environ = dict(environ, SCRIPT_NAME=environ.get("SCRIPT_NAME", "") + "/" + slug, PATH_INFO="/" + rest)
        return self.group_app(slug)(environ, start_response)

    def group_app(self, slug: str) -> Flask:
        with self._lock:
            app = self._apps.get(slug)
            if app is None:
                app = self._apps[slug] = self._make_group_app(slug)
            return app

    def _make_group_app(self, slug: str) -> Flask:
        data = self.site.read()
        config = {"PROFILE": str(self.site.profile(slug)), "STATE_DIR": str(self.site.state_dir(slug)),
                  "PUBLIC_URL": data["public_url"] + "/" + slug, "INSECURE_LOCALHOST_COOKIES": self.insecure_cookies,
                  "AGGREGATORS": data.get("aggregators", [])}
        if "geocoder" in data:
            config["GEOCODER"] = data["geocoder"]
        app = create_app(config)
        services(app).pinger.start()  # pings a hub missed are sent again (nothing to do without aggregators)
        # The cookie carries this group's name and is sent only under its path; it is signed with the
        # group's own key (in its state folder), so even a cookie sent elsewhere opens nothing there.
        app.config.update(SESSION_COOKIE_NAME=f"hubnet_{slug.replace('-', '_')}", SESSION_COOKIE_PATH=f"/{slug}/")
        return app

    def published(self) -> list:
        """The active groups that have not withdrawn their profile, as (slug, name, group IRI), by name."""
        data = self.site.read()
        out = []
        for slug, record in data["groups"].items():
            store = ProfileStore(self.site.profile(slug), self.site.state_dir(slug))
            if record.get("state") != "active" or not store.is_published():
                continue
            name, iri = record.get("name", slug), self.site.url(slug, data) + "#group"
            try:
                group = group_node(vocab.read_document(self.site.profile(slug).read_bytes()))
                name, iri = text(group.get("name")) or name, group.get("@id") or iri
            except (OSError, DocumentError):
                pass
            out.append((slug, name, iri))
        return sorted(out, key=lambda g: g[1].lower())


def create_site_app(root, **kw) -> SiteApp:
    return SiteApp(root, **kw)


def _front_app(site_app: SiteApp) -> Flask:
    site = site_app.site
    app = Flask("hubnet.node")  # the node's templates
    app.config.update(
        SECRET_KEY=state.secret_key(site.private_dir),
        SESSION_COOKIE_NAME="hubnet_site_session", SESSION_COOKIE_PATH="/invite/", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=not site_app.insecure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=DEFAULTS["SESSION_MINUTES"]),
        MAX_CONTENT_LENGTH=DEFAULTS["MAX_CONTENT_LENGTH"])
    app.extensions[KEY] = site_app
    CSRFProtect(app)
    limiter = Limiter(get_remote_address, app=app, storage_uri=DEFAULTS["RATELIMIT_STORAGE_URI"])

    @app.get("/")
    def index():
        if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
            return index_json()
        return render_template("site_index.html", groups=site_app.published(), public_url=site.public_url)

    @app.get("/index.json")
    def index_json():
        base = site.public_url
        groups = [{"name": name, "id": iri, "url": f"{base}/{slug}/", "profile": f"{base}/{slug}/profile.jsonld"}
                  for slug, name, iri in site_app.published()]
        return _json({"hubnet": WELL_KNOWN_VERSION, "hosting": "path", "groups": groups})

    @app.get("/.well-known/hubnet")
    def well_known():
        base = site.public_url
        return _json({"hubnet": WELL_KNOWN_VERSION, "hosting": "path", "index": base + "/index.json",
                      "groups": [f"{base}/{slug}/profile.jsonld" for slug, _n, _i in site_app.published()]})

    @app.route("/invite/<token>", methods=["GET", "POST"])
    @limiter.limit(DEFAULTS["LOGIN_RATE_LIMIT"], methods=["POST"])
    def invite(token):
        data = site.read()
        slug, record = find_invite(data, token)
        refused = _refusal(record, site_app.clock())
        if refused:
            return refused
        if request.method == "GET":
            return render_template("site_accept.html", name=record.get("name", slug), error=None)
        password, again = request.form.get("password", ""), request.form.get("again", "")
        error = (f"The password must be at least {state.MIN_PASSWORD_LENGTH} characters long."
                 if len(password) < state.MIN_PASSWORD_LENGTH else
                 "The two passwords are not the same." if password != again else None)
        if error:
            return render_template("site_accept.html", name=record.get("name", slug), error=error), 422
        with site.change() as data:  # checked again under the lock: two tabs cannot both use one invite
            slug, record = find_invite(data, token)
            refused = _refusal(record, site_app.clock())
            if refused:
                return refused
            state.set_password(site.state_dir(slug), password)
            ProfileStore(site.profile(slug), site.state_dir(slug)).set_published(True)
            record.update(state="active", invite=None, accepted=stamp(site_app.clock()))
        site.log("accept", slug, who="the group (invite link)")
        return render_template("message.html", title="Your group's page is published",
                               message="Your password is set: from now on only your group can change its "
                                       "profile. Log in to check and complete it.",
                               back_href=f"/{slug}/login", back_text="Log in to your editor")

    @app.route("/<slug>/", defaults={"rest": ""})
    @app.route("/<slug>/<path:rest>")
    def group_elsewhere(slug, rest):
        record = site.read()["groups"].get(slug) or {}
        if record.get("state") == "moved" and record.get("moved_to"):
            return redirect(record["moved_to"], 301)
        if record.get("state") == "suspended":
            return problem(410, "suspended", "This group's page is not available on this hub at the moment.")
        return problem(404, "not_found", "There is no published group at this address.")

    @app.errorhandler(404)
    def not_found(exc):
        return problem(404, "not_found", "There is no such page on this site.")

    @app.errorhandler(CSRFError)
    def csrf_failed(exc):
        return problem(400, "bad_request", "The form was open too long, or did not come from this site, so "
                                           "nothing was changed. Go back, reload the page and try again.")

    app.after_request(_security_headers)
    return app


def _refusal(record, now):
    if record is None:
        return problem(410, "invite_refused", "This invite link is not valid: it has been used already, or the hub "
                                              "replaced it with a newer one. Ask the hub for a new invite.")
    if invite_expired(record, now):
        return problem(410, "invite_refused", "This invite link has expired. Ask the hub for a new invite.")
    return None


def _json(body: dict) -> Response:
    resp = Response(json.dumps(body, indent=2, ensure_ascii=False), content_type="application/json")
    resp.headers["Access-Control-Allow-Origin"] = "*"
    resp.headers["Cache-Control"] = "no-cache"
    return resp
