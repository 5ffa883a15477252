"""Accept the web as it is: schema.org as real websites publish it.

The fixtures in ``tests/data/vocab/`` are shaped like what WordPress with
Yoast SEO, website builders, theme plugins and hand-written charity pages
actually emit (``@graph`` with WebSite/WebPage/ImageObject, ``@id``-less
organisations, ``http://schema.org`` contexts, string numbers, a broken block
next to a good one).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rdflib import BNode, Literal, URIRef
from rdflib.namespace import RDF

from hubnet import vocab
from hubnet.vocab import SCHEMA
from hubnet.vocab.shacl_subset import Data
from hubnet.vocab.validate import profile_groups

DATA = Path(__file__).resolve().parents[1] / "data" / "vocab"
YOAST = DATA / "yoast-wordpress.html"
CAFE = DATA / "community-cafe.html"
NGO = DATA / "ngo-charity.jsonld"
BUILDER = DATA / "website-builder-org.jsonld"
NO_JSONLD = DATA / "no-jsonld.html"

FOODBANK = URIRef("https://leytonfoodbank.example.org/#organization")
CAFE_ID = URIRef("https://marshgatekitchen.example.org/#business")
FOMP = URIRef("https://friendsofmarshpark.example.org/#org")
MISSING_ONLY = ["areaServed", "description", "knowsAbout", "location"]


def _yoast_graph_json() -> dict:
    """The JSON inside the Yoast page's script block, as a crawler of JSON would see it."""
    html = YOAST.read_text(encoding="utf-8")
    start = html.index('class="yoast-schema-graph">') + len('class="yoast-schema-graph">')
    return json.loads(html[start:html.index("</script>", start)])


# --------------------------------------------------------------------------- WordPress + Yoast SEO

def test_yoast_page_loads_from_html():
    graph = vocab.load(YOAST.read_bytes(), media_type="text/html; charset=UTF-8")
    assert (FOODBANK, RDF.type, SCHEMA.Organization) in graph
    assert (URIRef("https://leytonfoodbank.example.org/#website"), RDF.type, SCHEMA.WebSite) in graph
    assert (URIRef("https://leytonfoodbank.example.org/"), RDF.type, SCHEMA.WebPage) in graph
    assert graph.value(FOODBANK, SCHEMA.name) == Literal("Leyton Food Bank")
    assert graph.value(FOODBANK, SCHEMA.url) == URIRef("https://leytonfoodbank.example.org/")
    logo = graph.value(FOODBANK, SCHEMA.logo)
    assert logo == URIRef("https://leytonfoodbank.example.org/#/schema/logo/image/")
    assert (logo, RDF.type, SCHEMA.ImageObject) in graph
    assert len(list(graph.objects(FOODBANK, SCHEMA.sameAs))) == 3
    assert all(str(p).startswith(("http://schema.org/", str(RDF))) for p in graph.predicates())


def test_yoast_organization_is_the_group_not_the_website_or_page():
    graph = vocab.load(YOAST)  # a Path ending in .html is read as HTML
    assert vocab.find_groups(graph) == [FOODBANK]
    assert [g.value for g in profile_groups(Data.from_graph(graph))] == [str(FOODBANK)]


def test_yoast_organization_has_only_warnings():
    report = vocab.validate(YOAST.read_text(encoding="utf-8"), media_type="text/html")
    assert report.conforms is True
    assert report.groups == [str(FOODBANK)]
    assert report.errors == []
    # The WebSite and WebPage have descriptions; the Organization itself does not.
    assert sorted(w.field for w in report.warnings) == MISSING_ONLY


def test_yoast_graph_as_plain_json_gives_the_same_triples():
    from_json = vocab.load(_yoast_graph_json())
    from_html = vocab.load(YOAST)
    assert len(from_json) == len(from_html) > 40
    assert set(from_json.predicates()) == set(from_html.predicates())
    assert vocab.validate(from_json).groups == [str(FOODBANK)]


def test_yoast_graph_validates_with_base_iri_and_relative_ids():
    doc = _yoast_graph_json()
    text = json.dumps(doc).replace("https://leytonfoodbank.example.org/#", "#")
    report = vocab.validate(text, base_iri="https://leytonfoodbank.example.org/")
    assert report.conforms is True and report.groups == [str(FOODBANK)]


# --------------------------------------------------------------------------- two blocks, one broken

def test_broken_block_is_skipped_and_the_good_one_read():
    graph = vocab.load(CAFE)
    assert (CAFE_ID, RDF.type, SCHEMA.LocalBusiness) in graph
    assert not list(graph.subjects(RDF.type, SCHEMA.BreadcrumbList))  # the broken block
    assert graph.value(CAFE_ID, SCHEMA.telephone) == Literal("+44 20 7946 0321")
    address = graph.value(CAFE_ID, SCHEMA.address)
    assert graph.value(address, SCHEMA.postalCode) == Literal("E10 5AA")
    geo = graph.value(CAFE_ID, SCHEMA.geo)
    lat = graph.value(geo, SCHEMA.latitude)
    assert float(lat) == pytest.approx(51.5633)   # a string in the page, a number here
    assert str(lat.datatype) == "http://www.w3.org/2001/XMLSchema#double"


