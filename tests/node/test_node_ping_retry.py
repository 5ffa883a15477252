"""Failed pings are tried again with backoff, remembered across a restart, and the editor says
per hub whether it was told. Time is an injected clock; work is bounded by counting requests."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import parse_qs

import pytest
import requests
import responses
from click.testing import CliRunner

from hubnet.node.cli import main
from hubnet.node.ping import Pinger
from hubnet.node.services import services

from node_helpers import login, make_app, post_edit

HUB = "https://hub.leybridge.example"
PROFILE_URL = "https://marshgate-ra.example.org/profile.jsonld"
T0 = datetime.now().replace(hour=10, minute=2, second=0, microsecond=0).timestamp()


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _hhmm(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M")


@responses.activate
def test_backoff_doubles_up_to_the_limit_and_sends_only_when_due(tmp_path):
    responses.post(f"{HUB}/ping", body=requests.ConnectionError("refused"))
    clock = Clock()
    pinger = Pinger([HUB], state_dir=tmp_path, retry_first=60, retry_max=300, clock=clock)
    pinger.ping(PROFILE_URL).join(5)
    waits = []
    for _ in range(6):
        status = pinger.status()[0]
        waits.append(status.next_try - clock.now)
        sent = len(responses.calls)
        clock.now = status.next_try - 1
        assert pinger.retry_due() == [] and len(responses.calls) == sent, "nothing is sent before it is due"
        clock.now = status.next_try
        assert [ok for _, ok, _ in pinger.retry_due()] == [False]
        assert len(responses.calls) == sent + 1
    assert waits == [60, 120, 240, 300, 300, 300]
    responses.replace(responses.POST, f"{HUB}/ping", status=202)
    clock.now = pinger.status()[0].next_try
    assert [ok for _, ok, _ in pinger.retry_due()] == [True]
    told = pinger.status()[0]
    assert (told.told_at, told.next_try, told.attempts) == (clock.now, None, 0)
    clock.now += 10_000
    assert pinger.retry_due() == [], "once told, nothing more is sent"


@responses.activate
def test_a_failed_ping_survives_a_restart_and_the_editor_says_so(tmp_path):
    responses.post(f"{HUB}/ping", body=requests.ConnectionError("refused"))
    app = make_app(tmp_path, AGGREGATORS=[HUB], PING_RETRY_FIRST=120)
    services(app).pinger.clock = Clock()
    client = app.test_client()
    login(client)
    assert post_edit(client, description="A change the hub must hear about").status_code == 302
    page = client.get("/edit").get_data(as_text=True)
    assert "Saved." in page
    assert (f"could not reach hub.leybridge.example (could not connect (ConnectionError)); "
            f"trying again at {_hhmm(T0 + 120)}") in page
    record = json.loads((tmp_path / ".hubnet-node" / "pings.json").read_text())
    assert record[HUB]["url"] == PROFILE_URL and record[HUB]["attempts"] == 1

    # The node stops; the hub comes back; the node starts again from the same folder.
    responses.replace(responses.POST, f"{HUB}/ping", status=202)
    restarted = make_app(tmp_path, False, AGGREGATORS=[HUB], PING_RETRY_FIRST=120)
    pinger = services(restarted).pinger
    pinger.clock = Clock(T0 + 119)
    sent = len(responses.calls)
    assert pinger.retry_due() == [] and len(responses.calls) == sent
    pinger.clock = Clock(T0 + 120)
    assert pinger.retry_due() == [(HUB, True, "HTTP 202")]
    assert parse_qs(responses.calls[-1].request.body)["url"] == [PROFILE_URL]
    client = restarted.test_client()
    login(client)
    assert f"told hub.leybridge.example at {_hhmm(T0 + 120)}" in client.get("/edit").get_data(as_text=True)


@pytest.mark.parametrize("answer, says", [(202, "told hub.leybridge.example at"),
                                          (500, "could not reach hub.leybridge.example (HTTP 500)")])
@responses.activate
def test_the_editor_shows_right_after_saving_whether_the_hub_was_told(tmp_path, answer, says):
    responses.post(f"{HUB}/ping", status=answer)
    app = make_app(tmp_path, AGGREGATORS=[HUB])
    client = app.test_client()
    login(client)
    resp = post_edit(client, description="Told or not?")
    assert resp.status_code == 302
    assert says in client.get("/edit").get_data(as_text=True)


@responses.activate
def test_hubs_given_to_init_are_told_by_the_node(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init", "--non-interactive", "--name", "Marsh Gate RA",
                                       "--url", "marshgate-ra.example.org", "--email", "hi@marshgate-ra.example.org",
                                       "--member-of", "https://leybridge-network.example/#group", "--hub", HUB],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "profile.jsonld").read_text())
    assert doc["memberOf"] == "https://leybridge-network.example/#group"
    responses.post(f"{HUB}/ping", status=202)
    app = make_app(tmp_path, False)
    client = app.test_client()
    login(client)
    assert "hub.leybridge.example has not been told anything yet" in client.get("/edit").get_data(as_text=True)
    post_edit(client, description="First change")
    assert [c.request.url for c in responses.calls] == [f"{HUB}/ping"]
    assert "told hub.leybridge.example at" in client.get("/edit").get_data(as_text=True)


@pytest.mark.parametrize("flags, says", [
    (("--hub", "hub.example"), "is not a hub's web address"),
    (("--member-of", "just some words"), "is not a web address"),
])
def test_init_refuses_a_hub_or_network_that_is_not_a_web_address(tmp_path, monkeypatch, flags, says):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init", "--non-interactive", "--name", "X", "--url", "x.example",
                                       "--email", "a@x.example", *flags], catch_exceptions=False)
    assert result.exit_code == 2 and says in result.output
    assert not (tmp_path / "profile.jsonld").exists()


@responses.activate
def test_the_retry_loop_serve_runs_sends_what_is_owed(tmp_path):
    """What ``serve`` starts: a loop that sends the pings owed from before (here, from a previous run)."""
    import time
    responses.post(f"{HUB}/ping", body=requests.ConnectionError("refused"))
    first = Pinger([HUB], state_dir=tmp_path, clock=Clock())
    first.ping(PROFILE_URL).join(5)
    responses.replace(responses.POST, f"{HUB}/ping", status=202)
    later = Pinger([HUB], state_dir=tmp_path, clock=Clock(T0 + 3600))
    later.start(tick=0.01)
    try:
        deadline = time.monotonic() + 30
        while later.status()[0].next_try is not None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        later.stop()
    assert later.status()[0].told_at == T0 + 3600
    assert len(responses.calls) == 2, "one failed ping, one retry: nothing more"
