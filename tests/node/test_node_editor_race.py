"""Two editor saves made from the same version: exactly one wins, the other is told and loses nothing.

A real threaded HTTP server on loopback and two logged-in browsers (requests
sessions). Both open the form, both submit; a barrier inside the request
holds each one just after it has read the live profile and built its change,
so both are past every check made outside the store's lock before either
writes: the race a slow request meets in production, made to happen every time.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from werkzeug.serving import make_server

from hubnet.node import forms
from hubnet.node.editor import CHANGED_MEANWHILE
from hubnet.node.services import services

from node_helpers import csrf_from, form_values, make_app

CHANGES = ({"description": "Changed by the chair in her browser"},
           {"telephone": "020 7946 0001"})


@pytest.fixture
def live(tmp_path):
    def start(doc=None):
        app = make_app(tmp_path, doc)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread))
        return app, f"http://127.0.0.1:{server.server_port}"
    started = []
    yield start
    for server, thread in started:
        server.shutdown()
        thread.join(10)


def _browser(base) -> requests.Session:
    s = requests.Session()
    token = csrf_from(s.get(base + "/login", timeout=10).text)
    s.post(base + "/login", data={"csrf_token": token, "password": "correct horse battery staple"}, timeout=10)
    assert s.get(base + "/edit", allow_redirects=False, timeout=10).status_code == 200
    return s


def _both_at_once(monkeypatch, submit, forms_to_send):
    """Submit both forms; neither request writes until both have built their change."""
    barrier = threading.Barrier(len(forms_to_send), timeout=20)
    build = forms.build

    def held(form, doc):
        built = build(form, doc)
        barrier.wait()
        return built
    with monkeypatch.context() as patched:
        patched.setattr(forms, "build", held)
        with ThreadPoolExecutor(len(forms_to_send)) as pool:
            return list(pool.map(submit, forms_to_send))


@pytest.mark.parametrize("first_profile", [False, True], ids=["existing profile", "first profile"])
def test_two_saves_from_the_same_version_one_wins_the_other_keeps_its_input(live, monkeypatch, first_profile):
    app, base = live(False if first_profile else None)
    store = services(app).store
    before = store.read_bytes() if store.exists() else None
    browsers = [_browser(base), _browser(base)]
    opened = [form_values(b.get(base + "/edit", timeout=10).text) for b in browsers]
    for values, change in zip(opened, CHANGES):
        values.update(change)
        if first_profile:
            values.update({"id": "https://new.example/#group", "name": "New Group", "email": "hi@new.example"})

    def submit(i):
        return browsers[i].post(base + "/edit", data=opened[i], allow_redirects=False, timeout=30)
    responses = _both_at_once(monkeypatch, submit, [0, 1])

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [302, 409], statuses
    winner = 0 if responses[0].status_code == 302 else 1
    loser = 1 - winner
    live_doc = json.loads(store.read_bytes())
    (key, typed), = CHANGES[winner].items()
    assert live_doc[key] == typed                       # the winner's change is live
    (lost_key, lost_value), = CHANGES[loser].items()
    assert live_doc.get(lost_key) != lost_value         # the loser's was not written over it silently
    page = responses[loser].text
    assert CHANGED_MEANWHILE.split(",")[0].replace("'", "&#39;") in page
    assert form_values(page)[lost_key] == lost_value    # ... and is still in the form it gets back
    assert len(store.versions()) == (0 if first_profile else 1)
    if before is not None:
        assert store.versions()[0].read_bytes() == before

    # Saving the returned form again is a deliberate choice: it wins, and the other change stays in the history.
    again = browsers[loser].post(base + "/edit", data=form_values(page), allow_redirects=False, timeout=10)
    assert again.status_code == 302
    assert json.loads(store.read_bytes())[lost_key] == lost_value
    assert json.loads(store.versions()[0].read_bytes())[key] == typed


def test_a_save_from_a_version_undone_meanwhile_is_refused(live):
    """The other state change a stale form can meet: undo in another window."""
    app, base = live()
    store = services(app).store
    chair, treasurer = _browser(base), _browser(base)
    values = form_values(chair.get(base + "/edit", timeout=10).text)
    values["description"] = "First change"
    assert chair.post(base + "/edit", data=values, allow_redirects=False, timeout=10).status_code == 302
    stale = form_values(treasurer.get(base + "/edit", timeout=10).text)
    token = csrf_from(chair.get(base + "/edit", timeout=10).text)
    assert chair.post(base + "/edit/undo", data={"csrf_token": token}, allow_redirects=False,
                      timeout=10).status_code == 302
    undone = store.read_bytes()
    stale["telephone"] = "020 7946 0002"
    resp = treasurer.post(base + "/edit", data=stale, allow_redirects=False, timeout=10)
    assert resp.status_code == 409 and form_values(resp.text)["telephone"] == "020 7946 0002"
    assert store.read_bytes() == undone
