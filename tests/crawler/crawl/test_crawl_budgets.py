"""Budgets (issue 12, finding 3): one ping, seed or site cannot fill the store.

Attack first: a pinged page that links to 1,000 sites (each linking on) adds at most the
ping budget, through ``POST /ping`` and the server's background crawler, also after a
re-crawl. Then every budget in ``Settings``, one row each: the excess is skipped (never
fetched) or refused (never stored) with the reason code ``over_quota``, and what fits is kept.
"""

from __future__ import annotations

import pytest

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.crawl.frontier import registrable_domain
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import OK, Store
from hubnet.testing import CONTEXT
from hubnet.testing import wait_for  # noqa: F401  (fixture)


def settings_for(fed, **kw) -> Settings:
    base = dict(allow_private=True, per_host_delay=0.0, retries=0, resolve=fed.resolve_map())
    base.update(kw)
    return Settings(**base)


def doc(fed, host, path="/", name=None, links=()):
    return {"@context": CONTEXT, "@id": fed.url(host, path + "#group"), "@type": "Organization",
            "name": name or f"Group at {host}{path}", "description": "A small group.",
            "linkedTo": [fed.group_iri(h) if "/" not in h else fed.url(h.split("/")[0], "/" + h.split("/", 1)[1])
                         + "#group" for h in links]}


def star(fed, hosts, hub="hub.test"):
    """hub.test links to every host in ``hosts``; each serves a small profile at /."""
    for h in hosts:
        if "/" in h:
            host, path = h.split("/", 1)
            fed.put(host, "/" + path, doc(fed, host, "/" + path))
        else:
            fed.put(h, "/", doc(fed, h))
    fed.put(hub, "/", doc(fed, hub, links=hosts))
    return fed.url(hub, "/")


def ok_sources(store) -> set:
    return {u for u, r in store.sources().items() if r.status == OK}


# ---------------------------------------------------------------------- the attack, through POST /ping
def test_a_ping_whose_page_links_to_a_thousand_sites_adds_at_most_the_ping_budget(fresh_network):
    net = fresh_network(BACKGROUND=False)
    fed, settings = net.fed, net.hub.settings
    before = set(net.hub.store.sources())
    far = [f"far{i}.test" for i in range(30)]
    sites = [f"s{i}.test" for i in range(1000)]
    for h in far:
        fed.put(h, "/", doc(fed, h))
    for h in sites:      # every linked site links on: unbounded, this reached 10,000 sources
        fed.put(h, "/", doc(fed, h, links=far))
    fed.put("evil.test", "/", doc(fed, "evil.test", links=sites))
    for h in ["evil.test", *sites, *far]:
        settings.resolve[(h, fed.port)] = "127.0.0.1"

    assert net.client.post("/ping", data={"url": fed.url("evil.test")}).status_code == 202
    net.hub.background.start()
    assert net.hub.background.wait_idle(60)
    added = set(net.hub.store.sources()) - before
    assert fed.url("evil.test") in added
    assert len(added) <= settings.ping_max_new_sources               # the pinged URL included
    assert not any(fed.requests_to(h) for h in far)                  # nothing two links away
    summary = net.hub.background.last_summary
    assert summary["skipped_by_reason"].get("over_quota", 0) >= 1, summary   # the excess is reported

    net.hub.background.recrawl()                                     # and a re-crawl does not widen it
    assert net.hub.background.wait_idle(60)
    added = set(net.hub.store.sources()) - before
    assert len(added) <= 1 + settings.max_outlinks
    assert not any(fed.requests_to(h) for h in far)


# ---------------------------------------------------------------------- every budget, one row each
def _sizes(fed, tmp_path):
    """Statements in hub.test's profile and in one linked site's (all linked sites are alike)."""
    store = Store(tmp_path / "measure")
    Crawler(store, settings_for(fed)).crawl([fed.url("hub.test")])
    recs = store.sources()
    hub = recs[fed.url("hub.test")].triples
    site = {r.triples for u, r in recs.items() if u != fed.url("hub.test")}
    store.close()
    assert len(site) == 1
    return hub, site.pop()


