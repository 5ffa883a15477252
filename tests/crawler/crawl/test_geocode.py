"""The aggregator geocodes groups that give a postcode but no position (issue 14), against a fake
postcodes.io on loopback: found, unknown postcode, geocoder down, bulk batching of more than 100,
the cache, and what is derived kept in the aggregator's own graph, never in the group's."""

from __future__ import annotations

import json

import pyoxigraph as ox
import pytest
from click.testing import CliRunner

from hubnet.crawler.cli import main
from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.crawl.geocode import GEO_GRAPH
from hubnet.crawler.service import Aggregator
from hubnet.crawler.settings import load
from hubnet.crawler.store.graph import Store
from hubnet.testing import Federation

from fake_geocoder import E10_5AA, FakeGeocoder, down_url

CONTEXT = "https://w3id.org/hubnet/context.jsonld"
HUBNET = "https://w3id.org/hubnet/ns#"


def group(fed, host, postcode=None, frag="group", geo=None) -> dict:
    place = {"@type": "Place", "address": {"@type": "PostalAddress", "addressLocality": "Leyton"}}
    if postcode:
        place["address"]["postalCode"] = postcode
    if geo:
        place["geo"] = {"@type": "GeoCoordinates", "latitude": geo[0], "longitude": geo[1]}
    return {"@id": fed.url(host, f"/#{frag}"), "@type": "Organization", "name": f"{host} {frag}", "location": place}


@pytest.fixture
def env(tmp_path):
    fed = Federation()
    store = Store(tmp_path / "store")
    with FakeGeocoder() as geo:
        yield fed, store, geo
    store.close()
    fed.close()


def crawl(fed, store, geocoder, *hosts):
    settings = fed.settings(*hosts, geocoder=geocoder)
    summary = Crawler(store, settings).crawl([fed.url(h) for h in hosts])
    with Aggregator(store, settings) as hub:
        hub.after_crawl()
        located = {g["id"]: (g["lat"], g["lon"]) for g in hub.index.iter_all(with_coordinates=True)}
    return summary, located


def own_graph(store, fed, host) -> set:
    return {str(q) for q in store.graph_triples(fed.url(host))}


def test_found_postcode_puts_the_group_on_the_map_from_the_aggregators_own_graph(env):
    fed, store, geo = env
    fed.put("elm.test", "/", {"@context": CONTEXT, **group(fed, "elm.test", " e10 5aa ")})
    summary, located = crawl(fed, store, geo.url, "elm.test")
    iri = fed.url("elm.test", "/#group")
    assert summary.counts["new"] == 1 and located == {iri: (E10_5AA["latitude"], E10_5AA["longitude"])}
    assert geo.requests == ["/postcodes/E10%205AA"]                      # one postcode: GET
    # The group's graph holds only what the group said; the position is the aggregator's, with provenance.
    assert not any("latitude" in t for t in own_graph(store, fed, "elm.test"))
    rows = list(store.query(f"""
        SELECT ?pc ?who ?when WHERE {{ GRAPH <{GEO_GRAPH}> {{
          <{iri}> <http://schema.org/location> ?p . ?p <{HUBNET}fromPostcode> ?pc ;
             <http://www.w3.org/ns/prov#wasAttributedTo> ?who ; <http://www.w3.org/ns/prov#generatedAtTime> ?when }} }}"""))
    assert [(r["pc"].value, r["who"].value) for r in rows] == [("E10 5AA", "https://w3id.org/hubnet/agent/aggregator")]
    assert store.source(fed.url("elm.test")).geocode_note is None

    geo.requests.clear()
    crawl(fed, store, geo.url, "elm.test")                               # cached: not asked again
    assert geo.requests == []


