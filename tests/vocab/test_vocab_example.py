"""The example profile, and what validation says about broken variants of it.

Every invalid variant starts from ``examples/profile.jsonld`` (which has no
problems at all), changes one thing, and checks that exactly the expected
field is reported, with a message that names it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from rdflib import Literal, URIRef
from rdflib.namespace import RDF
from rdflib.namespace import XSD as _XSD

from hubnet import vocab
from hubnet.vocab import CATEGORY, HUBNET, KIND, ORG, SCHEMA

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PATH = ROOT / "examples" / "profile.jsonld"
EXAMPLE = json.loads(EXAMPLE_PATH.read_text(encoding="utf-8"))
GROUP = URIRef("https://marshgate-ra.example.org/#group")
XSD_DATE, XSD_DOUBLE = _XSD.date, _XSD.double
del _XSD  # pytest trips over the closed XSD namespace when it scans module attributes
CATEGORY_SLUGS = ["equipment", "food", "funding-advice", "meeting-space", "mentoring",
                  "other", "skills", "training", "transport", "volunteers"]


def example() -> dict:
    return copy.deepcopy(EXAMPLE)


# --------------------------------------------------------------------------- the example itself

def test_example_validates_with_no_issues_at_all():
    report = vocab.validate(example())
    assert report.conforms is True
    assert report.errors == []
    assert report.warnings == []
    assert report.groups == [str(GROUP)]
    assert str(report) == "valid: no problems found"
    assert report.to_dict() == {"valid": True, "groups": [str(GROUP)], "errors": [], "warnings": []}


def test_example_validates_from_a_path_too():
    report = vocab.validate(EXAMPLE_PATH)
    assert report.conforms and report.groups == [str(GROUP)]


@pytest.fixture(scope="module")
def graph():
    return vocab.load(example())


def test_example_group_triples(graph):
    assert (GROUP, RDF.type, SCHEMA.Organization) in graph
    assert graph.value(GROUP, SCHEMA.name) == Literal("Marsh Gate Residents' Association")
    assert graph.value(GROUP, SCHEMA.url) == URIRef("https://marshgate-ra.example.org/")
    assert graph.value(GROUP, SCHEMA.email) == Literal("hello@marshgate-ra.example.org")
    assert set(graph.objects(GROUP, SCHEMA.knowsAbout)) == {
        Literal("housing repairs"), Literal("community lunch"), Literal("green spaces")}
    assert graph.value(GROUP, SCHEMA.foundingDate) == Literal("1998-04-01", datatype=XSD_DATE)
    assert graph.value(GROUP, SCHEMA.license) == URIRef("https://creativecommons.org/publicdomain/zero/1.0/")
    assert graph.value(GROUP, SCHEMA.sameAs) == URIRef("https://www.facebook.com/marshgatera.example")


def test_example_kind_is_an_iri_made_from_its_slug(graph):
    assert graph.value(GROUP, SCHEMA.additionalType) == URIRef("https://w3id.org/hubnet/kind/residents-association")
    assert graph.value(GROUP, SCHEMA.additionalType) == KIND["residents-association"]


def test_example_links_are_iris(graph):
    assert graph.value(GROUP, SCHEMA.memberOf) == URIRef("https://leyton-network.example.org/#group")
    assert graph.value(GROUP, ORG.linkedTo) == URIRef("https://friends-of-marsh-park.example.org/#group")
    assert graph.value(GROUP, HUBNET.vouchesFor) == URIRef("https://leyton-foodbank.example.org/#group")
    assert str(HUBNET.vouchesFor) == "https://w3id.org/hubnet/ns#vouchesFor"


def test_example_geo_is_typed_xsd_double(graph):
    place = graph.value(GROUP, SCHEMA.location)
    assert (place, RDF.type, SCHEMA.Place) in graph
    geo = graph.value(place, SCHEMA.geo)
    lat, lon = graph.value(geo, SCHEMA.latitude), graph.value(geo, SCHEMA.longitude)
    assert lat.datatype == XSD_DOUBLE and float(lat) == pytest.approx(51.5631)
    assert lon.datatype == XSD_DOUBLE and float(lon) == pytest.approx(-0.0105)
    address = graph.value(place, SCHEMA.address)
    assert graph.value(address, SCHEMA.postalCode) == Literal("E10 5AA")


def test_example_offer_and_need(graph):
    offer = graph.value(GROUP, SCHEMA.makesOffer)
    assert (offer, RDF.type, SCHEMA.Offer) in graph
    assert graph.value(offer, HUBNET.category) == URIRef("https://w3id.org/hubnet/category/meeting-space")
    valid_through = graph.value(offer, SCHEMA.validThrough)
    assert valid_through == Literal("2027-06-30", datatype=XSD_DATE)
    assert valid_through.datatype == XSD_DATE
    need = graph.value(GROUP, SCHEMA.seeks)
    assert (need, RDF.type, SCHEMA.Demand) in graph
    assert graph.value(need, HUBNET.category) == CATEGORY.skills


def test_example_contact_point_and_area(graph):
    cp = graph.value(GROUP, SCHEMA.contactPoint)
    assert graph.value(cp, SCHEMA.contactType) == Literal("first point of contact")
    assert set(graph.objects(cp, SCHEMA.availableLanguage)) == {Literal("English"), Literal("Bengali")}
    area = graph.value(GROUP, SCHEMA.areaServed)
    assert (area, RDF.type, SCHEMA.AdministrativeArea) in graph
    assert graph.value(area, SCHEMA.identifier) == Literal("E05000000")


def test_example_uses_only_known_vocabularies(graph):
    allowed = (str(SCHEMA), str(HUBNET), str(ORG), str(RDF))
    assert all(str(p).startswith(allowed) for p in graph.predicates())
    assert not any(str(t).startswith("https://schema.org/") for triple in graph for t in triple)


# --------------------------------------------------------------------------- invalid variants

def _without(*keys):
    def change(doc):
        for k in keys:
            del doc[k]
    return change


def _set(key, value):
    def change(doc):
        doc[key] = value
    return change


def _geo(key, value):
    def change(doc):
        doc["location"]["geo"][key] = value
    return change


def _offer(key, value=None):
    def change(doc):
        if value is None:
            del doc["makesOffer"][0][key]
        else:
            doc["makesOffer"][0][key] = value
    return change


def _need(key, value):
    def change(doc):
        doc["seeks"][0][key] = value
    return change


def _second_offer_broken(doc):
    doc["makesOffer"].append({"@type": "Offer", "name": "Gazebo loan", "category": "equipment",
                              "validThrough": "whenever"})


def _no_geo_longitude(doc):
    del doc["location"]["geo"]["longitude"]


def _long_postcode(doc):
    doc["location"]["address"]["postalCode"] = "E10 5AA " * 4


def _bad_contact_point_email(doc):
    doc["contactPoint"]["email"] = "secretary at marshgate"


# (id, change, expected field, text the message must contain besides the field)
INVALID = [
    ("missing-name", _without("name"), "name", "missing: every group needs a name"),
    ("id-urn", _set("@id", "urn:x:1"), "@id", "urn:x:1 must be the web address (http or https)"),
    ("id-missing", _without("@id"), "@id", "@id: missing: give the group a web address (http or https)"),
    ("no-contact-route", _without("email", "url", "contactPoint"), "contact",
     "there is no way to contact the group"),
    ("latitude-123", _geo("latitude", 123), "location.geo.latitude", "123 is not a latitude"),
    ("longitude-minus-200", _geo("longitude", -200), "location.geo.longitude",
     "-200 is not a longitude (must be between -180 and 180)"),
    ("latitude-string", _geo("latitude", "abc"), "location.geo.latitude", "'abc' is not a latitude"),
    ("geo-without-longitude", _no_geo_longitude, "location.geo.longitude", "missing: a geo position"),
    ("memberOf-embedded-object", _set("memberOf", {"@type": "Organization", "name": "Leyton Network"}),
     "memberOf", "(an embedded object) must be a link (an http or https web address)"),
    ("vouchesFor-javascript", _set("vouchesFor", "javascript:alert(1)"), "vouchesFor",
     "javascript:alert(1) must be a link"),
    ("member-mailto", _set("member", "mailto:someone@example.org"), "member", "must be a link"),
    ("offer-without-name", _offer("name"), "makesOffer.name", "missing: every offer and need needs a short name"),
    ("need-unknown-category", _need("category", "rooms"), "seeks.category",
     "rooms is not a known category (use one of: " + ", ".join(CATEGORY_SLUGS) + ")"),
    ("validThrough-words", _offer("validThrough", "next week"), "makesOffer.validThrough",
     "'next week' is not a date (use YYYY-MM-DD"),
    ("offer-description-2001", _offer("description", "d" * 2001), "makesOffer.description",
     "is too long (at most 2000 characters)"),
    ("name-201-chars", _set("name", "N" * 201), "name", "is not a short text name (at most 200 characters)"),
    ("description-5001-chars", _set("description", "D" * 5001), "description",
     "is too long (at most 5000 characters)"),
    ("url-javascript", _set("url", "javascript:alert(1)"), "url",
     "javascript:alert(1) is not a web address (must start with http:// or https://)"),
    ("email-not-an-email", _set("email", "not-an-email"), "email", "'not-an-email' is not an email address"),
    ("contactPoint-email", _bad_contact_point_email, "contactPoint.email", "is not an email address"),
    ("telephone-words", _set("telephone", "ring the office"), "telephone", "is not a telephone number"),
    ("sameAs-ftp", _set("sameAs", "ftp://x"), "sameAs", "ftp://x is not a web address"),
    ("logo-data-uri", _set("logo", "data:image/png;base64,AAAA"), "logo", "is not a web address"),
    ("license-ftp", _set("license", "ftp://licences.example/cc0"), "license", "is not a web address of a licence"),
    ("topic-101-chars", _set("knowsAbout", ["gardening", "t" * 101]), "knowsAbout",
     "is too long for a topic (at most 100 characters)"),
    ("topics-41", _set("knowsAbout", [f"topic {i}" for i in range(41)]), "knowsAbout",
     "has too many topics (at most 40)"),
    ("foundingDate-words", _set("foundingDate", "spring 1998"), "foundingDate", "is not a date"),
    ("areaServed-object-without-name", _set("areaServed", {"@type": "AdministrativeArea", "identifier": "E05000000"}),
     "areaServed", "is not an area"),
    ("postcode-too-long", _long_postcode, "location.address.postalCode", "is too long for a postcode"),
    ("not-an-organization", _set("@type", "Person"), "@type", "no group found"),
    ("second-offer-broken", _second_offer_broken, "makesOffer[Gazebo loan].validThrough",
     "'whenever' is not a date"),
]


@pytest.mark.parametrize("change, field, text", [pytest.param(*c[1:], id=c[0]) for c in INVALID])
def test_invalid_variant_names_the_field(change, field, text):
    doc = example()
    change(doc)
    report = vocab.validate(doc)
    assert report.conforms is False
    assert {e.field for e in report.errors} == {field}, [e.message for e in report.errors]
    [error] = [e for e in report.errors if e.field == field]
    assert error.severity == "violation"
    assert error.message.startswith(f"{field}: "), error.message
    assert text in error.message
    assert report.errors_by_field() == {field: [error.message]}
    assert report.to_dict()["valid"] is False
    assert str(report).startswith("invalid: 1 error(s)")


def test_latitude_message_is_exact():
    doc = example()
    doc["location"]["geo"]["latitude"] = 123
    report = vocab.validate(doc)
    [error] = report.errors
    assert error.field == "location.geo.latitude"
    assert error.message == "location.geo.latitude: 123 is not a latitude (must be between -90 and 90)"
    assert float(error.value) == 123


def test_organization_without_id_is_reported_on_id():
    doc = example()
    del doc["@id"]
    report = vocab.validate(doc)
    assert [e.field for e in report.errors] == ["@id"]
    assert len(report.groups) == 1 and not report.groups[0].startswith("http")


def test_broken_offer_is_named_among_several():
    doc = example()
    doc["makesOffer"].append({"@type": "Offer", "name": "Gazebo loan", "category": "tents"})
    report = vocab.validate(doc)
    [error] = report.errors
    assert "makesOffer[" in error.field and "Gazebo loan" in error.field
    assert error.field == "makesOffer[Gazebo loan].category"
    assert error.message.startswith("makesOffer[Gazebo loan].category: tents is not a known category")
    assert error.value == "https://w3id.org/hubnet/category/tents"


def test_several_errors_are_all_reported():
    doc = example()
    del doc["name"]
    doc["url"] = "javascript:alert(1)"
    doc["location"]["geo"]["latitude"] = 91
    report = vocab.validate(doc)
    assert {e.field for e in report.errors} == {"name", "url", "location.geo.latitude"}
    assert [i.severity for i in report.issues[:3]] == ["violation"] * 3


# --------------------------------------------------------------------------- links that are not IRIs

def _link_objects(graph, prop):
    return list(graph.objects(GROUP, prop))


def test_link_that_is_not_a_url_never_enters_the_graph_without_base():
    doc = example()
    doc["linkedTo"] = "not a url"
    graph = vocab.load(doc)
    assert _link_objects(graph, ORG.linkedTo) == []
    # The other links are untouched, and nothing unsafe got in: the profile still conforms.
    assert _link_objects(graph, HUBNET.vouchesFor) == [URIRef("https://leyton-foodbank.example.org/#group")]
    assert vocab.validate(graph).conforms is True


def test_link_that_is_not_a_url_never_enters_the_graph_with_base():
    doc = example()
    doc["linkedTo"] = "not a url"
    graph = vocab.load(doc, base_iri="https://marshgate-ra.example.org/profile.jsonld")
    assert _link_objects(graph, ORG.linkedTo) == []  # spaces: not an IRI even once resolved


def test_relative_link_resolves_only_against_a_base():
    doc = example()
    doc["linkedTo"] = "friends/#group"
    assert _link_objects(vocab.load(doc), ORG.linkedTo) == []
    graph = vocab.load(doc, base_iri="https://marshgate-ra.example.org/profile.jsonld")
    assert _link_objects(graph, ORG.linkedTo) == [URIRef("https://marshgate-ra.example.org/friends/#group")]
    assert vocab.validate(graph).conforms is True


def test_relative_id_resolves_against_base():
    doc = example()
    doc["@id"] = "#group"
    report = vocab.validate(doc, base_iri="https://marshgate-ra.example.org/")
    assert report.conforms and report.groups == [str(GROUP)]


def test_relative_id_without_base_loses_the_group():
    # What docs/profile.md warns about: checked from a file, "#group" cannot be completed.
    doc = example()
    doc["@id"] = "#group"
    report = vocab.validate(doc)
    assert [e.field for e in report.errors] == ["@type"]
    assert report.errors[0].message.startswith("@type: no group found")


# --------------------------------------------------------------------------- warnings

def test_warnings_only_profile_conforms():
    doc = example()
    for key in ("description", "areaServed", "knowsAbout", "location"):
        del doc[key]
    report = vocab.validate(doc)
    assert report.conforms is True
    assert report.errors == []
    assert sorted(w.field for w in report.warnings) == ["areaServed", "description", "knowsAbout", "location"]
    for w in report.warnings:
        assert w.severity == "warning"
        assert w.message.startswith(f"{w.field}: missing: ")
    assert report.to_dict()["valid"] is True
    assert str(report).startswith("valid: 0 error(s), 4 warning(s)")


def test_unknown_kind_is_a_warning_not_an_error():
    doc = example()
    doc["additionalType"] = "book-club"
    report = vocab.validate(doc)
    assert report.conforms is True
    [warning] = report.warnings
    assert warning.field == "additionalType"
    assert warning.message.startswith("additionalType: book-club is not one of hubnet's kinds of group")


def test_offer_without_category_is_a_warning():
    doc = example()
    del doc["seeks"][0]["category"]
    report = vocab.validate(doc)
    assert report.conforms is True
    assert [(w.field, w.severity) for w in report.warnings] == [("seeks.category", "warning")]


def test_validate_accepts_a_graph():
    graph = vocab.load(example())
    assert vocab.validate(graph).conforms is True


@pytest.mark.parametrize("term,value", [("linkedTo", "not a url"), ("memberOf", "ourfriends.org"),
                                        ("url", "www.example.org")])
def test_link_strings_that_are_not_urls_are_errors_not_silence(term, value):
    """JSON-LD would turn these into relative IRIs that vanish without a base: say so instead."""
    doc = json.loads(json.dumps(EXAMPLE))
    doc[term] = value
    report = vocab.validate(doc)
    assert [e.message for e in report.errors] == [
        f"{term}: {value!r} is not a web address (must start with http:// or https:// and have no spaces)"]


def test_web_address_with_a_space_names_the_field():
    """pyoxigraph drops IRIs it cannot parse; the JSON-level check still names the field."""
    doc = json.loads(json.dumps(EXAMPLE))
    doc["url"] = "https://bad host/"
    assert [e.field for e in vocab.validate(doc).errors] == ["url"]
