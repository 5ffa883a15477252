"""Documents refused at parse time with a reason code, fetched by the real crawler (issue 12, finding 10):
group IRIs that hide their host behind userinfo, and RDF 1.2 triple terms (which used to end as
``internal_error`` in the store). The victim's graph stays the same; a known good source that starts
serving such a document keeps its last good graph."""

from __future__ import annotations

import json

import pytest

from hubnet.vocab.authority import speaks_for
from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import STALE, Store
from hubnet.testing import CONTEXT

HOSTS = ("victim.test", "evil.test")
pytestmark = pytest.mark.usefixtures("parse_workers")   # each case parsed in-process and in a parser process


def run(fed, store, seeds=()):
    s = Settings(allow_private=True, per_host_delay=0.0, retries=0, resolve=fed.resolve_map(*HOSTS))
    return Crawler(store, s).crawl(list(seeds))


@pytest.fixture
def world(fed, tmp_path):
    fed.put_profile("victim.test", "Victim Tenants' Association", path="/")
    store = Store(tmp_path / "store")
    run(fed, store, [fed.url("victim.test")])
    victim = fed.url("victim.test")
    yield store, victim, content_hash(store.graph_triples(victim))
    store.close()


def outcome_of(summary, url):
    [o] = [o for o in summary.outcomes if o.url == url]
    return o


# ---------------------------------------------------------------------- userinfo in identity IRIs
def userinfo_iris(fed):
    p = fed.port
    return {
        "victim host as user name": f"http://victim.test@evil.test:{p}/#group",
        "victim host and port as user:password": f"http://victim.test:{p}@evil.test:{p}/#group",
        "user and password": f"http://user:secret@evil.test:{p}/#group",
        "empty user name": f"http://@evil.test:{p}/#group",
    }


@pytest.mark.parametrize("case", ["victim host as user name", "victim host and port as user:password",
                                  "user and password", "empty user name"])
@pytest.mark.parametrize("beside_own_group", [False, True])
def test_a_group_iri_with_userinfo_is_refused(fed, world, case, beside_own_group):
    store, victim, before = world
    iri = userinfo_iris(fed)[case]
    disguised = {"@id": iri, "@type": "Organization", "name": "Victim Tenants' Association (official)"}
    own = {"@id": fed.url("evil.test", "/#group"), "@type": "Organization", "name": "Evil"}
    doc = {"@context": CONTEXT, "@graph": [own, disguised] if beside_own_group else [disguised]}
    fed.put("evil.test", "/", json.dumps(doc))
    outcome = outcome_of(run(fed, store, [fed.url("evil.test")]), fed.url("evil.test"))
    assert (outcome.result, outcome.code) == ("failed", "userinfo_in_iri")
    assert iri in outcome.message
    assert store.graph_triples(fed.url("evil.test")) == []
    assert content_hash(store.graph_triples(victim)) == before
    assert not speaks_for(fed.url("evil.test"), iri)          # and the authority rule never spoke for it


# ---------------------------------------------------------------------- RDF 1.2 triple terms
TURTLE = {
    "triple term as object": '<#group> a s:Organization ; s:name "Evil" ; s:about <<( <#group> s:name "Evil" )>> .',
    "annotation block": '<#group> a s:Organization ; s:name "Evil" {| s:author <#group> |} .',
    "reified triple as subject": '<#group> a s:Organization ; s:name "Evil" . << <#group> s:name "Evil" >> s:author <#group> .',
    "reified triple with reifier": '<#group> a s:Organization ; s:name "Evil" . << <#group> s:name "Evil" ~ <#r> >> s:author <#group> .',
    "triple term about the victim": '<#group> a s:Organization ; s:name "Evil" ; s:about <<( <{victim}#group> s:name "Pwned" )>> .',
}


@pytest.mark.parametrize("case", sorted(TURTLE))
def test_triple_terms_are_refused_with_a_reason_code(fed, world, case):
    store, victim, before = world
    body = "@prefix s: <http://schema.org/> .\n" + TURTLE[case].replace("{victim}", victim)
    fed.put("evil.test", "/", body, content_type="text/turtle")
    outcome = outcome_of(run(fed, store, [fed.url("evil.test")]), fed.url("evil.test"))
    assert (outcome.result, outcome.code) == ("failed", "triple_term_forbidden")
    assert store.graph_triples(fed.url("evil.test")) == []
    assert content_hash(store.graph_triples(victim)) == before


def test_a_good_source_that_starts_serving_triple_terms_keeps_its_last_good_graph(fed, world):
    store, victim, before = world
    fed.put("victim.test", "/", "@prefix s: <http://schema.org/> .\n" + TURTLE["annotation block"],
            content_type="text/turtle")
    outcome = outcome_of(run(fed, store), victim)
    assert outcome.code == "triple_term_forbidden"
    assert store.source(victim).status == STALE and content_hash(store.graph_triples(victim)) == before


JSONLD_STAR = {
    "embedded node as @id": {"@id": {"@id": "#group", "name": "x"}, "name": "y"},
    "annotation": {"name": {"@value": "Evil", "@annotation": {"description": "said so"}}},
}


@pytest.mark.parametrize("case", sorted(JSONLD_STAR))
@pytest.mark.parametrize("media", ["application/ld+json", "text/html"])
def test_json_ld_star_forms_never_reach_the_store_as_triple_terms(fed, world, case, media):
    """JSON-LD (alone or in HTML) cannot carry triple terms through this parser: the star forms are
    refused as invalid or read without them; nothing ends as internal_error."""
    store, victim, before = world
    doc = {"@context": CONTEXT, "@id": fed.url("evil.test", "/#group"), "@type": "Organization",
           "name": "Evil", **JSONLD_STAR[case]}
    body = json.dumps(doc)
    if media == "text/html":
        body = f'<html><script type="application/ld+json">{body}</script></html>'
    fed.put("evil.test", "/", body, content_type=media)
    outcome = outcome_of(run(fed, store, [fed.url("evil.test")]), fed.url("evil.test"))
    assert outcome.code != "internal_error"
    assert outcome.result == "new" or outcome.code in ("invalid_document", "no_group")
    stored = store.graph_triples(fed.url("evil.test"))
    assert not any("<<" in str(q) for q in stored)
    assert content_hash(store.graph_triples(victim)) == before
