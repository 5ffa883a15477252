"""One group, one source (issue 14), in the crawler itself: a node answers at / and at
/profile.jsonld; links reach / and pings name /profile.jsonld. Edits, withdrawal and
publishing again through either address keep the group one source with its first-seen date."""

from __future__ import annotations

import pytest

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.store.graph import Store
from hubnet.testing import Federation

HOST = "elm.test"
CONTEXT = "https://w3id.org/hubnet/context.jsonld"


@pytest.fixture
def site(tmp_path):
    fed = Federation()
    store = Store(tmp_path / "store")
    yield fed, store
    store.close()
    fed.close()


def publish(fed, name, status=200, paths=("/", "/profile.jsonld")):
    doc = {"@context": CONTEXT, "@id": fed.group_iri(HOST), "@type": "Organization", "name": name}
    for path in paths:
        fed.put(HOST, path, doc if status == 200 else "withdrawn", status=status)


def ping(fed, store, path="/profile.jsonld"):
    return Crawler(store, fed.settings(HOST, per_host_delay=0)).crawl(
        [fed.url(HOST, path)], found_via="ping", recheck_known=False)


def names(store):
    return sorted(r[0].value for r in store.query(
        "SELECT ?n { ?g a <http://schema.org/Organization> ; <http://schema.org/name> ?n }"))


def test_edit_withdraw_and_publish_again_through_the_pinged_address(site):
    fed, store = site
    publish(fed, "Elm Road")
    Crawler(store, fed.settings(HOST, per_host_delay=0)).crawl([fed.url(HOST)])
    (first,) = store.sources().values()
    assert first.url == fed.url(HOST)

    publish(fed, "Elm Road RA")                      # an edit: the node pings /profile.jsonld
    ping(fed, store)
    assert names(store) == ["Elm Road RA"] and list(store.sources()) == [first.url]

    publish(fed, "", status=410)                     # unpublish
    ping(fed, store)
    (gone,) = store.sources().values()
    assert (gone.url, gone.status, names(store)) == (first.url, "gone", [])
    assert gone.about == fed.group_iri(HOST)

    publish(fed, "Elm Road RA")                      # publish again
    ping(fed, store)
    (back,) = store.sources().values()
    assert (back.url, back.status, back.first_seen, names(store)) == (first.url, "ok", first.first_seen,
                                                                      ["Elm Road RA"])


def test_many_addresses_of_one_group_read_its_source_once_a_crawl(site):
    fed, store = site
    publish(fed, "Elm Road")
    Crawler(store, fed.settings(HOST, per_host_delay=0)).crawl([fed.url(HOST)])
    aliases = [f"/copy{i}.jsonld" for i in range(8)]
    publish(fed, "Elm Road", paths=aliases)
    fed.clear_log()
    Crawler(store, fed.settings(HOST, per_host_delay=0)).crawl([fed.url(HOST, p) for p in aliases])
    assert len(fed.requests_to(HOST, "/")) == 2     # the re-check of the crawl, and one for the aliases
    assert list(store.sources()) == [fed.url(HOST)]


def test_a_ping_for_an_unknown_address_of_an_unknown_site_is_still_a_failure(site):
    fed, store = site
    fed.put(HOST, "/", "nothing here", status=404)
    summary = ping(fed, store, "/")
    assert [(o.result, o.code) for o in summary.outcomes] == [("failed", "not_found")]
