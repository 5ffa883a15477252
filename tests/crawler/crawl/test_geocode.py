"""The aggregator geocodes groups that give a postcode but no position (issue 14), against a fake
postcodes.io on loopback: found, unknown postcode, geocoder down, bulk batching of more than 100,
the cache, and what is derived kept in the aggregator's own graph, never in the group's."""

from __future__ import annotations

import json
import logging

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


def many(fed, geo, n):
    """``n`` groups on many.test, each with its own postcode, every one known to the geocoder."""
    codes = [f"E{i // 10 + 1} {i % 10}AA" for i in range(n)]
    geo.known.update({c: dict(E10_5AA, postcode=c, latitude=51.0 + i / 1000) for i, c in enumerate(codes)})
    fed.put("many.test", "/", {"@context": CONTEXT, "@graph": [group(fed, "many.test", c, f"g{i}")
                                                                for i, c in enumerate(codes)]})


def test_more_than_100_postcodes_go_in_bulk_requests_of_at_most_100(env):
    fed, store, geo = env
    many(fed, geo, 150)
    _, located = crawl(fed, store, geo.url, "many.test")
    assert [len(b) for b in geo.bulk] == [100, 50] and geo.requests == ["/postcodes", "/postcodes"]
    assert len(located) == 150 and located[fed.url("many.test", "/#g149")][0] == pytest.approx(51.149)


@pytest.mark.parametrize("n, asked", [(1, ["/postcodes/E1%200AA"]), (150, ["/postcodes", "/postcodes"])])
def test_an_answer_that_arrives_in_pieces_is_read_whole_and_used(env, n, asked):
    """A geocoder's answer read only as far as it had arrived was taken for "not JSON": no positions."""
    fed, store, geo = env
    geo.pieces = 5
    many(fed, geo, n)
    _, located = crawl(fed, store, geo.url, "many.test")
    assert geo.requests == asked and len(located) == n
    assert located[fed.url("many.test", f"/#g{n - 1}")][0] == pytest.approx(51.0 + (n - 1) / 1000)
    assert store.source(fed.url("many.test")).geocode_note is None


def test_a_geocoder_failing_mid_way_keeps_what_it_answered_and_says_so_in_the_log(env, caplog):
    fed, store, geo = env
    geo.bulk_fails_after = 1
    many(fed, geo, 150)
    with caplog.at_level(logging.WARNING, logger="hubnet.crawler.crawl.geocode"):
        _, located = crawl(fed, store, geo.url, "many.test")
    assert [len(b) for b in geo.bulk] == [100, 50] and len(located) == 100
    assert "answered HTTP 503" in store.source(fed.url("many.test")).geocode_note
    assert [r.getMessage() for r in caplog.records if r.name == "hubnet.crawler.crawl.geocode"] == [
        f"the postcode lookup at {geo.url} failed (it answered HTTP 503): 50 of 150 postcodes not looked up; "
        "they are asked again at the next crawl"]
    geo.bulk_fails_after = None                     # back: only the 50 are asked, and all are on the map
    _, located = crawl(fed, store, geo.url, "many.test")
    assert [len(b) for b in geo.bulk] == [100, 50, 50] and geo.bulk[-1] == geo.bulk[1]
    assert len(located) == 150 and store.source(fed.url("many.test")).geocode_note is None


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
