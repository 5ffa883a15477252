"""Shared fixtures and helpers for the node tests (tests/test_node_*.py).

Everything runs against the real app, files and password hashing: the only
fakes are remote HTTP servers, via ``responses``.
"""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path


from hubnet.node import state
from hubnet.node.app import create_app
from hubnet.node.doc import dump
from hubnet.node.services import services

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "profile.jsonld"
PASSWORD = "correct horse battery staple"
COOKIE = "hubnet_node_session"


def example() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def write_profile(directory: Path, doc=None, name: str = "profile.jsonld") -> Path:
    path = Path(directory) / name
    path.write_bytes(EXAMPLE.read_bytes() if doc is None else dump(doc))
    return path


def make_app(tmp_path: Path, doc=None, *, password: str | None = PASSWORD, **config):
    profile = tmp_path / "profile.jsonld"
    if doc is not False:
        write_profile(tmp_path, doc)
    app = create_app({"PROFILE": str(profile), "INSECURE_LOCALHOST_COOKIES": True, **config})
    if password:
        state.set_password(services(app).state_dir, password)
    return app


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client, password: str = PASSWORD):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "password": password})


class _FormParser(HTMLParser):
    """Collects what a browser would submit from the form posting to ``action``."""

    def __init__(self, action: str):
        super().__init__(convert_charrefs=True)
        self.action, self.values = action, {}
        self._in_form = self._textarea = self._select = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._in_form = a.get("action") == self.action
        if not self._in_form:
            return
        if tag == "input" and a.get("type") not in ("checkbox", "submit"):
            self.values[a["name"]] = a.get("value") or ""
        elif tag == "input" and a.get("type") == "checkbox" and "checked" in a:  # as a browser sends it
            self.values[a["name"]] = a.get("value") or "on"
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values[self._textarea] = ""
        elif tag == "select":
            self._select = a["name"]
            self.values.setdefault(self._select, "")
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self._in_form = False

    def handle_data(self, data):
        if self._in_form and self._textarea:
            self.values[self._textarea] += data


def form_values(html: str, action: str = "/edit") -> dict:
    parser = _FormParser(action)
    parser.feed(html)
    return parser.values


def edit_form(client) -> dict:
    resp = client.get("/edit")
    assert resp.status_code == 200, resp.status_code
    return form_values(resp.get_data(as_text=True))


def post_edit(client, **changes):
    """Load the editor, change some fields, submit; returns the response."""
    values = edit_form(client)
    values.update(changes)
    return client.post("/edit", data=values)


def button(client, path: str):
    """Press one of the editor's buttons (undo, unpublish, publish, logout)."""
    token = csrf_from(client.get("/edit").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token})


def field_error(html: str, name: str) -> str | None:
    """The error text shown beside input ``name`` (None when there is none)."""
    match = re.search(rf'<div class="error" id="{re.escape(name)}-error">(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)).strip() if match else None


def versions(app) -> list[Path]:
    return services(app).store.versions()


def modified(doc=None, **changes) -> dict:
    out = copy.deepcopy(doc or example())
    out.update(changes)
    return out
