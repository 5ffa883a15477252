"""Public routes: the profile for people (HTML) and machines (JSON-LD, Turtle).

Every representation is computed from the bytes of the profile file, and
carries a strong ETag (a hash of exactly the bytes sent) and Last-Modified
(the file's save time), so aggregators re-crawling every few hours mostly get
a cheap 304. Public data is CORS-open: anyone may read a published profile.
While the group has unpublished, every public URL answers 410 Gone, which
tells aggregators to drop the profile rather than retry it.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from flask import Blueprint, Response, abort, request

from hubnet import vocab
from hubnet.vocab import DocumentError, HubnetError

from .doc import well_known as well_known_body
from .render import environment, profile_page, turtle
from .services import request_profile_url, services

bp = Blueprint("public", __name__)

HOME_TYPES = ["text/html", "application/ld+json", "application/json", "text/turtle"]
TURTLE = "text/turtle; charset=utf-8"


# ------------------------------------------------------------------ representations (cached by content)
@lru_cache(maxsize=16)
def _parsed(data: bytes):
    return vocab.read_document(data)  # JSON with depth/size limits; raises DocumentError


@lru_cache(maxsize=16)
def _html(data: bytes, alternate: str, turtle: str) -> bytes:
    return profile_page(_parsed(data), alternate_href=alternate, turtle_href=turtle).encode("utf-8")


@lru_cache(maxsize=16)
def _turtle(data: bytes, base: str) -> bytes:
    return turtle(data, base)


# ------------------------------------------------------------------ responses
def _headers(resp: Response) -> Response:
    resp.headers["Access-Control-Allow-Origin"] = "*"
    resp.headers["Cache-Control"] = "no-cache"  # always revalidate: edits show at once, 304s stay cheap
    return resp


def _send(body: bytes, content_type: str, modified, *, negotiated: bool = False) -> Response:
    resp = Response(body, content_type=content_type)
    resp.set_etag(hashlib.sha256(body).hexdigest()[:32])  # strong: it names these exact bytes
    resp.last_modified = modified
    if negotiated:
        resp.vary.add("Accept")
    return _headers(resp).make_conditional(request)


def problem(status: int, code: str, message: str, *, html: bool | None = None) -> Response:
    """A short explanation, as a page for browsers and the project's JSON error shape otherwise."""
    if html is None:
        html = request.accept_mimetypes.best_match(["text/html", "application/json"]) == "text/html"
    if html:
        body = environment().get_template("message.html").render(title=message.split(".")[0], message=message)
        resp = Response(body, status=status, content_type="text/html; charset=utf-8")
    else:
        err = HubnetError(message, code=code, status=status)
        resp = Response(json.dumps(err.to_dict()), status=status, content_type="application/json")
    resp.vary.add("Accept")
    return _headers(resp)


def _current(html: bool | None = False):
    """(bytes, modified, doc) of the live profile, or abort with 404/410/503."""
    store = services().store
    if not store.exists():
        abort(problem(404, "no_profile", "No profile has been published here yet.", html=html))
    if not store.is_published():
        abort(problem(410, "withdrawn", "This group has withdrawn its profile from the network. "
                      "Aggregators should remove it; it may be published again later.", html=html))
    data, modified = store.snapshot()
    try:
        doc = _parsed(data)
    except DocumentError as exc:
        abort(problem(503, "profile_unreadable",
                      f"The profile file on this server cannot be read: {exc.message}", html=html))
    return data, modified, doc


# ------------------------------------------------------------------ routes
@bp.get("/")
def home():
    # No Accept header at all means "anything": give people the page.
    kind = request.accept_mimetypes.best_match(HOME_TYPES) if request.accept_mimetypes else "text/html"
    if kind is None:
        return problem(406, "not_acceptable", "This page is available as " + ", ".join(HOME_TYPES) + ".")
    data, modified, _doc = _current(html=None)
    if kind == "text/html":
        root = request.script_root
        body, ctype = _html(data, root + "/profile.jsonld", root + "/profile.ttl"), "text/html; charset=utf-8"
    elif kind == "text/turtle":
        body, ctype = _turtle_or_abort(data), TURTLE
    else:
        body, ctype = data, kind
    resp = _send(body, ctype, modified, negotiated=True)
    resp.headers["Link"] = f'<{request.script_root}/profile.jsonld>; rel="alternate"; type="application/ld+json"'
    return resp


@bp.get("/profile.jsonld")
def profile_jsonld():
    data, modified, _doc = _current()
    return _send(data, "application/ld+json", modified)


@bp.get("/profile.ttl")
def profile_ttl():
    data, modified, _doc = _current()
    return _send(_turtle_or_abort(data), TURTLE, modified)


@bp.get("/.well-known/hubnet")
def well_known():
    """Where this site's profile is, for aggregators that only know the domain."""
    _data, modified, doc = _current()
    body = well_known_body(doc, request_profile_url())
    return _send(json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8"), "application/json", modified)


def _turtle_or_abort(data: bytes) -> bytes:
    try:
        return _turtle(data, request_profile_url())
    except DocumentError as exc:
        abort(problem(503, "profile_unreadable", f"The profile file on this server cannot be read: {exc.message}",
                      html=False))
