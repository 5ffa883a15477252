"""Issue 12, finding 2: a profile repeating its values cannot blow up the aggregator's own queries.

The attack: a hostile site publishes one group whose name, description, email,
contact point, offers and needs each repeat a value far more than any real
profile does. The old matcher query joined six of those properties side by
side (k**6 rows), contacts five (k**5). Crawled here by the real crawler over
loopback, then:

- the values stored per subject and property are capped at the documented setting;
- every internal query (matcher, network, contacts, group page, index extract) reads
  a number of rows bounded by the statements in the store (rows counted, not timed);
- the pages and /api/contacts still answer for the other groups;
- the crawler thread never waits for the work after a crawl, and a request waits for a
  model build at most MODEL_WAIT (a build blocked on an event, not a clock).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter

import pyoxigraph as ox
import pytest

from hubnet.crawler.query.brokering import models as brokering
from hubnet.crawler.budget import Budget, OverBudget
from hubnet.crawler.query.contacts import contact_details
from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.query.groups import read_group
from hubnet.crawler.store.index import TextIndex
from hubnet.crawler.query.brokering.matching import Matcher
from hubnet.crawler.query.brokering.network import Network
from hubnet.crawler.crawl.extract import content_hash, parse_source
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import Store
from hubnet.crawler.web import create_app
from hubnet.testing import Federation

CAP = Settings().max_values_per_property
K = CAP + 20                      # more of each value than the cap keeps
CATEGORIES = ["meeting-space", "volunteers", "skills", "equipment", "food", "transport", "other"]
HOSTS = ("evil.test", "victim.test", "friend.test")
SCHEMA = "http://schema.org/"


def _many(prefix: str) -> list:
    return [f"{prefix} {i:03d}" for i in range(K)]


def hostile(fed) -> dict:
    item = {"name": _many("Free room"), "description": _many("Honest offer"), "category": CATEGORIES,
            "validThrough": [f"2099-{1 + i // 28:02d}-{1 + i % 28:02d}" for i in range(K)], "areaServed": _many("Leyton")}
    return fed.put_profile(
        "evil.test", _many("Totally Real Group"), path="/", description=_many("We help"),
        email=[f"a{i}@evil.test" for i in range(K)], telephone=[f"020 7946 {i:04d}" for i in range(K)],
        url=[f"http://evil.test:{fed.port}/p{i}" for i in range(K)], knowsAbout=_many("community"),
        contactPoint={"@type": "ContactPoint", "name": _many("Someone"), "email": [f"c{i}@evil.test" for i in range(K)],
                      "telephone": [f"020 7000 {i:04d}" for i in range(K)], "availableLanguage": _many("lang"),
                      "contactType": ["first point of contact"] + _many("desk")},
        makesOffer=[dict(item, **{"@type": "Offer"})], seeks=[dict(item, **{"@type": "Demand"})],
        location={"@type": "Place", "geo": {"@type": "GeoCoordinates", "latitude": [51.5 + i / 1000 for i in range(K)],
                                            "longitude": [-0.01 - i / 1000 for i in range(K)]}})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    fed = Federation()
    hostile(fed)
    fed.put_profile("victim.test", "Victim Food Bank", path="/", knowsAbout=["food"],
                    contactPoint={"@type": "ContactPoint", "contactType": "first point of contact",
                                  "email": "help@victim.test"},
                    linkedTo=fed.group_iri("friend.test"),
                    seeks=[{"@type": "Demand", "name": "Vans on Saturday", "category": "transport",
                            "areaServed": "Leyton"}])
    fed.put_profile("friend.test", "Friendly Transport", path="/", linkedTo=fed.group_iri("victim.test"),
                    makesOffer=[{"@type": "Offer", "name": "A van", "category": "transport", "areaServed": "Leyton"}])
    path = tmp_path_factory.mktemp("blowup") / "store"
    store = Store(path)
    settings = Settings(allow_private=True, per_host_delay=0.0, retries=0, resolve=fed.resolve_map(*HOSTS))
    Crawler(store, settings).crawl([fed.url(h, "/") for h in HOSTS])
    store.close()
    yield fed, path, settings
    fed.close()


@pytest.fixture
def store(world):
    """The crawled store, open for one test (the app tests open it themselves)."""
    s = Store(world[1])
    yield s
    s.close()


class Counting:
    """The real store, with the number of rows each query produced written down; a query reading
    more than ``bound`` rows fails the test there and then (an exploding join never finishes)."""

    def __init__(self, store, bound: int):
        self.store = store
        self.bound = bound
        self.rows: list = []

    def __getattr__(self, name):
        return getattr(self.store, name)

    def query(self, sparql, **kw):
        self.rows.append(0)
        for row in self.store.query(sparql, **kw):
            self.rows[-1] += 1
            assert self.rows[-1] <= self.bound, f"more than {self.bound} rows from:\n{sparql}"
            yield row


def _quads(store) -> int:
    return sum(1 for _ in store.oxigraph.quads_for_pattern(None, None, None, None))


def test_the_hostile_profile_was_stored_with_each_property_capped(world, store):
    fed = world[0]
    graph = ox.NamedNode(fed.url("evil.test", "/"))
    per = Counter((q.subject.value, q.predicate.value) for q in store.oxigraph.quads_for_pattern(None, None, None, graph))
    assert per and max(per.values()) == CAP
    capped = {p.rsplit("/", 1)[-1] for (s, p), n in per.items() if n == CAP}
    # every property the attacker repeated K times, on every node, was cut at the cap
    assert {"name", "description", "email", "telephone", "url", "knowsAbout", "availableLanguage", "contactType",
            "validThrough", "areaServed", "latitude", "longitude"} <= capped
    assert store.source(fed.url("evil.test", "/")).status == "ok"


@pytest.mark.parametrize("prop, values", [
    ("name", _many("Name")),                                                          # literals
    ("sameAs", [f"https://elsewhere.example/{i}" for i in range(K)]),                # IRIs
    ("knowsAbout", [{"@type": "Thing", "name": f"topic {i}"} for i in range(K)]),     # nested nodes
    ("makesOffer", [{"@type": "Offer", "name": f"offer {i}", "category": "other"} for i in range(K)]),
])
def test_parse_keeps_the_first_values_of_a_property_up_to_the_cap(prop, values):
    url = "https://cap.example/"
    doc = {"@context": "https://w3id.org/hubnet/context.jsonld", "@id": url + "#group", "@type": "Organization",
           "name": "Cap Test", prop: values}
    parsed = parse_source(json.dumps(doc).encode(), "application/ld+json", url, Settings())
    per = Counter((str(t.subject), str(t.predicate)) for t in parsed.triples)
    assert per[(f"<{url}#group>", f"<{SCHEMA}{prop}>")] == CAP and max(per.values()) == CAP
    assert parsed.notes and "were not kept" in parsed.notes[0]
    assert parsed.content_hash == content_hash(parsed.triples)       # the hash is of what is kept
    again = parse_source(json.dumps(doc).encode(), "application/ld+json", url, Settings())
    assert [str(t) for t in again.triples] == [str(t) for t in parsed.triples]   # the same first values


def test_every_internal_query_reads_rows_bounded_by_the_statements(world, store):
    fed = world[0]
    bound = 2 * _quads(store)           # linear: a query joining k-valued properties would read ~k**2 and more
    counting = Counting(store, bound)
    matcher = Matcher.from_store(counting)
    Network.from_store(counting)
    contact_details(counting, [fed.group_iri(h) for h in HOSTS])
    index = TextIndex(None)
    try:
        index.sync(counting)
        row = index.get(fed.group_iri("evil.test"))
        read_group(counting, index, row)
    finally:
        index.close()
    assert len(counting.rows) >= 8 and max(counting.rows) <= bound, (counting.rows, bound)
    assert any(n >= CAP for n in counting.rows)       # the hostile values were read, once each
    assert len([o for o in matcher.offers if o.group == fed.group_iri("evil.test")]) == 1


def test_a_budget_stops_an_internal_query_by_counting_its_clock():
    ticks = iter(range(10_000))
    budget = Budget(5, "the test", clock=lambda: next(ticks))   # each clock read is one "second"
    store = Store(None)
    store.oxigraph.add(ox.Quad(ox.NamedNode("http://x.test/a"), ox.NamedNode(SCHEMA + "name"), ox.Literal("a"),
                               ox.NamedNode("http://x.test/")))
    with pytest.raises(OverBudget) as err:
        for _ in range(10):
            list(budget.rows(store, "SELECT * { GRAPH ?g { ?s ?p ?o } }"))
    assert err.value.status == 503 and err.value.code == "server_busy" and err.value.retry_after > 0


@pytest.fixture
def app(world):
    fed, path, settings = world
    app = create_app({"STORE": str(path), "BACKGROUND": False, "QUERY_WORKERS": 1, "TESTING": True,
                      "CRAWL_SETTINGS": settings, "MODEL_WAIT": 0.05})
    yield app
    app.extensions["hubnet"].close()


def test_pages_and_contacts_still_answer_for_the_other_groups(world, app):
    fed = world[0]
    client = app.test_client()
    app.extensions["hubnet.brokering"].warm()
    contacts = client.get("/api/contacts?topic=food").get_json()
    assert [(g["id"], g["contact"]["email"]) for g in contacts["groups"]] == [(fed.group_iri("victim.test"),
                                                                               "help@victim.test")]
    evil = client.get("/api/contacts?topic=community").get_json()["groups"]
    assert [g["contact"]["type"] for g in evil if g["id"] == fed.group_iri("evil.test")] == ["first point of contact"]
    key = client.get("/api/groups?q=victim").get_json()["groups"][0]["key"]
    assert client.get(f"/groups/{key}").status_code == 200
    assert client.get("/").status_code == 200
    matches = client.get("/api/matches?category=transport").get_json()["matches"]
    assert [(m["need"]["name"], [o["name"] for o in m["offers"]]) for m in matches] == [("Vans on Saturday", ["A van"])]


def _blocked_builder(monkeypatch, name):
    """Replace a model's builder by one that waits for the test to release it."""
    started, release = threading.Event(), threading.Event()
    real = brokering.Models.BUILDERS[name]

    def slow(store, budget):
        started.set()
        release.wait(30)
        return real(store, budget)

    monkeypatch.setitem(brokering.Models.BUILDERS, name, slow)
    return started, release


