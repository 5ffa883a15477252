"""POST /ping and the background crawler thread: queued, coalesced, rate-limited, crawled for real,
then indexed and visible to SPARQL; timed re-crawls; a failing crawl does not stop the thread."""

from __future__ import annotations

import pytest

from hubnet.crawler.settings import Settings
from hubnet.crawler.web.ping import check_ping_url
from hubnet.testing import wait_for
from hubnet.vocab.errors import HubnetError

LATE = "Latecomers Allotment Society"


def found(net, q) -> int:
    return net.client.get(f"/api/groups?q={q}").get_json()["total"]


def test_ping_queues_a_crawl_that_lands_in_directory_and_sparql(fresh_network):
    net = fresh_network()
    url = net.fed.url("late.test")
    resp = net.client.post("/ping", data={"url": url})
    assert resp.status_code == 202
    assert resp.get_json() == {"ok": True, "queued": url, "coalesced": False}
    wait_for(lambda: net.hub.background.status()["crawls"] == 1)
    assert net.hub.background.wait_idle(20)   # and the refresh after it (index sync, SPARQL checkpoint, models)
    assert found(net, "latecomers") == 1
    group = net.group(LATE)
    assert group["source"]["found_via"] == "ping" and group["source"]["status"] == "ok"
    # After the crawl batch the SPARQL checkpoint was refreshed: the query service sees it too.
    ask = net.client.get("/sparql", query_string={
        "query": f'ASK {{ <{net.fed.group_iri("late.test")}> <http://schema.org/name> "{LATE}" }}'})
    assert ask.status_code == 200 and ask.get_json()["boolean"] is True
    health = net.client.get("/health").get_json()
    assert health["groups"] == 7 and health["last_crawl"] and health["crawler"]["crawls"] == 1


def test_duplicate_pending_pings_are_coalesced(fresh_network):
    net = fresh_network(BACKGROUND=False)          # the thread is not running yet: pings wait
    url = net.fed.url("late.test")
    first = net.client.post("/ping", data={"url": url}).get_json()
    second = net.client.post("/ping", data={"url": url + "#fragment"}).get_json()   # same URL once canonical
    assert (first["coalesced"], second["coalesced"]) == (False, True)
    net.fed.clear_log()
    net.hub.background.start()
    assert net.hub.background.wait_idle(20)
    assert len(net.fed.requests_to("late.test", "/")) == 1
    assert found(net, "latecomers") == 1


@pytest.mark.parametrize("form, fragment", [
    ({}, "url: give the address"),
    ({"url": ""}, "url: give the address"),
    ({"url": "ftp://late.test/"}, "url:"),
    ({"url": "not a url"}, "url:"),
    ({"url": "http://user:secret@late.test/"}, "url:"),
])
def test_invalid_ping_is_400(network, form, fragment):
    net = network
    resp = net.client.post("/ping", data=form)
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["ok"] is False and body["error"]["status"] == 400 and body["error"]["message"].startswith(fragment)
    assert net.hub.background.status()["pending_pings"] == 0


def test_ping_url_checks_match_the_fetcher_policy():
    strict = Settings()
    assert check_ping_url("HTTPS://Group.Example.org/profile#x", strict) == "https://group.example.org/profile"
    for url, why in (("http://127.0.0.1/", "loopback"), ("http://10.1.2.3/", "private"),
                     ("http://group.example.org:8080/", "port 8080"), ("http://[::1]/", "loopback")):
        with pytest.raises(HubnetError) as err:
            check_ping_url(url, strict)
        assert err.value.status == 400 and why in err.value.message, url
    assert check_ping_url("http://127.0.0.1:8080/", Settings(allow_private=True)) == "http://127.0.0.1:8080/"


