"""Authority on a shared host (issue 17, item 2), through the real crawler on loopback.

hub.test hosts two groups by path (/alpha/ and /beta/) and says so in /.well-known/hubnet. A
document of one that makes statements about the other (or about the hub's own pages) has them
dropped: the victim's graph is unchanged and no other graph says anything about it. Without the
declaration the host is one site, and the origin rule (a document speaks for its whole site) holds.
"""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.store.graph import Store
from hubnet.testing import Federation

HUB = "hub.test"


@pytest.fixture
def hub():
    fed = Federation()
    yield fed
    fed.close()


def group(fed, slug, name, **extra):
    iri = fed.url(HUB, f"/{slug}/#group")
    doc = {"@context": "https://w3id.org/hubnet/context.jsonld", "@id": iri, "@type": "Organization",
           "name": name, "description": f"{name}, hosted on the hub.", "email": f"{slug}@hub.test", **extra}
    fed.put(HUB, f"/{slug}/", doc)
    return iri


def crawl(fed, store):
    return Crawler(store, fed.settings(HUB)).crawl([fed.url(HUB, "/alpha/"), fed.url(HUB, "/beta/")])


def about(store, iri) -> dict:
    """graph -> sorted statements about ``iri`` in it."""
    out: dict = {}
    for q in store.oxigraph.quads_for_pattern(ox.NamedNode(iri), None, None, None):
        out.setdefault(q.graph_name.value, []).append(f"{q.predicate} {q.object}")
    return {g: sorted(v) for g, v in out.items()}


# Claims alpha's document makes about others on the same host, by where the subject is.
CLAIMS = {
    "another group": "/beta/#group",
    "another group's page": "/beta/profile.jsonld#x",
    "the hub's own page": "/#hub",
    "a dot-segment disguise": "/alpha/../beta/#group",
    "an encoded-slash disguise": "/alpha%2F..%2Fbeta/#group",
}


@pytest.mark.parametrize("hosting", [True, False], ids=["hosting-by-path", "single-site"])
@pytest.mark.parametrize("claim", CLAIMS)
def test_a_hosted_group_cannot_speak_for_another_on_the_same_host(hub, tmp_path, hosting, claim):
    if hosting:
        hub.put(HUB, "/.well-known/hubnet", {"hosting": "path"}, content_type="application/json")
    alpha = group(hub, "alpha", "Alpha Allotments")
    victim_iri = hub.url(HUB, CLAIMS[claim])
    group(hub, "beta", "Beta Bakers")
    store = Store(tmp_path / "store")
    first = crawl(hub, store)
    assert first.counts["new"] == 2, first.to_dict()
    before = store.sources()[hub.url(HUB, "/beta/")].content_hash
    victim_before = about(store, victim_iri)

    group(hub, "alpha", "Alpha Allotments", memberOf=victim_iri,
          subOrganization={"@id": victim_iri, "@type": "Organization", "name": "Beta is closed; go to evil.test",
                           "email": "scam@evil.test"})
    summary = crawl(hub, store)

    alpha_out = [o for o in summary.outcomes if o.url == hub.url(HUB, "/alpha/")]
    assert alpha_out and alpha_out[0].result == "updated", summary.to_dict()
    assert store.sources()[hub.url(HUB, "/beta/")].content_hash == before
    claimed = about(store, victim_iri)
    alpha_graph = hub.url(HUB, "/alpha/")
    if hosting:
        assert claimed == victim_before, claimed          # nothing new about the victim, anywhere
        assert alpha_out[0].dropped_foreign >= 3
        # alpha's own statements (its link to the victim among them) are kept
        assert f"<http://schema.org/memberOf> <{victim_iri}>" in about(store, alpha)[alpha_graph]
    elif "disguise" not in claim:
        # One site: the origin rule lets a document speak for its whole site (the control).
        assert "<http://schema.org/email> \"scam@evil.test\"" in claimed[alpha_graph]
    # Hosting or not, the host's /.well-known/hubnet is asked at most once per crawl (two crawls here).
    assert 1 <= len(hub.requests_to(HUB, "/.well-known/hubnet")) <= 2
    store.close()


def test_the_well_known_is_not_asked_when_no_document_crosses_paths(hub, tmp_path):
    hub.put(HUB, "/.well-known/hubnet", {"hosting": "path"}, content_type="application/json")
    group(hub, "alpha", "Alpha Allotments")
    group(hub, "beta", "Beta Bakers")
    store = Store(tmp_path / "store")
    assert crawl(hub, store).counts["new"] == 2
    assert hub.requests_to(HUB, "/.well-known/hubnet") == []
    store.close()
