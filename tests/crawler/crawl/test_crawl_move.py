"""Leaving with your identity (issue 17, item 3), played through a running aggregator over loopback.

A group hosted at ``hub.test/elm/`` (IRI ``…/elm/#group``) moves to ``own.test/`` (``own.test/#group``):
the hub answers the old address with a 301, the new profile names the old IRI in ``sameAs``. Only when
both sides agree is it one group: one listing (the new), the old key redirecting to it, the first-seen
date carried over, and the links other groups state to the old IRI still counting (the group page,
mutual links, introductions, isolation, bridges). A redirect alone, a temporary redirect (302) or a
``sameAs`` claim alone is no move; the last is the attack: evil.test claiming the victim's IRI gains
nothing of the victim's (graph, listing, links).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import Store
from hubnet.crawler.store.index import group_key
from server_helpers import make_app

CONTEXT = "https://w3id.org/hubnet/context.jsonld"
HOSTS = ("hub.test", "own.test", "third.test", "fourth.test", "evil.test")
ELM, THIRD, FOURTH = "Elm Road Tenants", "Third Street Youth", "Fourth Avenue Allotments"
LONG_AGO = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)).replace(microsecond=0).isoformat()[:19] + "Z"


def doc(fed, iri: str, name: str, **extra) -> dict:
    return {"@context": CONTEXT, "@id": iri, "@type": "Organization", "name": name,
            "description": f"{name} works with neighbours.", **extra}


class Hub:
    """The aggregator: a store first crawled 30 days ago, then served; driven through its HTTP API."""

    def __init__(self, fed, path):
        self.fed = fed
        self.old, self.own = fed.url("hub.test", "/elm/#group"), fed.group_iri("own.test")
        self.third, self.fourth, self.evil = (fed.group_iri(h) for h in ("third.test", "fourth.test", "evil.test"))
        fed.put("hub.test", "/elm/", doc(fed, self.old, ELM, member={"@id": self.third}))
        fed.put("third.test", "/", doc(fed, self.third, THIRD, memberOf={"@id": self.old},
                                       member={"@id": self.fourth}))
        fed.put("fourth.test", "/", doc(fed, self.fourth, FOURTH, memberOf={"@id": self.third}))
        self.settings = Settings(allow_private=True, per_host_delay=0.0, retries=0, geocoder="off",
                                 resolve=fed.resolve_map(*HOSTS))
        store = Store(path)
        Crawler(store, self.settings, clock=lambda: LONG_AGO).crawl(
            [fed.url("hub.test", "/elm/"), fed.url("third.test")])
        store.close()
        self.app = make_app(fed, path, CRAWL_SETTINGS=self.settings)
        self.hub = self.app.extensions["hubnet"]
        self.client = self.app.test_client()
        self.old_key = group_key(self.old)
        assert self.get(f"/api/groups/{self.old_key}")["name"] == ELM

    def get(self, path: str, status: int = 200, **query):
        resp = self.client.get(path, query_string=query)
        assert resp.status_code == status, (path, resp.status_code, resp.data[:300])
        return resp.get_json()

    def recrawl(self) -> None:
        self.hub.background.recrawl()
        assert self.hub.background.wait_idle(60)

    def ping(self, url: str) -> None:
        assert self.client.post("/ping", data={"url": url}).status_code == 202
        assert self.hub.background.wait_idle(60)

    def named(self, name: str) -> list:
        return [g["id"] for g in self.get("/api/groups", q=name)["groups"]]

    def key(self, iri: str) -> str:
        return self.get(f"/api/groups/{quote(iri, safe='')}")["key"]

    def mutual(self) -> set:
        return {frozenset((l["a"], l["b"])) for l in self.get("/api/links", mutual="true")["links"]}

    def isolated(self) -> set:
        return {g["id"] for g in self.get("/api/network/isolated")["isolated"]}

    def bridges(self) -> set:
        return {g["id"] for g in self.get("/api/network/bridges")["bridges"]}

    def close(self) -> None:
        self.hub.close()


@pytest.fixture
def hub(fed, tmp_path):
    h = Hub(fed, tmp_path / "store")
    yield h
    h.close()


def move(hub, status: int, same_as: bool, to: str = "/") -> None:
    """The group publishes its own site (naming its old IRI in sameAs or not) and the hub redirects
    to ``to`` there. With ``to="/profile.jsonld"`` the group's new site is already known at ``/`` (it
    pinged), so the redirect names a second address of a source the hub holds."""
    fed = hub.fed
    extra = {"sameAs": {"@id": hub.old}} if same_as else {}
    new = doc(fed, hub.own, ELM, member={"@id": hub.third}, **extra)
    fed.put("own.test", "/", new)
    if to != "/":
        fed.put("own.test", to, new)
        hub.ping(fed.url("own.test"))
    fed.put("hub.test", "/elm/", "", content_type="text/plain", status=status,
            headers={"Location": fed.url("own.test", to)})
    hub.recrawl()


@pytest.mark.parametrize("to", ["/", "/profile.jsonld"])
def test_a_confirmed_move_is_one_group_with_its_history_and_links(hub, to):
    old_url, own_url = hub.fed.url("hub.test", "/elm/"), hub.fed.url("own.test")
    assert hub.mutual() == {frozenset((hub.old, hub.third)), frozenset((hub.third, hub.fourth))}
    assert hub.bridges() == {hub.third}
    move(hub, 301, same_as=True, to=to)

    # One group, the new one; the old source is a tombstone saying where it went.
    assert hub.named(ELM) == [hub.own]
    rec = hub.hub.store.source(old_url)
    assert (rec.status, rec.error_code, rec.moved_to, rec.triples) == ("gone", "moved", own_url, 0)
    assert hub.hub.store.graph_triples(old_url) == []
    assert own_url in rec.error_message
    # History: the new source carries the first-seen date of the old one.
    assert hub.hub.store.source(own_url).first_seen == LONG_AGO == rec.first_seen
    new_key = hub.key(hub.own)
    group = hub.get(f"/api/groups/{new_key}")
    assert group["source"]["first_seen"] == LONG_AGO and hub.old in group["moved_from"]
    assert "Moved here from" in hub.client.get(f"/groups/{new_key}").get_data(as_text=True)
    # The old key (and IRI) redirect permanently to the new group, page and API alike.
    for path, new_path in ((f"/api/groups/{hub.old_key}", f"/api/groups/{new_key}"),
                           (f"/groups/{hub.old_key}", f"/groups/{new_key}"),
                           (f"/api/groups/{quote(hub.old, safe='')}", f"/api/groups/{new_key}")):
        resp = hub.client.get(path)
        assert resp.status_code == 301 and resp.headers["Location"].endswith(new_path)
    # Third's link to the OLD IRI counts for the new group everywhere links count.
    assert [(l["source"], l["relation"], l["mutual"]) for l in group["linked_from"]] == [(hub.third, "memberOf", True)]
    third = hub.get(f"/api/groups/{hub.key(hub.third)}")
    assert {(l["group"], l["mutual"]) for l in third["links"]} >= {(hub.own, True)}
    assert hub.mutual() == {frozenset((hub.own, hub.third)), frozenset((hub.third, hub.fourth))}
    assert hub.own not in hub.isolated() and hub.bridges() == {hub.third}
    intro = hub.get("/api/introductions", **{"from": hub.key(hub.fourth), "to": new_key})
    assert intro["hops"] == 2 and [n["id"] for n in intro["paths"][0]] == [hub.fourth, hub.third, hub.own]
    # The next crawl (third still links the old IRI, so the old address is asked again) keeps it so.
    hub.recrawl()
    assert hub.named(ELM) == [hub.own] and hub.hub.store.source(old_url).error_code == "moved"
    assert hub.hub.store.source(own_url).first_seen == LONG_AGO


@pytest.mark.parametrize("status, same_as", [(301, False), (308, False), (302, True), (307, True)],
                         ids=["301 without sameAs", "308 without sameAs", "302 with sameAs", "307 with sameAs"])
def test_without_both_sides_agreeing_it_is_no_move(hub, status, same_as):
    old_url, own_url = hub.fed.url("hub.test", "/elm/"), hub.fed.url("own.test")
    move(hub, status, same_as)
    # Two groups: the old one kept for now (a redirect counts as a miss, as before), the new on its own.
    assert sorted(hub.named(ELM)) == sorted([hub.old, hub.own])
    rec = hub.hub.store.source(old_url)
    assert (rec.status, rec.error_code, rec.moved_to) == ("missing", "redirected", None)
    assert hub.hub.store.source(own_url).first_seen > LONG_AGO          # no history carried over
    assert hub.get(f"/api/groups/{hub.old_key}")["id"] == hub.old      # the old key is not redirected
    new = hub.get(f"/api/groups/{hub.key(hub.own)}")
    assert new["linked_from"] == [] and new["moved_from"] == []
    # Third's link to the old IRI stays the old group's: the new group's own claim is one-sided.
    assert frozenset((hub.own, hub.third)) not in hub.mutual() and hub.own in hub.isolated()


def record(store, url) -> dict:
    """A source's record but for the dates of its last check (a re-crawl refreshes those daily)."""
    return {k: v for k, v in store.source(url).to_dict().items() if k not in ("last_success", "last_checked")}