@pytest.mark.parametrize("postcode, geocoder, words", [
    ("ZZ9 9ZZ", "fake", "does not know the postcode ZZ9 9ZZ"),
    ("not a postcode", "fake", "is not a UK postcode"),
    ("E10 5AA", "down", "could not be reached"),
])
def test_no_position_is_a_note_on_the_health_never_a_failed_crawl(env, postcode, geocoder, words):
    fed, store, geo = env
    fed.put("elm.test", "/", {"@context": CONTEXT, **group(fed, "elm.test", postcode)})
    summary, located = crawl(fed, store, geo.url if geocoder == "fake" else down_url(), "elm.test")
    assert summary.counts["new"] == 1 and summary.counts["failed"] == 0 and located == {}
    note = store.source(fed.url("elm.test")).geocode_note
    assert note and note.startswith("not on the map") and words in note, note
    if geocoder == "down":   # the next crawl, with the geocoder back, puts it on the map and clears the note
        _, located = crawl(fed, store, geo.url, "elm.test")
        assert list(located.values()) == [(E10_5AA["latitude"], E10_5AA["longitude"])]
        assert store.source(fed.url("elm.test")).geocode_note is None


def test_more_than_100_postcodes_go_in_bulk_requests_of_at_most_100(env):
    fed, store, geo = env
    codes = [f"E{n // 10 + 1} {n % 10}AA" for n in range(150)]
    geo.known.update({c: dict(E10_5AA, postcode=c, latitude=51.0 + n / 1000) for n, c in enumerate(codes)})
    fed.put("many.test", "/", {"@context": CONTEXT, "@graph": [group(fed, "many.test", c, f"g{n}")
                                                                for n, c in enumerate(codes)]})
    _, located = crawl(fed, store, geo.url, "many.test")
    assert [len(b) for b in geo.bulk] == [100, 50] and geo.requests == ["/postcodes", "/postcodes"]
    assert len(located) == 150 and located[fed.url("many.test", "/#g149")][0] == pytest.approx(51.149)


def test_a_group_with_its_own_position_keeps_it_and_is_looked_up_only_for_its_areas(env):
    fed, store, geo = env
    fed.put("elm.test", "/", {"@context": CONTEXT, **group(fed, "elm.test", "E10 5AA", geo=(51.6, -0.02))})
    _, located = crawl(fed, store, geo.url, "elm.test")
    assert geo.requests == ["/postcodes/E10%205AA"] and list(located.values()) == [(51.6, -0.02)]
    assert not [q for q in store.graph_triples(GEO_GRAPH) if "/place/" in str(q.subject)]   # no derived position
    assert store.source(fed.url("elm.test")).geocode_note is None


def test_the_derived_position_is_kept_once_and_goes_when_the_group_gives_its_own(env):
    fed, store, geo = env
    fed.put("elm.test", "/", {"@context": CONTEXT, **group(fed, "elm.test", "E10 5AA")})
    crawl(fed, store, geo.url, "elm.test")
    derived = lambda: sorted(str(q) for q in store.graph_triples(GEO_GRAPH) if "/place/" in str(q.subject))  # noqa: E731
    first = derived()
    crawl(fed, store, geo.url, "elm.test")          # nothing changed: the derived statements are not rewritten
    assert derived() == first and first
    fed.put("elm.test", "/", {"@context": CONTEXT, **group(fed, "elm.test", "E10 5AA", geo=(51.7, -0.1))})
    _, located = crawl(fed, store, geo.url, "elm.test")
    assert derived() == [] and list(located.values()) == [(51.7, -0.1)]


def test_off_asks_nothing(env):
    fed, store, geo = env
    fed.put("elm.test", "/", {"@context": CONTEXT, **group(fed, "elm.test", "E10 5AA")})
    _, located = crawl(fed, store, "off", "elm.test")
    assert geo.requests == [] and located == {} and store.source(fed.url("elm.test")).geocode_note is None


@pytest.mark.parametrize("value", ["ftp://geo.example/", "geo.example", "http://user@geo.example/", "http://"])
def test_the_geocoder_option_refuses_what_is_not_an_address(tmp_path, value):
    result = CliRunner().invoke(main, ["crawl", "http://a.example/", "--geocoder", value,
                                       "--store", str(tmp_path / "s")])
    assert result.exit_code == 2 and "--geocoder" in result.output and "Traceback" not in result.output


def test_the_geocoder_comes_from_the_environment():
    assert load(environ={"HUBNET_GEOCODER": "http://127.0.0.1:9/"}).geocoder == "http://127.0.0.1:9/"
    assert load(environ={}).geocoder == "https://api.postcodes.io"
