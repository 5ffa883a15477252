"""Every state-changing route of the node refuses a request without its own CSRF token, and changes nothing.

The list of routes is read from the app's url_map (every POST/PUT/PATCH/DELETE
endpoint), and must equal the table below: a new form cannot be added without
saying here how to press it and what it changes. For each route:

* the control: submitting the form as the page renders it (its own hidden
  token) does change the node's state, so the refusals below are meaningful;
* a forged request (token missing, empty, made up, or a real token minted for
  another browser's session) gets the "form has expired" page and the state
  is unchanged: profile bytes, kept versions, publish flag, password hash,
  session epoch, and whether the browser is logged in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from hubnet.node.services import services

from node_helpers import PASSWORD, csrf_from, form_values, login, make_app, post_edit

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Route:
    page: str                     # the page that shows the form
    as_editor: bool               # pressed by a logged-in editor (else by a visitor)
    fill: Callable = dict         # form values -> what the user changes before pressing
    prepare: Callable = None      # puts the node where pressing changes something


def _undoable(app, editor):
    assert post_edit(editor, description="A version to go back from").status_code == 302


def _withdrawn(app, editor):
    services(app).store.set_published(False)


ROUTES = {
    "auth.login": Route("/login", as_editor=False, fill=lambda v: {**v, "password": PASSWORD}),
    "auth.logout": Route("/edit", as_editor=True),
    "editor.save": Route("/edit", as_editor=True, fill=lambda v: {**v, "name": "Taken over"}),
    "editor.undo": Route("/edit", as_editor=True, prepare=_undoable),
    "editor.unpublish": Route("/edit", as_editor=True),
    "editor.publish": Route("/edit", as_editor=True, prepare=_withdrawn),
}


def _state_changing_endpoints(app) -> dict:
    return {rule.endpoint: rule.rule for rule in app.url_map.iter_rules() if rule.methods & STATE_CHANGING}


def test_every_state_changing_route_is_in_the_table(tmp_path):
    app = make_app(tmp_path)
    assert set(_state_changing_endpoints(app)) == set(ROUTES)


def _snapshot(app, browser) -> dict:
    store, state_dir = services(app).store, services(app).state_dir
    return {
        "profile": store.read_bytes() if store.exists() else None,
        "versions": [(p.name, p.read_bytes()) for p in store.versions()],
        "published": store.is_published(),
        "files": {p.name: p.read_bytes() for p in state_dir.iterdir() if p.is_file()},
        "logged in": browser.get("/edit").status_code == 200,
    }


def _setup(tmp_path, endpoint):
    """(app, the browser that presses the button, the values its form submits, the action URL)."""
    app = make_app(tmp_path)
    route = ROUTES[endpoint]
    action = _state_changing_endpoints(app)[endpoint]
    editor = app.test_client()
    assert login(editor).status_code == 302
    if route.prepare:
        route.prepare(app, editor)
    browser = editor if route.as_editor else app.test_client()
    values = form_values(browser.get(route.page).get_data(as_text=True), action)
    assert "csrf_token" in values, f"the form posting to {action} on {route.page} carries no CSRF token"
    return app, browser, route.fill(values), action


def _other_sessions_token(app, page) -> str:
    other = app.test_client()  # the attacker's own browser, logged in wherever the form needs it
    if page != "/login":
        login(other)
    return csrf_from(other.get(page).get_data(as_text=True))


FORGERIES = {
    "no token": lambda app, page: None,
    "empty token": lambda app, page: "",
    "made-up token": lambda app, page: "IjVhZmQ2MjE0In0.ZZZZZZ.forged-signature",
    "another session's token": _other_sessions_token,
}


@pytest.mark.parametrize("endpoint", ROUTES)
def test_the_form_as_rendered_changes_the_state(tmp_path, endpoint):
    app, browser, values, action = _setup(tmp_path, endpoint)
    before = _snapshot(app, browser)
    resp = browser.post(action, data=values)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    assert _snapshot(app, browser) != before


@pytest.mark.parametrize("forgery", FORGERIES)
@pytest.mark.parametrize("endpoint", ROUTES)
def test_a_forged_request_is_refused_and_changes_nothing(tmp_path, endpoint, forgery):
    app, browser, values, action = _setup(tmp_path, endpoint)
    token = FORGERIES[forgery](app, ROUTES[endpoint].page)
    if token is None:
        values.pop("csrf_token")
    else:
        values["csrf_token"] = token
    before = _snapshot(app, browser)
    resp = browser.post(action, data=values)
    assert resp.status_code == 400
    assert "This form has expired" in resp.get_data(as_text=True)
    assert _snapshot(app, browser) == before


def test_no_read_only_route_changes_the_state(tmp_path):
    """GET/HEAD carry no token, so they must change nothing: every one, for a visitor and for the editor."""
    app = make_app(tmp_path)
    editor, visitor = app.test_client(), app.test_client()
    assert login(editor).status_code == 302
    _undoable(app, editor)
    rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods and not r.arguments]
    assert {r.endpoint for r in rules} >= {"auth.logout", "auth.login", "editor.edit", "public.home"}
    for browser in (editor, visitor):
        before = _snapshot(app, browser)
        for rule in rules:
            for method in ("GET", "HEAD"):
                browser.open(rule.rule, method=method)
                assert _snapshot(app, browser) == before, (method, rule.rule)