def test_local_business_is_a_group_and_validates():
    text = CAFE.read_text(encoding="utf-8")
    report = vocab.validate(text, media_type="text/html")
    assert report.groups == [str(CAFE_ID)]
    assert report.conforms is True
    assert report.errors == []
    assert {w.field for w in report.warnings} <= set(MISSING_ONLY)
    assert "description" not in {w.field for w in report.warnings}


def test_page_whose_only_block_is_broken_says_why():
    page = '<html><script type="application/ld+json">{"@context": "https://schema.org",}</script></html>'
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.load(page, media_type="text/html")
    assert exc.value.code == "invalid_document"
    assert "not valid JSON" in exc.value.message


def test_several_good_blocks_are_merged():
    blocks = [{"@context": "https://schema.org", "@type": "WebSite", "@id": "https://a.example/#site", "name": "A"},
              {"@context": "https://schema.org", "@type": "NGO", "@id": "https://a.example/#org", "name": "A",
               "url": "https://a.example/"}]
    page = "<html><head>" + "".join(
        f'<script type="application/ld+json">{json.dumps(b)}</script>' for b in blocks) + "</head></html>"
    graph = vocab.load(page.encode(), media_type="text/html")
    assert (URIRef("https://a.example/#site"), RDF.type, SCHEMA.WebSite) in graph
    assert vocab.find_groups(graph) == [URIRef("https://a.example/#org")]


def test_page_with_no_jsonld():
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.load(NO_JSONLD)
    assert exc.value.code == "no_jsonld"
    assert "application/ld+json" in exc.value.message
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.validate(NO_JSONLD.read_bytes(), media_type="text/html")
    assert exc.value.code == "no_jsonld"


# --------------------------------------------------------------------------- organisations without @id, NGOs

def test_organization_without_id_is_found_and_reported_on_id():
    graph = vocab.load(BUILDER)
    [group] = vocab.find_groups(graph)
    assert isinstance(group, BNode)
    assert graph.value(group, SCHEMA.name) == Literal("Leyton Tenants' Federation")
    assert graph.value(group, SCHEMA.url) == URIRef("https://leytontenants.example.org")
    assert graph.value(group, SCHEMA.logo) == URIRef("https://static.example-sitebuilder.com/leytontenants/logo.png")
    report = vocab.validate(graph)
    assert report.conforms is False
    assert [e.field for e in report.errors] == ["@id"]
    assert report.groups == [str(group)]


def test_organization_without_id_validates_once_it_has_one():
    doc = json.loads(BUILDER.read_text(encoding="utf-8"))
    doc["@id"] = "https://leytontenants.example.org/#org"
    report = vocab.validate(doc)
    assert report.conforms is True
    assert report.groups == ["https://leytontenants.example.org/#org"]


def test_ngo_with_embedded_funder_reports_only_its_own_problems():
    graph = vocab.load(NGO)
    assert (FOMP, RDF.type, SCHEMA.NGO) in graph
    assert len(vocab.find_groups(graph)) == 3        # the NGO, its funder and the forum it belongs to
    assert [g.value for g in profile_groups(Data.from_graph(graph))] == [str(FOMP)]             # ...but the profile is about the NGO
    report = vocab.validate(graph)
    assert report.groups == [str(FOMP)]
    # The embedded memberOf object breaks the link rule; the embedded funder is not
    # a second profile, so it does not add "@id" or "contact" errors or "missing" warnings.
    assert [e.field for e in report.errors] == ["memberOf"]
    assert [w.field for w in report.warnings] == ["location"]


def test_ngo_with_memberof_as_a_link_conforms():
    doc = json.loads(NGO.read_text(encoding="utf-8"))
    doc["memberOf"] = "https://wfparksforum.example.org/#forum"
    report = vocab.validate(doc)
    assert report.conforms is True, str(report)
    graph = vocab.load(doc)
    identifier = graph.value(FOMP, SCHEMA.identifier)
    assert graph.value(identifier, SCHEMA.value) == Literal("1104000")
    # A plain string stays as written: only IRIs are normalised to http://schema.org/.
    assert graph.value(FOMP, SCHEMA.nonprofitStatus) == Literal("https://schema.org/UKTrust")


def test_group_types_seen_on_the_web_are_groups():
    for type_ in ("Organization", "NGO", "LocalBusiness", "SportsTeam", "PlaceOfWorship", "https://schema.org/NGO"):
        doc = {"@context": "https://schema.org", "@type": type_, "@id": "https://g.example/#g",
               "name": "G", "url": "https://g.example/"}
        report = vocab.validate(doc)
        assert report.groups == ["https://g.example/#g"], type_
        assert report.conforms is True, type_


def test_two_independent_groups_in_one_document_are_both_profile_groups():
    doc = {"@context": "https://schema.org", "@graph": [
        {"@type": "Organization", "@id": "https://a.example/#g", "name": "A", "url": "https://a.example/"},
        {"@type": "NGO", "@id": "https://b.example/#g", "name": "B", "email": "b@b.example"}]}
    report = vocab.validate(doc)
    assert sorted(report.groups) == ["https://a.example/#g", "https://b.example/#g"]
    assert report.conforms is True


