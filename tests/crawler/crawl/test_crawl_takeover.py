"""Redirect takeover (issue 12, finding 1), played as the attacker plays it: anonymous POST /ping
calls against a running aggregator, hostile sites on loopback, the real crawler thread.

``evil/p -> 302 -> victim/`` must give evil nothing: no record owning the victim's graph, so no later
answer of evil's (410, 404 three times, its own profile, a 500, the redirect again) can drop or
re-attribute that graph, and the victim's record, graph, page and SPARQL answers stay as they were.
The same holds for a store written by the older crawler, which did record such a takeover. The variant:
a group that withdraws (410) is not kept listed through the attacker's redirect.
"""

from __future__ import annotations

import pytest

from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import OK, PROV, PROV_GRAPH, SourceRecord
from server_helpers import make_app

VICTIM, REFUGE, EVIL = "Victim Tenants' Association", "Riverside Refuge", "Evil Holdings"
HOSTS = ("victim.test", "refuge.test", "evil.test")


class Aggregator:
    """A running aggregator over loopback sites, driven only through its HTTP API."""

    def __init__(self, fed, path):
        self.fed = fed
        settings = Settings(allow_private=True, per_host_delay=0.0, retries=0, resolve=fed.resolve_map(*HOSTS))
        self.app = make_app(fed, path, CRAWL_SETTINGS=settings)
        self.hub = self.app.extensions["hubnet"]
        self.client = self.app.test_client()

    def ping(self, url: str) -> None:
        resp = self.client.post("/ping", data={"url": url})
        assert resp.status_code == 202, resp.data
        assert self.hub.background.wait_idle(30)

    def listed(self, name: str) -> int:
        return self.client.get("/api/groups", query_string={"q": name}).get_json()["total"]

    def sparql_knows(self, host: str, name: str) -> bool:
        ask = f'ASK {{ <{self.fed.group_iri(host)}> <http://schema.org/name> "{name}" }}'
        resp = self.client.get("/sparql", query_string={"query": ask})
        assert resp.status_code == 200, resp.data
        return resp.get_json()["boolean"]

    def state(self, url: str):
        """(record, hash of the graph, statements in the graph, sources naming the graph as derived from them)."""
        store = self.hub.store
        rec = store.source(url)
        triples = store.graph_triples(url)
        derived = {q.object.value for q in store.oxigraph.quads_for_pattern(
            None, None, None, PROV_GRAPH) if q.subject.value == url and q.predicate.value == PROV + "wasDerivedFrom"}
        return (rec.to_dict() if rec else None), content_hash(triples), len(triples), derived

    def close(self) -> None:
        self.hub.close()


@pytest.fixture
def agg(fed, tmp_path):
    fed.put_profile("victim.test", VICTIM, path="/")
    fed.put_profile("refuge.test", REFUGE, path="/")
    a = Aggregator(fed, tmp_path / "store")
    a.ping(fed.url("victim.test"))
    a.ping(fed.url("refuge.test"))
    yield a
    a.close()


def redirect(fed, to: str) -> None:
    fed.put("evil.test", "/p", "", content_type="text/plain", status=302, headers={"Location": to})


def assert_intact(agg, url, host, name, before) -> None:
    rec, digest, n, derived = agg.state(url)
    assert (rec, digest, n, derived) == before           # record, statements and attribution untouched
    assert rec["status"] == OK and rec["content_hash"] == digest and n > 0
    assert derived == {url}
    assert agg.listed(name) == 1 and agg.sparql_knows(host, name)
    key = agg.client.get("/api/groups", query_string={"q": name}).get_json()["groups"][0]["key"]
    page = agg.client.get(f"/groups/{key}")
    assert page.status_code == 200 and name.replace("'", "&#39;") in page.get_data(as_text=True)
    # no other record claims the graph
    assert {r.url for r in agg.hub.store.sources().values() if r.graph == url} == {url}