def test_pings_are_rate_limited_per_client(fresh_network):
    net = fresh_network(BACKGROUND=False, PING_LIMIT="3 per minute")
    url = net.fed.url("late.test")
    codes = [net.client.post("/ping", data={"url": url}).status_code for _ in range(3)]
    assert codes == [202, 202, 202]
    resp = net.client.post("/ping", data={"url": url})
    assert resp.status_code == 429
    assert resp.content_type == "application/json"
    body = resp.get_json()
    assert body["ok"] is False and body["error"]["code"] == "rate_limited" and body["error"]["status"] == 429
    assert int(resp.headers["Retry-After"]) > 0
    # Another client is not limited by the first one's pings.
    other = net.client.post("/ping", data={"url": url}, environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert other.status_code == 202
    # Reading is never limited.
    assert all(net.client.get("/api/groups").status_code == 200 for _ in range(5))


def test_a_failing_source_is_stale_with_its_last_good_version_kept(fresh_network):
    net = fresh_network()
    key = net.key("Friends of Marsh Park")
    net.fed.put("beta.test", "/", b"down", content_type="text/plain", status=500)
    assert net.client.post("/ping", data={"url": net.fed.url("beta.test")}).status_code == 202
    wait_for(lambda: net.group("Friends of Marsh Park")["source"]["status"] == "stale")
    src = net.group("Friends of Marsh Park")["source"]
    assert src["error_message"] == "the site answered HTTP 500 Internal Server Error"
    page = net.client.get(f"/groups/{key}").get_data(as_text=True)
    assert "status-stale" in page and "the site answered HTTP 500 Internal Server Error" in page
    assert found(net, "marsh%20park") == 1                      # still in the directory


def test_recrawl_interval_rechecks_known_sources(fresh_network):
    net = fresh_network(RECRAWL_INTERVAL=0.2)
    key = net.key("Cann Hall Foodbank")
    doc = net.fed.sites["food.test"]["/"].body.replace(b"Cann Hall Foodbank", b"Cann Hall Community Pantry")
    net.fed.put("food.test", "/", doc)
    wait_for(lambda: net.client.get(f"/api/groups/{key}").get_json()["name"] == "Cann Hall Community Pantry")
    wait_for(lambda: net.hub.background.status()["crawls"] >= 1)


def test_a_crash_in_one_crawl_does_not_stop_the_thread(fresh_network, monkeypatch):
    net = fresh_network()
    hub = net.hub
    real = type(hub).after_crawl
    calls = []

    def flaky(self, crawled_at):
        calls.append(crawled_at)
        if len(calls) == 1:
            raise RuntimeError("index disk full")
        return real(self, crawled_at)

    monkeypatch.setattr(type(hub), "after_crawl", flaky)
    net.client.post("/ping", data={"url": net.fed.url("late.test")})
    wait_for(lambda: hub.background.status()["last_error"] == "RuntimeError: index disk full")
    net.client.post("/ping", data={"url": net.fed.url("late.test")})
    wait_for(lambda: found(net, "latecomers") == 1)
    wait_for(lambda: hub.background.status()["last_error"] is None)


def test_a_ping_from_another_url_of_the_same_site_reaches_the_known_source(fresh_network):
    """A group found at / that withdraws its profile and pings with /profile.jsonld leaves the directory."""
    net = fresh_network()
    assert found(net, "marsh%20park") == 1
    for path in ("/", "/profile.jsonld"):
        net.fed.put("beta.test", path, b"withdrawn", content_type="text/plain", status=410)
    resp = net.client.post("/ping", data={"url": net.fed.url("beta.test", "/profile.jsonld")})
    assert resp.status_code == 202
    wait_for(lambda: found(net, "marsh%20park") == 0)
    gone = net.client.get("/sources.json?status=gone").get_json()["sources"]
    assert [s["url"] for s in gone] == [net.fed.url("beta.test")]


def test_a_ping_on_a_site_with_many_sources_rechecks_only_the_pinged_url(fresh_network):
    net = fresh_network(BACKGROUND=False)
    fed = net.fed
    paths = [f"/g{i}.jsonld" for i in range(7)]
    for i, path in enumerate(paths):
        fed.put("many.test", path, {"@context": "https://w3id.org/hubnet/context.jsonld",
                                    "@id": fed.url("many.test", f"{path}#group"), "@type": "Organization",
                                    "name": f"Hosted group {i}"})
    net.hub.settings.resolve[("many.test", fed.port)] = "127.0.0.1"
    for path in paths:
        net.hub.background.ping(fed.url("many.test", path))
    net.hub.background.start()
    assert net.hub.background.wait_idle(20)
    assert found(net, "hosted") == 7
    fed.clear_log()
    net.client.post("/ping", data={"url": fed.url("many.test", paths[0])})
    assert net.hub.background.wait_idle(20)
    assert [p for _, p, _ in fed.requests_to("many.test") if p != "/robots.txt"] == [paths[0]]