def test_a_same_as_claim_alone_takes_over_nothing(hub):
    """The attack: evil.test publishes a profile saying it is the victim (sameAs the victim's IRI),
    with the victim's name and links, and pings. The victim's hub address still answers itself."""
    store, victim_url = hub.hub.store, hub.fed.url("hub.test", "/elm/")
    before = (record(store, victim_url), content_hash(store.graph_triples(victim_url)))
    links_before, mutual_before = hub.get(f"/api/groups/{hub.old_key}")["linked_from"], hub.mutual()
    hub.fed.put("evil.test", "/", doc(hub.fed, hub.evil, ELM, sameAs={"@id": hub.old}, member={"@id": hub.third}))
    hub.ping(hub.fed.url("evil.test"))
    hub.recrawl()
    after = store.source(victim_url)
    assert (record(store, victim_url), content_hash(store.graph_triples(victim_url))) == before   # graph, record kept
    assert after.status == "ok" and after.moved_to is None
    victim = hub.get(f"/api/groups/{hub.old_key}")                   # still listed, still its own key
    assert victim["id"] == hub.old and victim["linked_from"] == links_before and victim["moved_from"] == []
    evil = hub.get(f"/api/groups/{hub.key(hub.evil)}")
    assert evil["linked_from"] == [] and evil["moved_from"] == []
    assert sorted(hub.named(ELM)) == sorted([hub.old, hub.evil])     # a second listing, never a merge
    assert hub.mutual() == mutual_before and hub.evil in hub.isolated()
    assert store.source(hub.fed.url("evil.test")).first_seen > LONG_AGO


