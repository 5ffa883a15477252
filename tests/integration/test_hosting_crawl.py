"""A real crawl of a node hosting many groups (issue 17, items 1 and 2 together).

The hosting node (SiteApp, what ``hubnet-node serve --site`` runs) serves two accepted groups on
loopback and declares ``"hosting": "path"`` at /.well-known/hubnet. The real crawler, seeded from the
site's index, finds both; a hosted document that makes statements about the other hosted group has
them dropped, because the node's declaration makes the aggregator apply the path rule.
"""

from __future__ import annotations

import json

import pyoxigraph as ox
import pytest
import requests

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.store.graph import Store
from hubnet.node.doc import dump
from hubnet.testing import loopback_settings

from site_helpers import HostedSite

pytestmark = pytest.mark.slow


def about(store, iri) -> dict:
    out: dict = {}
    for q in store.oxigraph.quads_for_pattern(ox.NamedNode(iri), None, None, None):
        out.setdefault(q.graph_name.value, []).append(f"{q.predicate} {q.object}")
    return {g: sorted(v) for g, v in out.items()}


def test_a_crawl_finds_the_hosted_groups_and_applies_the_path_rule(tmp_path):
    site = HostedSite(tmp_path / "hub")
    try:
        for slug, name in (("alpha", "Alpha Allotments"), ("beta", "Beta Bakers")):
            link = site.add(name, slug=slug, email=f"{slug}@example.org", description=f"{name} on the hub.")
            assert site.accept(link, f"{slug}-password-long").status_code == 200
        # A draft the crawl must not find.
        assert site.site("add", "Gamma Draft", "--email", "g@example.org").exit_code == 0
        seeds = [g["profile"] for g in requests.get(site.base + "/index.json", timeout=10).json()["groups"]]
        assert len(seeds) == 2

        store = Store(tmp_path / "store")
        settings = loopback_settings(site.server.server_port, [])
        first = Crawler(store, settings).crawl(seeds)
        assert first.counts["new"] == 2, first.to_dict()
        beta_iri, alpha_iri = f"{site.base}/beta/#group", f"{site.base}/alpha/#group"
        names = {g: about(store, g) for g in (alpha_iri, beta_iri)}
        assert any('"Beta Bakers"' in s for stmts in names[beta_iri].values() for s in stmts)
        beta_before = about(store, beta_iri)

        # alpha's document now speaks about beta (as a hostile hosted group could write it).
        doc = json.loads(site.profile("alpha"))
        doc["memberOf"] = {"@id": beta_iri, "@type": "Organization", "name": "Beta is closed; go to evil.test",
                           "email": "scam@evil.test"}
        (site.folder / "groups" / "alpha" / "profile.jsonld").write_bytes(dump(doc))
        second = Crawler(store, settings).crawl(seeds)

        alpha_out = [o for o in second.outcomes if o.url == f"{site.base}/alpha/profile.jsonld"]
        assert alpha_out and alpha_out[0].result == "updated", second.to_dict()
        assert alpha_out[0].dropped_foreign >= 2
        assert about(store, beta_iri) == beta_before     # nothing new about beta, in any graph
        assert f"<http://schema.org/memberOf> <{beta_iri}>" in about(store, alpha_iri)[alpha_out[0].url]
        assert not any("gamma" in url for url in store.sources())
    finally:
        site.close()