def _bump(app):
    index = app.extensions["hubnet"].index
    index._set_meta(index._conn(), "generation", (index.meta("generation", 0) or 0) + 1)
    index._conn().commit()


def test_a_request_never_waits_for_a_model_build_beyond_the_bounded_wait(app, monkeypatch):
    client = app.test_client()
    models = app.extensions["hubnet.brokering"]
    models.warm()                                      # the builds started with the server are done
    models.invalidate()
    started, release = _blocked_builder(monkeypatch, "network")
    try:
        _bump(app)
        r = client.get("/api/network/bridges")         # no model yet: 503 + Retry-After, the build still blocked
        assert started.wait(30) and not release.is_set()
        assert r.status_code == 503 and r.get_json()["error"]["code"] == "server_busy"
        assert int(r.headers["Retry-After"]) >= 1
        assert client.get("/api/groups").status_code == 200   # what needs no model is unaffected
    finally:
        release.set()
    assert app.extensions["hubnet.brokering"]._start("network", app.extensions["hubnet"].index.meta("generation")
                                                     ).result(30) is not None
    previous = client.get("/api/network/bridges").get_json()
    started, release = _blocked_builder(monkeypatch, "network")
    try:
        _bump(app)
        r = client.get("/api/network/bridges")         # a model exists: the previous one answers at once
        assert started.wait(30) and not release.is_set()
        assert r.status_code == 200 and r.get_json() == previous
    finally:
        release.set()