def test_a_same_as_claim_from_a_site_the_redirect_does_not_name_is_no_move(hub):
    """The hub redirects the old address to own.test (which does not claim it); evil.test claims it.
    Only the site the old address points to can confirm a move."""
    hub.fed.put("evil.test", "/", doc(hub.fed, hub.evil, ELM, sameAs={"@id": hub.old}, member={"@id": hub.third}))
    hub.ping(hub.fed.url("evil.test"))
    move(hub, 301, same_as=False)
    rec = hub.hub.store.source(hub.fed.url("hub.test", "/elm/"))
    assert (rec.error_code, rec.moved_to) == ("redirected", None)
    evil = hub.get(f"/api/groups/{hub.key(hub.evil)}")
    assert evil["linked_from"] == [] and evil["moved_from"] == []
    assert hub.get(f"/api/groups/{hub.old_key}")["id"] == hub.old
    assert frozenset((hub.evil, hub.third)) not in hub.mutual() and hub.evil in hub.isolated()


def _old_address_gone(hub):
    hub.fed.put("hub.test", "/elm/", "withdrawn", content_type="text/plain", status=410)


def _same_as_dropped(hub):
    hub.fed.put("own.test", "/", doc(hub.fed, hub.own, ELM, member={"@id": hub.third}))


@pytest.mark.parametrize("end", [_old_address_gone, _same_as_dropped], ids=["old address 410", "sameAs dropped"])
def test_a_move_lasts_only_while_both_sides_agree(hub, end):
    move(hub, 301, same_as=True)
    assert hub.mutual() >= {frozenset((hub.own, hub.third))}
    end(hub)
    hub.recrawl()                       # third still links the old IRI: the old address is asked again
    rec = hub.hub.store.source(hub.fed.url("hub.test", "/elm/"))
    assert rec.status == "gone" and rec.error_code != "moved" and rec.moved_to is None
    assert hub.named(ELM) == [hub.own]                               # the group stays listed where it is
    assert hub.client.get(f"/api/groups/{hub.old_key}").status_code == 410   # no longer redirected
    assert hub.get(f"/api/groups/{hub.key(hub.own)}")["linked_from"] == []
    assert frozenset((hub.own, hub.third)) not in hub.mutual()