def test_groups_that_reach_each_other_fall_back_to_all():
    doc = {"@context": "https://schema.org", "@graph": [
        {"@type": "Organization", "@id": "https://a.example/#g", "name": "A", "url": "https://a.example/",
         "subOrganization": {"@id": "https://b.example/#g"}},
        {"@type": "Organization", "@id": "https://b.example/#g", "name": "B", "url": "https://b.example/",
         "parentOrganization": {"@id": "https://a.example/#g"}}]}
    assert sorted(vocab.validate(doc).groups) == ["https://a.example/#g", "https://b.example/#g"]


def test_group_whose_offer_points_back_at_it_stays_the_profile_group():
    doc = {"@context": "https://schema.org", "@type": "NGO", "@id": "https://a.example/#g", "name": "A",
           "url": "https://a.example/",
           "makesOffer": {"@type": "Offer", "name": "Hall", "offeredBy": {"@id": "https://a.example/#g"}},
           "sponsor": {"@type": "Organization", "name": "Local Council"}}
    report = vocab.validate(doc)
    assert report.groups == ["https://a.example/#g"]
    assert report.errors == []


# --------------------------------------------------------------------------- a Yoast @graph beside other blocks

EVENT_BLOCK = {  # what an events plugin adds to the same WordPress page
    "@context": "http://schema.org",
    "@type": "Event",
    "name": "Community pantry",
    "startDate": "2025-03-04T10:00:00+00:00",
    "location": {"@type": "Place", "name": "St Mary's Church Hall",
                 "address": {"@type": "PostalAddress", "postalCode": "E10 5AA"}},
    "organizer": {"@id": "https://leytonfoodbank.example.org/#organization"},
}


def _yoast_page_with(*blocks) -> str:
    html = YOAST.read_text(encoding="utf-8")
    extra = "".join(f'<script type="application/ld+json">{json.dumps(b)}</script>\n' for b in blocks)
    return html.replace("<!-- / Yoast SEO plugin. -->", "<!-- / Yoast SEO plugin. -->\n" + extra)


def test_yoast_graph_beside_another_block_is_not_a_named_graph():
    graph = vocab.load(_yoast_page_with(EVENT_BLOCK), media_type="text/html")
    assert (FOODBANK, RDF.type, SCHEMA.Organization) in graph
    [event] = graph.subjects(RDF.type, SCHEMA.Event)
    assert graph.value(event, SCHEMA.organizer) == FOODBANK
    report = vocab.validate(graph)
    assert report.groups == [str(FOODBANK)] and report.conforms is True


def test_second_block_adds_hubnet_terms_to_the_yoast_organization():
    hubnet_block = {"@context": vocab.CONTEXT_IRI, "@id": "https://leytonfoodbank.example.org/#organization",
                    "description": "Emergency food parcels and a weekly community pantry.",
                    "additionalType": ["food-project", "charity"],
                    "knowsAbout": ["food poverty", "benefits advice"],
                    "areaServed": {"@type": "AdministrativeArea", "name": "Leyton", "identifier": "E05013898"},
                    "makesOffer": {"@type": "Offer", "name": "Surplus bread", "category": "food"}}
    graph = vocab.load(_yoast_page_with(hubnet_block), media_type="text/html")
    kinds = set(graph.objects(FOODBANK, SCHEMA.additionalType))
    assert kinds == {vocab.KIND["food-project"], vocab.KIND.charity}
    offer = graph.value(FOODBANK, SCHEMA.makesOffer)
    assert graph.value(offer, vocab.HUBNET.category) == vocab.CATEGORY.food
    report = vocab.validate(graph)
    assert report.conforms is True
    assert [w.field for w in report.warnings] == ["location"]


def test_graph_items_keep_their_own_context_when_lifted():
    blocks = [
        {"@context": "https://schema.org", "@graph": [
            {"@context": {"nick": "http://schema.org/alternateName"}, "@type": "NGO",
             "@id": "https://a.example/#g", "name": "A", "nick": "The A", "url": "https://a.example/"}]},
        {"@context": "https://schema.org", "@type": "WebSite", "@id": "https://a.example/#site", "name": "A"},
    ]
    page = "".join(f'<script type="application/ld+json">{json.dumps(b)}</script>' for b in blocks)
    graph = vocab.load(page, media_type="text/html")
    assert graph.value(URIRef("https://a.example/#g"), SCHEMA.alternateName) == Literal("The A")
    assert graph.value(URIRef("https://a.example/#g"), SCHEMA.name) == Literal("A")


def test_named_graph_block_beside_another_block_is_still_forbidden():
    named = {"@context": "https://schema.org", "@id": "https://victim.test/g",
             "@graph": [{"@id": "https://victim.test/#org", "@type": "Organization", "name": "Pwned"}]}
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.load(_yoast_page_with(named), media_type="text/html")
    assert exc.value.code == "named_graph_forbidden"
