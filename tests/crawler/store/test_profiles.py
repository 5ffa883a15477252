"""One reading of a group's place (store/profiles.py): the index, the group page and matching agree.

A profile may give coordinates on the Place itself or on its GeoCoordinates node, on several
places, with a value out of range. Each shape is crawled into the real store, and the directory
(the text index), the group page (read_group) and matching must give the same (lat, lon): the
first place by IRI with a valid pair, never a latitude of one place with the longitude of another
(before, the index took the least latitude and the least longitude separately).
"""

from __future__ import annotations

import json

import pytest

from hubnet.crawler.crawl.extract import parse_source
from hubnet.crawler.query.brokering.matching import Matcher
from hubnet.crawler.query.groups import read_group
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import OK, SourceRecord, Store
from hubnet.crawler.store.index import TextIndex

URL = "https://p.test/"


def place(iri, lat=None, lon=None, geo=None):
    node = {"@id": URL + iri, "@type": "Place"}
    if lat is not None:
        node["latitude"] = lat
    if lon is not None:
        node["longitude"] = lon
    if geo is not None:
        node["geo"] = {"@id": URL + iri + "-geo", "@type": "GeoCoordinates", **geo}
    return node


# (case, the group's places, the expected (lat, lon) or None), written out by hand.
CASES = [
    ("own coordinates", [place("a", 51.5, -0.1)], (51.5, -0.1)),
    ("through geo", [place("a", geo={"latitude": 51.5, "longitude": -0.1})], (51.5, -0.1)),
    ("two places, never mixed", [place("a", 50, 9), place("b", 51, 10)], (50.0, 9.0)),
    ("the same, listed the other way", [place("b", 51, 10), place("a", 50, 9)], (50.0, 9.0)),
    ("a place out of range is passed over", [place("a", 95, 9), place("b", 51, 10)], (51.0, 10.0)),
    ("a longitude out of range too", [place("a", 50, 190), place("b", 51, 10)], (51.0, 10.0)),
    ("only a latitude", [place("a", 51.5)], None),
    ("latitude on one place, longitude on another", [place("a", 51.5), place("b", None, 9)], None),
    ("own and geo: the first by IRI", [place("a", 50, 9, geo={"latitude": 51, "longitude": 10})], (50.0, 9.0)),
]


def crawl(places) -> Store:
    store = Store(None)
    doc = {"@context": "https://w3id.org/hubnet/context.jsonld", "@id": URL + "#group", "@type": "Organization",
           "name": "P", "location": places,
           "seeks": {"@type": "Demand", "name": "A room", "category": "meeting-space"}}
    parsed = parse_source(json.dumps(doc).encode(), "application/ld+json", URL, Settings())
    store.replace_source(SourceRecord(url=URL, graph=URL, status=OK, content_hash=parsed.content_hash),
                         parsed.triples)
    return store


@pytest.mark.parametrize("places, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_index_group_page_and_matching_read_the_same_place(places, expected):
    store = crawl(places)
    index = TextIndex(None)
    index.sync(store)
    row = index.by_iris([URL + "#group"])[URL + "#group"]
    page = read_group(store, index, row)
    [need] = Matcher.from_store(store).needs
    lat, lon = expected or (None, None)
    assert (row["lat"], row["lon"]) == (lat, lon)
    assert (page["location"]["lat"], page["location"]["lon"]) == (lat, lon)
    assert (need.lat, need.lon) == (lat, lon)


# (contactType as written, whether it is the first point of contact): one rule for the group page
# and the contacts list (the page once matched any type containing "first point").
FIRST_TYPES = [("first point of contact", True), (" First Point of Contact ", True),
               ("first point of contact for the press", False), ("volunteer desk", False)]


@pytest.mark.parametrize("contact_type, first", FIRST_TYPES)
def test_group_page_and_contacts_put_the_same_contact_first(contact_type, first):
    from hubnet.crawler.query.contacts import contact_details

    store = Store(None)
    doc = {"@context": "https://w3id.org/hubnet/context.jsonld", "@id": URL + "#group", "@type": "Organization",
           "name": "P", "contactPoint": [
               {"@id": URL + "#a", "@type": "ContactPoint", "contactType": "a general line", "name": "Ann"},
               {"@id": URL + "#b", "@type": "ContactPoint", "contactType": contact_type, "name": "Bo"}]}
    parsed = parse_source(json.dumps(doc).encode(), "application/ld+json", URL, Settings())
    store.replace_source(SourceRecord(url=URL, graph=URL, status=OK, content_hash=parsed.content_hash),
                         parsed.triples)
    index = TextIndex(None)
    index.sync(store)
    page = read_group(store, index, index.by_iris([URL + "#group"])[URL + "#group"])
    listed = contact_details(store, [URL + "#group"])[URL + "#group"]
    expected = "Bo" if first else "Ann"
    assert page["contacts"][0]["name"] == expected
    assert listed["name"] == expected