def test_the_crawler_thread_does_not_wait_for_the_refresh_after_a_crawl(world, app, monkeypatch):
    fed = world[0]
    hub = app.extensions["hubnet"]
    started, release = threading.Event(), threading.Event()
    real = type(hub).refresh

    def slow_refresh(self, crawled_at):
        started.set()
        release.wait(30)
        return real(self, crawled_at)

    monkeypatch.setattr(type(hub), "refresh", slow_refresh)
    hub.refresher._work = hub.refresh
    hub.background.start()
    try:
        hub.background.ping(fed.url("victim.test", "/"))
        _wait(lambda: started.is_set())
        hub.background.ping(fed.url("friend.test", "/"))       # crawled while the refresh is still blocked
        _wait(lambda: hub.background.status()["crawls"] == 2)
        assert not release.is_set()
    finally:
        release.set()
    assert hub.background.wait_idle(30)


def _wait(cond, tries=600):
    for _ in range(tries):
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_an_index_sync_over_its_budget_stops_and_the_next_sync_finishes(store):
    ticks = itertools.count()
    index = TextIndex(None)
    try:
        first = index.sync(store, budget=Budget(2, "indexing", clock=lambda: next(ticks)))   # 3 clock reads
        assert first["unfinished"] and index.count() < len(HOSTS)
        assert index.meta("generation") == 1      # what it committed is visible to the models
        second = index.sync(store)
        assert "unfinished" not in second and index.count() == len(HOSTS)
        assert second["changed"] == len(HOSTS) - first["groups"]   # only what the first did not reach
    finally:
        index.close()


def test_a_build_over_its_budget_is_not_retried_by_every_request(app, monkeypatch):
    client, models = app.test_client(), app.extensions["hubnet.brokering"]
    models.warm()
    models.invalidate()
    calls = []

    def over(store, budget):
        calls.append(1)
        raise OverBudget("building the network model took longer than its budget")

    monkeypatch.setitem(brokering.Models.BUILDERS, "network", over)
    _bump(app)
    gen = app.extensions["hubnet"].index.meta("generation")
    for _ in range(3):
        r = client.get("/api/network/bridges")
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert models._start("network", gen).exception(30) is not None
    assert len(calls) == 1                 # the same data would fail again: the next change retries
