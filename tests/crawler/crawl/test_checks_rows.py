"""The crawl's profile checks read the statements parse_source already read (crawl/checks.py, issue 18).

``checks.profile_problems(..., rows=parsed.rows)`` must give exactly what checking the body from
scratch gives, for every kind of document the crawler keeps (JSON-LD, HTML, Turtle; clean, broken,
blank-node groups, foreign statements), without parsing the body to RDF again; and when the crawl
reads with looser limits than the editor's tools, the body is read again so that a document past
those limits gets the same "document" problem at every door.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyoxigraph as ox
import pytest

from hubnet.crawler.crawl import checks
from hubnet.crawler.crawl.extract import parse_source
from hubnet.crawler.settings import Settings
from hubnet.testing import CONTEXT

ROOT = Path(__file__).resolve().parents[3]
URL = "https://marshgate-ra.example.org/profile.jsonld"
EXAMPLE = json.loads((ROOT / "examples" / "profile.jsonld").read_text(encoding="utf-8"))


def _doc(**changes) -> bytes:
    return json.dumps({**EXAMPLE, **changes}).encode()


def _html(body: bytes) -> bytes:
    return b'<html><script type="application/ld+json">' + body + b"</script></html>"


DOCUMENTS = {
    "the example": (_doc(), "application/ld+json"),
    "the example in a page": (_html(_doc()), "text/html; charset=utf-8"),
    "broken every way": (_doc(name="", email="not-an-email", url="just words", knowsAbout=["x" * 101],
                              location={"geo": {"latitude": 515, "longitude": "east"}},
                              makesOffer=[{"name": "", "category": "bogus"}]), "application/ld+json"),
    "a blank-node group": (json.dumps({"@context": CONTEXT, "@type": "NGO", "name": "Blank",
                                       "funder": {"@type": "Organization", "name": ""}}).encode(),
                           "application/ld+json"),
    "foreign statements beside its own": (json.dumps({"@context": CONTEXT, "@graph": [
        {**{k: v for k, v in EXAMPLE.items() if k != "@context"}},
        {"@id": "https://victim.test/#group", "@type": "Organization", "name": ""}]}).encode(),
        "application/ld+json"),
    "Turtle": (b'@prefix s: <http://schema.org/> .\n<https://marshgate-ra.example.org/#group> a s:NGO ; '
               b's:name "" ; s:email "x" ; s:location [ s:geo [ s:latitude "north"^^<http://www.w3.org/2001/'
               b'XMLSchema#double> ] ] .', "text/turtle"),
    **{f"bench {i}": (None, "application/ld+json") for i in range(0, 60, 7)},
}


def _body(name: str) -> tuple[bytes, str, str]:
    body, kind = DOCUMENTS[name]
    if body is None:
        from bench.federation import Federation

        fed = Federation(60)
        i = int(name.split()[1])
        return fed.body(i), kind, fed.doc_url(i)
    return body, kind, URL


def counted(monkeypatch, owner, name: str) -> list:
    """``owner.name`` replaced by itself counting its calls, one item a call in the list returned."""
    calls = []
    real = getattr(owner, name)

    def counting(*args, **kw):
        calls.append(1)
        return real(*args, **kw)
    monkeypatch.setattr(owner, name, counting)
    return calls


@pytest.fixture
def rdf_parses(monkeypatch):
    """How many times a body is parsed to RDF (pyoxigraph's parser, which every reading goes through)."""
    return counted(monkeypatch, ox, "parse")


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_check_on_parse_sources_rows_is_the_check_on_the_body(name, rdf_parses):
    body, kind, url = _body(name)
    settings = Settings()
    parsed = parse_source(body, kind, url, settings)
    assert len(rdf_parses) == 1
    from_rows = checks.profile_problems(body, kind, url, settings, parsed.rows)
    assert len(rdf_parses) == 1, "the body was parsed again"
    assert from_rows == checks.profile_problems(body, kind, url, settings)
    assert len(rdf_parses) == 2
    if name.startswith(("broken", "a blank", "foreign", "Turtle")):
        assert checks.problem_list(from_rows), "the family's broken members have problems to find"


def test_a_crawl_reading_past_vocabs_limits_reads_the_body_again(rdf_parses):
    """A document within the crawl's (raised) limits but past vocab's is a "document" problem, as
    ``hubnet-node validate`` would say, not a check of statements vocab would never have read."""
    settings = Settings(max_triples=8_000)
    body = _doc(knowsAbout=[f"topic {i}" for i in range(6_000)])
    parsed = parse_source(body, "application/ld+json", URL, settings)
    problems = checks.problem_list(checks.profile_problems(body, "application/ld+json", URL, settings, parsed.rows))
    assert len(rdf_parses) == 2
    assert [p["code"] for p in problems] == ["too_many_triples"]


@pytest.fixture
def json_reads(monkeypatch):
    """How many times JSON text is decoded (vocab.parse.read_json: every JSON-LD body, each script block)."""
    from hubnet.vocab import parse

    return counted(monkeypatch, parse, "read_json")


# A node carrying "@import": inlining it adds every entry of schema.org's context to that node (its
# "url", "logo"... as term definitions), which the JSON-level checks must never read as the group's own.
IMPORTING = _doc(location={"@import": "https://schema.org", "name": "Hall"})
# A page whose second block is past a crawl's tighter node limit but within vocab's: the crawl's
# statements come from the first block alone, and the JSON-level checks read both, as vocab does.
TWO_BLOCKS = (b'<html><script type="application/ld+json">' + _doc() + b'</script><script type="application/ld+json">'
              + json.dumps({"@context": CONTEXT, "@type": "Place", "url": "words, not an address",
                            "keywords": [f"k{i}" for i in range(500)]}).encode() + b"</script></html>")


@pytest.mark.parametrize("name", [n for n in DOCUMENTS if DOCUMENTS[n][1] != "text/turtle"])
def test_the_json_parse_source_decoded_is_not_decoded_again(name, json_reads):
    body, kind, url = _body(name)
    settings = Settings()
    parsed = parse_source(body, kind, url, settings)
    assert len(json_reads) == 1
    from_rows = checks.profile_problems(body, kind, url, settings, parsed.rows)
    assert len(json_reads) == 1, "the body's JSON was decoded again"
    assert from_rows == checks.profile_problems(body, kind, url, settings)


@pytest.mark.parametrize("body, kind, settings, reads", [
    (IMPORTING, "application/ld+json", Settings(), 2),
    (_html(IMPORTING), "text/html", Settings(), 2),
    (TWO_BLOCKS, "text/html", Settings(max_json_nodes=400), 4),   # two blocks, twice
], ids=["an @import", "an @import in a page", "a page read with tighter limits"])
def test_json_that_is_not_as_vocab_decodes_it_is_decoded_again(body, kind, settings, reads, json_reads):
    """Where the JSON parse_source holds is not what vocab.read_document gives (an @import was inlined
    into it; a script block past the crawl's tighter limits was left out), the checks decode the body
    again, and say what ``hubnet-node validate`` says of its JSON."""
    parsed = parse_source(body, kind, URL, settings)
    problems = checks.problem_list(checks.profile_problems(body, kind, URL, settings, parsed.rows))
    assert len(json_reads) == reads
    words = [p["message"] for p in problems]
    if body is TWO_BLOCKS:
        assert "url: 'words, not an address' is not a web address" in " ".join(words), words
    else:
        assert not any("is not a web address" in w for w in words), words   # schema.org's "url": not ours
        assert checks.profile_problems(body, kind, URL, settings, parsed.rows) == \
            checks.profile_problems(body, kind, URL, settings)