# name: (linked hosts, via, settings(hub_triples, site_triples) -> kw, expected OK sources among the links)
FIVE = [f"l{i}.test" for i in range(5)]
CASES = {
    "max_new_sources_per_seed": (FIVE, "seed", lambda h, s: dict(max_new_sources_per_seed=3), 2),
    "max_new_sources_per_domain": ([f"{c}.dom.test" for c in "abcde"], "seed",
                                   lambda h, s: dict(max_new_sources_per_domain=2), 2),
    "max_store_sources": (FIVE, "seed", lambda h, s: dict(max_store_sources=4), 3),
    "max_urls_per_host": ([f"plat.test/g{i}" for i in range(5)], "seed", lambda h, s: dict(max_urls_per_host=3), 3),
    "max_triples_per_seed": (FIVE, "seed", lambda h, s: dict(max_triples_per_seed=h + 2 * s), 2),
    "max_triples_per_domain": ([f"{c}.dom.test" for c in "abcde"], "seed",
                               lambda h, s: dict(max_triples_per_domain=3 * s), 3),
    "max_store_triples": (FIVE, "seed", lambda h, s: dict(max_store_triples=h + 4 * s), 4),
    "ping_max_new_sources": (FIVE, "ping", lambda h, s: dict(ping_max_new_sources=3), 2),
    "ping_max_triples": (FIVE, "ping", lambda h, s: dict(ping_max_triples=h + s), 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_budget_stops_the_excess_with_a_reason(fed, tmp_path, name):
    hosts, via, limits, expected = CASES[name]
    seed = star(fed, hosts)
    hub_t, site_t = _sizes(fed, tmp_path)
    fed.clear_log()
    store = Store(tmp_path / "store")
    summary = Crawler(store, settings_for(fed, **limits(hub_t, site_t))).crawl([seed], found_via=via)
    kept = ok_sources(store) - {seed}
    assert seed in ok_sources(store)
    assert len(kept) == expected, (summary.to_dict(), kept)
    over = [o for o in summary.outcomes if o.code == "over_quota"]
    assert len(over) == len(hosts) - expected, summary.to_dict()
    # Every refusal says which budget; a statement refusal is also on the source's record.
    for o in over:
        assert "not fetched" in o.message or "not stored" in o.message
        rec = store.source(o.url)
        if o.result == "failed":
            assert rec.error_code == "over_quota" and not rec.graph
        else:
            host, path = o.url.split("/", 3)[2].split(":")[0], "/" + o.url.split("/", 3)[3]
            assert o.result == "skipped" and rec is None and not fed.requests_to(host, path)
    store.close()


def test_a_ping_reaches_only_its_direct_links(fed, store):
    seed = star(fed, ["b.test"])
    fed.put("c.test", "/", doc(fed, "c.test"))
    fed.put("b.test", "/", doc(fed, "b.test", links=["c.test"]))
    summary = Crawler(store, settings_for(fed)).crawl([seed], found_via="ping")
    assert ok_sources(store) == {seed, fed.url("b.test")}
    assert fed.requests_to("c.test") == []
    [o] = [o for o in summary.outcomes if o.url == fed.url("c.test")]
    assert o.result == "skipped" and o.code == "over_quota"
    # An operator's seed follows links as deep as max_depth.
    other = Store(None)
    Crawler(other, settings_for(fed)).crawl([seed])
    assert fed.url("c.test") in ok_sources(other)


def test_a_source_that_grows_past_a_quota_keeps_its_last_good_graph(fed, store):
    seed = star(fed, FIVE)
    Crawler(store, settings_for(fed)).crawl([seed])
    held = store.sources()[fed.url("l0.test")].triples
    before = store.graph_triples(fed.url("l0.test"))
    big = doc(fed, "l0.test")
    big["knowsAbout"] = [f"topic {i}" for i in range(200)]
    fed.put("l0.test", "/", big)
    summary = Crawler(store, settings_for(fed, max_triples_per_domain=held + 50)).crawl()
    rec = store.source(fed.url("l0.test"))
    assert rec.status == "stale" and rec.error_code == "over_quota" and "per" not in rec.error_message.split()[0]
    assert store.graph_triples(fed.url("l0.test")) == before
    assert summary.to_dict()["failed_by_reason"] == {"over_quota": 1}


@pytest.mark.parametrize("host, domain", [
    ("www.example.co.uk", "example.co.uk"), ("example.co.uk", "example.co.uk"),
    ("a.github.io", "a.github.io"), ("b.a.github.io", "a.github.io"),
    ("x.alpha.test", "alpha.test"), ("alpha.test", "alpha.test"),
    ("a.localhost", "a.localhost"), ("b.a.localhost", "a.localhost"), ("localhost", "localhost"),
    ("co.uk", "co.uk"), ("github.io", "github.io"), ("WWW.Example.ORG.", "example.org"),
    ("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("www.xn--bcher-kva.de", "xn--bcher-kva.de"),
])
def test_registrable_domain_uses_the_public_suffix_list_offline(host, domain):
    assert registrable_domain(host) == domain


def test_a_host_over_its_url_cap_is_rechecked_in_turn(fed, store):
    """Known sources beyond max_urls_per_host wait (over_quota), a different sample each re-crawl."""
    seed = star(fed, [f"plat.test/g{i}" for i in range(5)])
    Crawler(store, settings_for(fed)).crawl([seed])
    checked = set()
    for _ in range(10):
        fed.clear_log()
        summary = Crawler(store, settings_for(fed, max_urls_per_host=4)).crawl()
        plat = {p for h, p, _ in fed.log if h == "plat.test" and p != "/robots.txt"}
        assert len(plat) == 4
        [waiting] = [o for o in summary.outcomes if o.code == "over_quota"]
        assert "/".join(waiting.url.split("/")[3:]) not in {p.lstrip("/") for p in plat}
        checked |= plat
    assert checked == {f"/g{i}" for i in range(5)}   # all five, over the re-crawls (fails by chance ~1e-7)
    assert all(r.status == OK for r in store.sources().values())
