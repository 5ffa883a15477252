"""Issue 12, finding 9: a one-sided link is a claim, never trust.

The attack: hostile sites each state a link (one per link property: memberOf,
member, parentOrganization, subOrganization, linkedTo, vouchesFor) to two
groups that do not know them and do not know each other. Crawled by the real
crawler over loopback: no attacker becomes an introducer between them, the two
stay isolated, no attacker is a bridge, and every such link is shown as a claim.
A control pair that confirms each other's links is trusted as before.
"""

from __future__ import annotations

import pytest

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import Store
from hubnet.crawler.web import create_app
from hubnet.testing import Federation
from hubnet.vocab.model import LINK_PROPERTIES

RELATIONS = sorted({str(p).rsplit("/", 1)[-1].rsplit("#", 1)[-1] for p in LINK_PROPERTIES})
ATTACKERS = {rel: f"x-{rel.lower()}.test" for rel in RELATIONS}
HOSTS = ("p.test", "q.test", "r.test", "s.test", *ATTACKERS.values())


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    fed = Federation()
    g = fed.group_iri
    fed.put_profile("p.test", "Pear Tree Allotments", path="/")
    fed.put_profile("q.test", "Quarry Lane Tenants", path="/")
    fed.put_profile("r.test", "Riverside Choir", path="/", vouchesFor=g("s.test"))   # confirmed by S
    fed.put_profile("s.test", "Southside Pantry", path="/", linkedTo=g("r.test"))
    for rel, host in ATTACKERS.items():
        fed.put_profile(host, f"Helpful {rel}", path="/", **{rel: [g("p.test"), g("q.test")]})
    path = tmp_path_factory.mktemp("trust") / "store"
    store = Store(path)
    settings = Settings(allow_private=True, per_host_delay=0.0, retries=0, resolve=fed.resolve_map(*HOSTS))
    Crawler(store, settings).crawl([fed.url(h, "/") for h in HOSTS])
    store.close()
    app = create_app({"STORE": str(path), "BACKGROUND": False, "QUERY_WORKERS": 1, "TESTING": True,
                      "CRAWL_SETTINGS": settings})
    app.extensions["hubnet.brokering"].warm()
    yield app.test_client(), fed, app
    app.extensions["hubnet"].close()
    fed.close()


def test_the_attackers_links_were_crawled_as_stated(env):
    client, fed, app = env
    net = app.extensions["hubnet.brokering"].network
    for rel, host in ATTACKERS.items():
        assert {(l["target"], l["relation"], l["mutual"]) for l in net.links_of(fed.group_iri(host))} == {
            (fed.group_iri("p.test"), rel, False), (fed.group_iri("q.test"), rel, False)}


def test_a_one_sided_link_introduces_nobody(env):
    client, fed, _ = env
    data = client.get("/api/introductions", query_string={"from": fed.group_iri("p.test"),
                                                          "to": fed.group_iri("q.test")}).get_json()
    assert data["paths"] == [] and data["hops"] is None
    control = client.get("/api/introductions", query_string={"from": fed.group_iri("r.test"),
                                                             "to": fed.group_iri("s.test")}).get_json()
    assert control["hops"] == 1     # a vouch the other side confirms is trust


@pytest.mark.parametrize("rel", RELATIONS)
def test_no_attacker_is_an_introducer_a_bridge_or_a_connection(env, rel):
    client, fed, app = env
    attacker = fed.group_iri(ATTACKERS[rel])
    net = app.extensions["hubnet.brokering"].network
    for victim in ("p.test", "q.test"):
        assert net.introductions(attacker, fed.group_iri(victim)) == []
    bridges = {b["id"] for b in client.get("/api/network/bridges").get_json()["bridges"]}
    assert attacker not in bridges
    isolated = {g["id"]: g for g in client.get("/api/network/isolated").get_json()["isolated"]}
    for victim in ("p.test", "q.test"):
        # still isolated, and the attacker's link is listed as its claim
        assert {"claimed_by": attacker, "about": fed.group_iri(victim), "relations": [rel]} in \
            isolated[fed.group_iri(victim)]["claims"]
    assert fed.group_iri("r.test") not in isolated and fed.group_iri("s.test") not in isolated


def test_the_network_page_shows_the_attackers_links_as_claims(env):
    client, fed, _ = env
    page = client.get("/network").get_data(as_text=True)
    for rel in RELATIONS:
        assert f"claimed: Helpful {rel} says {rel} Pear Tree Allotments; not confirmed" in page
