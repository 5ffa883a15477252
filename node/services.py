"""The per-app objects the blueprints share (kept on ``app.extensions`` so
several apps, e.g. in tests, never share a store or a pinger)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import current_app, request

from .doc import profile_url as _profile_url
from .geocode import Geocoder
from .ping import Pinger
from .storage import ProfileStore

KEY = "hubnet_node"


@dataclass
class Services:
    store: ProfileStore
    pinger: Pinger
    state_dir: Path
    geocoder: Geocoder


def services(app=None) -> Services:
    return (app or current_app).extensions[KEY]


def public_profile_url(doc=None) -> str | None:
    """The URL aggregators should fetch: PUBLIC_URL's, else the @id origin's /profile.jsonld."""
    return _profile_url(current_app.config.get("PUBLIC_URL"), doc)


def request_profile_url() -> str:
    """Absolute URL of /profile.jsonld as this request reached us (PUBLIC_URL wins when set)."""
    public = current_app.config.get("PUBLIC_URL")
    if public:
        return public + "/profile.jsonld"
    return request.host_url.rstrip("/") + request.script_root + "/profile.jsonld"
