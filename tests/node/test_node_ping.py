"""Aggregator pings after saves and (un)publishing; failures never break a save."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import requests
import responses

from hubnet.node.ping import Pinger
from hubnet.node.services import services

from node_helpers import button, login, make_app, post_edit

AGG = "https://hub.example.org"
PROFILE_URL = "https://marshgate-ra.example.org/profile.jsonld"


def _editor(tmp_path, **config):
    app = make_app(tmp_path, AGGREGATORS=[AGG, "https://second.example.net/"], **config)
    client = app.test_client()
    login(client)
    return app, client


def _pinged(calls) -> list[tuple[str, str]]:
    return [(c.request.url, parse_qs(c.request.body)["url"][0]) for c in calls]


@responses.activate
def test_save_pings_every_aggregator_with_the_profile_url(tmp_path):
    responses.post(f"{AGG}/ping", status=202)
    responses.post("https://second.example.net/ping", status=200)
    app, client = _editor(tmp_path)
    assert post_edit(client, description="Now with a ping").status_code == 302
    services(app).pinger.wait(5)
    assert sorted(_pinged(responses.calls)) == [(f"{AGG}/ping", PROFILE_URL),
                                                ("https://second.example.net/ping", PROFILE_URL)]
    assert responses.calls[0].request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert responses.calls[0].request.headers["User-Agent"].startswith("hubnet-node/")


@responses.activate
def test_public_url_is_what_gets_pinged(tmp_path):
    responses.post(f"{AGG}/ping")
    responses.post("https://second.example.net/ping")
    app, client = _editor(tmp_path, PUBLIC_URL="https://node.ourgroup.org/")
    post_edit(client, description="x y z")
    services(app).pinger.wait(5)
    assert {url for _, url in _pinged(responses.calls)} == {"https://node.ourgroup.org/profile.jsonld"}


@responses.activate
def test_unpublish_and_publish_ping_too(tmp_path):
    responses.post(f"{AGG}/ping")
    responses.post("https://second.example.net/ping")
    app, client = _editor(tmp_path)
    button(client, "/edit/unpublish")
    services(app).pinger.wait(5)
    assert len(responses.calls) == 2
    button(client, "/edit/publish")
    services(app).pinger.wait(5)
    assert len(responses.calls) == 4


@pytest.mark.parametrize("failure", [requests.ConnectionError("refused"), 500, requests.Timeout("slow")])
@responses.activate
def test_a_failing_aggregator_does_not_break_the_save(tmp_path, failure, caplog):
    if isinstance(failure, int):
        responses.post(f"{AGG}/ping", status=failure)
    else:
        responses.post(f"{AGG}/ping", body=failure)
    responses.post("https://second.example.net/ping", status=200)
    app, client = _editor(tmp_path)
    resp = post_edit(client, description="Saved whatever the aggregators do")
    assert resp.status_code == 302
    services(app).pinger.wait(5)
    saved = json.loads((tmp_path / "profile.jsonld").read_bytes())
    assert saved["description"] == "Saved whatever the aggregators do"
    assert any(c.request.url == "https://second.example.net/ping" for c in responses.calls), \
        "one failure does not stop the others"
    assert "ping" in caplog.text


@responses.activate
def test_send_reports_each_result():
    responses.post(f"{AGG}/ping", status=204)
    responses.post("https://down.example/ping", body=requests.ConnectionError("no route"))
    results = Pinger([AGG + "/", "https://down.example"]).send(PROFILE_URL)
    assert results[0] == (AGG + "/", True, "HTTP 204")
    assert results[1][:2] == ("https://down.example", False)


def test_no_aggregators_no_thread():
    assert Pinger([]).ping(PROFILE_URL) is None