def legacy_takeover(agg, evil_url: str, victim_url: str) -> None:
    """The state the older crawler left after ``evil/p -> 302 -> victim/``: a record keyed by evil
    whose graph is the victim's, and the victim's graph said to be derived from evil."""
    store = agg.hub.store
    victim = store.source(victim_url)
    store.update_record(SourceRecord(url=evil_url, graph=victim_url, status=OK, found_via="ping",
                                     content_hash=victim.content_hash, triples=victim.triples,
                                     etag=victim.etag, first_seen=victim.first_seen))
    derived = f"<{PROV}wasDerivedFrom>"
    store.oxigraph.update(f"DELETE DATA {{ GRAPH <{PROV_GRAPH.value}> {{ <{victim_url}> {derived} <{victim_url}> }} }} ;"
                          f"INSERT DATA {{ GRAPH <{PROV_GRAPH.value}> {{ <{victim_url}> {derived} <{evil_url}> }} }}")


def move_gone(fed, agg, url):
    fed.put("evil.test", "/p", "withdrawn", content_type="text/plain", status=410)
    yield agg.ping(url)


def move_missing(fed, agg, url):
    fed.remove("evil.test", "/p")
    for _ in range(3):
        yield agg.ping(url)


def move_own_profile(fed, agg, url):
    fed.put("evil.test", "/p", {**_evil_doc(fed)})
    yield agg.ping(url)
    fed.put("evil.test", "/p", {**_evil_doc(fed), "description": "changed"})
    yield agg.ping(url)


def move_server_error(fed, agg, url):
    fed.put("evil.test", "/p", "oops", content_type="text/plain", status=500)
    yield agg.ping(url)


def move_redirect_again(fed, agg, url):
    for _ in range(4):
        yield agg.ping(url)


def _evil_doc(fed) -> dict:
    return {"@context": "https://w3id.org/hubnet/context.jsonld", "@id": fed.url("evil.test", "/p#group"),
            "@type": "Organization", "name": EVIL, "email": "boss@evil.test"}


MOVES = {"410": move_gone, "404 x3": move_missing, "own profile": move_own_profile,
         "500": move_server_error, "redirect again": move_redirect_again}


@pytest.mark.parametrize("store_from", ["this crawler", "older crawler"])
@pytest.mark.parametrize("move", sorted(MOVES))
def test_redirect_gives_the_attacker_nothing_to_drop(fed, agg, move, store_from):
    victim, evil = fed.url("victim.test"), fed.url("evil.test", "/p")
    redirect(fed, victim)
    if store_from == "this crawler":
        before = agg.state(victim)
        agg.ping(evil)                                  # the first anonymous ping: the redirect
        assert agg.hub.store.source(evil) is None       # no record, so nothing of the victim's to own
        assert agg.hub.background.last_summary["sources"]["skipped"] == 1
        assert_intact(agg, victim, "victim.test", VICTIM, before)
    else:
        legacy_takeover(agg, evil, victim)
        before = agg.state(victim)[:3] + ({victim},)    # the older crawler had re-attributed the graph
    for _ in MOVES[move](fed, agg, evil):               # the second ping(s): the attacker's move
        assert_intact(agg, victim, "victim.test", VICTIM, before)
        rec = agg.hub.store.source(evil)
        assert rec is None or rec.graph in (None, evil)


@pytest.mark.parametrize("store_from", ["this crawler", "older crawler"])
@pytest.mark.parametrize("evil_then", ["redirect again", "500", "own profile"])
def test_a_withdrawn_group_is_not_kept_listed_through_a_redirect(fed, agg, store_from, evil_then):
    refuge, evil = fed.url("refuge.test"), fed.url("evil.test", "/p")
    redirect(fed, refuge)
    if store_from == "this crawler":
        agg.ping(evil)
    else:
        legacy_takeover(agg, evil, refuge)
    fed.put("refuge.test", "/", "withdrawn", content_type="text/plain", status=410)
    agg.ping(refuge)                                    # the refuge withdraws its profile
    assert agg.listed(REFUGE) == 0 and not agg.sparql_knows("refuge.test", REFUGE)
    if evil_then == "500":
        fed.put("evil.test", "/p", "oops", content_type="text/plain", status=500)
    elif evil_then == "own profile":
        fed.put("evil.test", "/p", _evil_doc(fed))
    for _ in range(2):
        agg.ping(evil)
        assert agg.listed(REFUGE) == 0 and not agg.sparql_knows("refuge.test", REFUGE)
        assert agg.hub.store.graph_triples(refuge) == []
        assert agg.hub.store.source(refuge).status == "gone"
        assert not [r for r in agg.hub.store.sources().values() if r.graph == refuge and r.status != "gone"]
