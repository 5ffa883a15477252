"""The fast parse path gives exactly what the straightforward one gave.

``hubnet.crawler.crawl.extract.parse_source`` was made several times faster (shared pinned
contexts instead of deep copies, one pass over the statements, a string-prefix
shortcut in the authority check...). This file keeps the straightforward
version as a reference, as it was written before that work, and holds the fast
one to it: same triples (as Quads, in the same order), same groups, links,
dropped count and content hash, or the same error code, for a spread of
documents: the examples, the test data, the benchmark's synthetic profiles and
a set of awkward ones. Each shortcut also gets a test of its own.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from pathlib import Path
from urllib.parse import urldefrag

import pyoxigraph as ox
import pytest

from hubnet.vocab.authority import authority, speaks_for
from hubnet.crawler.crawl.extract import GROUP_TYPE_IRIS, RDF_TYPE, group_subjects, links
from hubnet.crawler.crawl.extract import content_hash, parse_source
from hubnet.crawler.settings import Settings
from hubnet.vocab import contexts
from hubnet.vocab.errors import DocumentError
from hubnet.vocab.parse import (HTML_TYPES, TURTLE_TYPES, Limits, _jsonld_payload, check_shape, extract_html_jsonld,
                         jsonld_to_triples)

from profile_files import profile_files

ROOT = Path(__file__).resolve().parents[3]
CONTEXT = contexts.CONTEXT_IRI
SCHEMA = "http://schema.org/"


# --------------------------------------------------------------------------- the reference (the old code)

def ref_check_shape(value, limits):
    if not isinstance(value, (dict, list)):
        raise DocumentError("not an object", code="invalid_document")
    if isinstance(value, list) and (not value or not all(isinstance(v, dict) for v in value)):
        raise DocumentError("not a list of objects", code="invalid_document")
    stack, nodes = [(value, 1)], 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if depth > limits.max_json_depth:
            raise DocumentError("deep", code="too_deep")
        if nodes > limits.max_json_nodes:
            raise DocumentError("large", code="too_large")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise DocumentError("inf", code="invalid_document")


def ref_inline_contexts(document):
    root = copy.deepcopy(document)
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "@context" in item:
                item["@context"] = ref_resolve(item["@context"])
            if "@import" in item:
                ref = item.pop("@import")
                if not isinstance(ref, str):
                    raise DocumentError("@import", code="unsupported_context")
                for key, value in contexts.pinned_context(ref).items():
                    item.setdefault(key, value)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return root


def ref_resolve(value):
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        return contexts.pinned_context(value)
    if isinstance(value, list):
        return [ref_resolve(v) for v in value]
    raise DocumentError("bad @context", code="invalid_document")


def ref_normalise(term):
    if isinstance(term, ox.NamedNode) and term.value.startswith("https://schema.org/"):
        return ox.NamedNode(SCHEMA + term.value[len("https://schema.org/"):])
    return term


def ref_parse(payload, fmt, base_iri, limits):
    try:
        out = []
        for q in ox.parse(payload, format=fmt, base_iri=base_iri, without_named_graphs=True):
            if len(out) >= limits.max_triples:
                raise DocumentError("triples", code="too_many_triples")
            s, p, o = ref_normalise(q.subject), ref_normalise(q.predicate), ref_normalise(q.object)
            for t in (s, p, o):
                if isinstance(t, ox.Literal) and len(t.value) > limits.max_literal:
                    raise DocumentError("literal", code="literal_too_long")
                if isinstance(t, ox.NamedNode) and len(t.value) > limits.max_iri:
                    raise DocumentError("iri", code="iri_too_long")
            out.append(ox.Quad(s, p, o, ox.DefaultGraph()))
        return out
    except DocumentError:
        raise
    except SyntaxError as exc:
        code = "named_graph_forbidden" if "named graph" in str(exc).lower() else "invalid_document"
        raise DocumentError(str(exc), code=code) from None
    except (ValueError, TypeError) as exc:
        raise DocumentError(str(exc), code="invalid_document") from None


def ref_document_to_triples(body, media_type, base_iri, limits):
    if media_type in TURTLE_TYPES:
        return ref_parse(body, ox.RdfFormat.TURTLE, base_iri, limits)
    if media_type in HTML_TYPES:
        document = extract_html_jsonld(body, limits)
    else:
        try:
            document = json.loads(body.decode("utf-8-sig"))
        except ValueError:
            raise DocumentError("json", code="invalid_document") from None
        ref_check_shape(document, limits)
    payload = json.dumps(ref_inline_contexts(document)).encode("utf-8")
    return ref_parse(payload, ox.RdfFormat.JSON_LD, base_iri, limits)


def ref_skolemise(triples, document_url):
    base = urldefrag(document_url)[0]
    groups = {t.subject for t in triples if isinstance(t.subject, ox.BlankNode)
              and t.predicate.value == RDF_TYPE and t.object.value in GROUP_TYPE_IRIS}
    names, n_group = {}, 0

    def name(b):
        nonlocal n_group
        if b not in names:
            if b in groups:
                n_group += 1
                names[b] = ox.NamedNode(f"{base}#group" + ("" if n_group == 1 else str(n_group)))
            else:
                names[b] = ox.NamedNode(f"{base}#_b{len(names) - n_group + 1}")
        return names[b]

    out = []
    for t in triples:
        s = name(t.subject) if isinstance(t.subject, ox.BlankNode) else t.subject
        o = name(t.object) if isinstance(t.object, ox.BlankNode) else t.object
        out.append(ox.Quad(s, t.predicate, o, ox.DefaultGraph()) if (s is not t.subject or o is not t.object) else t)
    return out


def ref_parse_source(body, media_type, document_url, settings):
    limits = Limits(max_json_depth=settings.max_json_depth, max_json_nodes=settings.max_json_nodes,
                    max_triples=settings.max_triples, max_literal=settings.max_literal, max_iri=settings.max_iri)
    triples = ref_document_to_triples(body, media_type, document_url, limits)
    if any(isinstance(t.object, ox.Triple) for t in triples):
        raise DocumentError("a triple term", code="triple_term_forbidden")
    named = ref_skolemise(triples, document_url)
    kept = [t for t in named if isinstance(t.subject, ox.NamedNode) and speaks_for(document_url, t.subject.value)]
    groups = group_subjects(kept)
    if not groups:
        foreign = [g for g in group_subjects(named) if not speaks_for(document_url, g)]
        raise DocumentError("no group", code="id_mismatch" if foreign else "no_group")
    return kept, groups, len(named) - len(kept), links(kept, settings.max_outlinks), content_hash(kept)


def outcome(fn, body, media_type, url, settings):
    try:
        result = fn(body, media_type, url, settings)
    except DocumentError as exc:
        return ("error", exc.code)
    if not isinstance(result, tuple):
        result = (result.triples, result.groups, result.dropped_foreign, result.links, result.content_hash)
    kept, groups, dropped, outlinks, digest = result
    assert all(isinstance(q, ox.Quad) and q.graph_name == ox.DefaultGraph() for q in kept)
    return ("ok", [str(q) for q in kept], kept, groups, dropped, outlinks, digest)


# --------------------------------------------------------------------------- the documents

def _file_cases():
    for path, body, kind, own in profile_files():
        https = own.replace("http://", "https://", 1)
        for url in dict.fromkeys([own, https, own.replace("https://", "http://", 1), "https://elsewhere.test/p"]):
            yield f"{path.name}@{url}", url, kind, body


def _bench_cases():
    from bench.federation import Federation

    for layout in ("distinct", "shared"):
        try:
            fed = Federation(40, port=80, seed=7, layout=layout)
        except TypeError:  # older signature: one layout
            fed = Federation(40, port=80, seed=7)
        for i in range(0, 40, 3):
            body = json.dumps(fed.profile(i), indent=2, ensure_ascii=False).encode("utf-8")
            yield f"bench-{layout}-{i}", fed.doc_url(i), "application/ld+json", body


def _doc(**extra):
    doc = {"@context": CONTEXT, "@type": "Organization", "name": "A"}
    doc.update(extra)
    return json.dumps(doc).encode()


AWKWARD = {
    # blank-node groups, several of them, and blank nodes shared as objects
    "blank-groups": ("https://a.test/p#x", _doc(member={"@type": "NGO", "name": "B",
                                                        "location": {"@type": "Place", "name": "Hall"}},
                                              location={"@type": "Place", "name": "Other"})),
    "blank-group-list": ("https://a.test/", json.dumps([
        {"@context": "https://schema.org", "@type": "Organization", "name": "One", "member": {"@id": "_:m"}},
        {"@context": "https://schema.org", "@id": "_:m", "@type": "NGO", "name": "Two"}]).encode()),
    # the authority rule, every way round
    "http-identity-https-doc": ("https://a.test/", _doc(**{"@id": "http://a.test/#group"})),
    "https-identity-http-doc": ("http://a.test/", _doc(**{"@id": "https://a.test/#group"})),
    "foreign-and-own": ("https://a.test/", json.dumps({"@context": CONTEXT, "@graph": [
        {"@id": "https://a.test/#group", "@type": "Organization", "name": "Mine"},
        {"@id": "https://b.test/#group", "@type": "Organization", "name": "Theirs"},
        {"@id": "https://A.TEST/#x", "name": "upper"}, {"@id": "https://a.test:443/#y", "name": "port"},
        {"@id": "https://a.test.evil/#z", "name": "suffix"}, {"@id": "https://evil@a.test/#u", "name": "userinfo"},
        {"@id": "https://a.test#nopath", "name": "no path"}, {"@id": "http://a.test:8080/#p", "name": "other port"},
        {"@id": "urn:x:1", "name": "urn"}]}).encode()),
    "only-foreign": ("https://a.test/", _doc(**{"@id": "https://b.test/#group"})),
    "no-group": ("https://a.test/", json.dumps({"@context": CONTEXT, "@id": "https://a.test/#x",
                                                "name": "X"}).encode()),
    "non-default-port": ("http://a.test:8080/p", _doc(**{"@id": "http://a.test:8080/#group",
                                                         "member": ["http://a.test:8080/#b", "http://a.test/#c"]})),
    "ipv6-doc": ("http://[::1]/p", _doc(**{"@id": "http://[::1]/#group"})),
    "ipv4-doc": ("http://127.0.0.1/p", _doc(**{"@id": "http://127.0.0.1/#group"})),
    "trailing-dot-doc": ("https://a.test./p", _doc(**{"@id": "https://a.test/#group"})),
    # schema.org spellings, literals that need escaping, typed and tagged values
    "https-schema": ("https://a.test/", json.dumps({
        "@context": "https://schema.org", "@id": "https://a.test/#g", "@type": "https://schema.org/NGO",
        "https://schema.org/email": "x@a.test", "nonprofitStatus": {"@id": "https://schema.org/UKTrust"},
        "name": {"@value": 'quote " back \\ nl \n tab \t bell \u0007 é 😀', "@language": "en-GB"},
        "foundingDate": {"@value": "2001-01-01", "@type": "http://www.w3.org/2001/XMLSchema#date"},
        "location": {"@type": "Place", "name": {"@value": "Hall\r\n", "@language": "cy"},
                     "latitude": 51.5, "maximumAttendeeCapacity": 40, "isAccessible": True}}).encode()),
    # contexts: lists, inline, nested, @import, not first
    "context-list": ("https://a.test/", json.dumps({
        "@context": ["https://schema.org", {"nick": "http://schema.org/alternateName"}],
        "@id": "https://a.test/#g", "@type": "Organization", "nick": "A"}).encode()),
    "context-last": ("https://a.test/", json.dumps({
        "@id": "https://a.test/#g", "@type": "Organization", "name": "A", "@context": CONTEXT}).encode()),
    "context-nested": ("https://a.test/", _doc(**{"@id": "https://a.test/#g", "location": {
        "@context": "https://schema.org", "@type": "Place", "name": "Hall"}})),
    "context-import": ("https://a.test/", json.dumps({
        "@context": {"@version": 1.1, "@import": CONTEXT, "nick": "http://schema.org/alternateName"},
        "@id": "https://a.test/#g", "@type": "Organization", "nick": "A", "member": "https://a.test/#b"}).encode()),
    "context-only": ("https://a.test/", json.dumps({"@context": CONTEXT}).encode()),
    # a literal rdf:type, links to blank nodes, many links
    "literal-type": ("https://a.test/", json.dumps({
        "@context": CONTEXT, "@id": "https://a.test/#g", "@type": "Organization",
        RDF_TYPE: "http://schema.org/NGO"}).encode()),
    "many-links": ("https://a.test/", _doc(**{"@id": "https://a.test/#g", "member": [
        f"https://m{i}.test/#group" for i in range(80)] + [{"@type": "Organization", "name": "blank"}],
        "linkedTo": ["ftp://x.test/", "https://m1.test/#group", "relative"]})),
    # refusals
    "named-graph": ("https://a.test/", json.dumps({"@context": CONTEXT, "@id": "https://a.test/g",
                                                   "@graph": [{"@id": "https://a.test/#g", "@type": "NGO"}]}).encode()),
    "remote-context": ("https://a.test/", json.dumps({"@context": "http://127.0.0.1:9/c", "@type": "NGO"}).encode()),
    "remote-nested": ("https://a.test/", _doc(location={"@context": ["https://schema.org", "http://x.test/c"]})),
    "long-literal": ("https://a.test/", _doc(**{"@id": "https://a.test/#g", "description": "x" * 70_000})),
    "long-iri": ("https://a.test/", _doc(**{"@id": "https://a.test/#" + "g" * 2100})),
    "too-many": ("https://a.test/", _doc(**{"@id": "https://a.test/#g", "knowsAbout": [str(i) for i in range(5100)]})),
    "too-deep": ("https://a.test/", b'{"@context": "https://schema.org", "a": ' + b"[" * 70 + b"]" * 70 + b"}"),
    "not-json": ("https://a.test/", b"{nope"),
    "bad-context-type": ("https://a.test/", _doc(**{"@context": 42})),
}

TURTLE = {
    "turtle-blank-group": ("https://t.test/p", b"""
        @prefix s: <http://schema.org/> .
        [] a s:Organization ; s:name "T"@en ; s:member [ a s:NGO ; s:name "U" ] ;
           s:location [ s:name "Hall" ] .
        <https://other.test/#g> a s:Organization .
        <https://t.test/#x> s:knows <https://t.test/#y> .
    """),
    "turtle-triple-term": ("https://t.test/p", b"""
        @prefix s: <http://schema.org/> .
        [] a s:Organization ; s:name "T"@en .
        <https://t.test/#x> s:knows <<( <https://t.test/#x> s:knows _:q )>> .
        _:q s:subjectOf <<( _:q s:name "inner" )>> .
    """),
}


def _all_cases():
    yield from _file_cases()
    yield from _bench_cases()
    for name, (url, body) in AWKWARD.items():
        yield name, url, "application/ld+json", body
    for name, (url, body) in TURTLE.items():
        yield name, url, "text/turtle", body


CASES = list(_all_cases())


@pytest.mark.parametrize("name, url, kind, body", CASES, ids=[c[0] for c in CASES])
def test_parse_source_matches_the_reference(name, url, kind, body):
    settings = Settings()
    expected = outcome(ref_parse_source, body, kind, url, settings)
    assert outcome(parse_source, body, kind, url, settings) == expected
    assert outcome(parse_source, body, kind, url, settings) == expected  # and again: nothing cached goes stale


def test_the_cases_cover_what_matters():
    results = [outcome(parse_source, body, kind, url, Settings()) for _n, url, kind, body in CASES]
    ok = [r for r in results if r[0] == "ok"]
    assert len(ok) > 40
    assert any(r[4] > 0 for r in ok)                                      # foreign statements dropped
    assert any("#group2" in line for r in ok for line in r[1])            # several blank-node groups
    assert any("#_b" in line for r in ok for line in r[1])                # other blank nodes
    assert any('\\"' in line and "\\n" in line for r in ok for line in r[1])     # escaped literals
    codes = {r[1] for r in results if r[0] == "error"}
    assert {"id_mismatch", "no_group", "named_graph_forbidden", "unsupported_context", "literal_too_long",
            "iri_too_long", "too_many_triples", "too_deep", "invalid_document"} <= codes


@pytest.mark.parametrize("max_outlinks", [0, 1, 3, 50])
def test_link_limit_matches_the_reference(max_outlinks):
    url, body = AWKWARD["many-links"]
    settings = Settings(max_outlinks=max_outlinks)
    assert outcome(parse_source, body, "application/ld+json", url, settings) == \
        outcome(ref_parse_source, body, "application/ld+json", url, settings)


def test_content_hash_pinned_for_the_example_profile():
    """A fixed document, a fixed hash: a change here means every stored source would look changed."""
    body = (ROOT / "examples" / "profile.jsonld").read_bytes()
    url = "https://marshgate-ra.example.org/"
    parsed = parse_source(body, "application/ld+json", url, Settings())
    assert parsed.content_hash == content_hash(parsed.triples)
    assert parsed.content_hash == outcome(ref_parse_source, body, "application/ld+json", url, Settings())[6]


# --------------------------------------------------------------------------- the shortcuts, one by one

AUTHORITY_DOCS = ["http://a.test/", "https://a.test/p?q#f", "http://a.test:8080/", "https://a.test:8443/x",
                  "https://A.Test/", "https://a.test./", "http://[::1]/", "http://[::1]:8080/", "http://127.0.0.1/",
                  "http://./", "http://../", "https://user@a.test/", "ftp://a.test/", "not a url", "http://a_b.test/"]
AUTHORITY_SUBJECTS = [
    "http://a.test/", "https://a.test/#g", "http://a.test/#g", "http://a.test", "https://a.test#g",
    "http://a.test:80/", "https://a.test:443/", "http://a.test:8080/#g", "https://a.test:8443/#g",
    "http://A.TEST/", "http://a.test./#g", "http://a.test.evil/", "http://evil@a.test/", "http://a.test@evil/",
    "http://::1/x", "http://[::1]/x", "http://[::1]:8080/x", "http://127.0.0.1/x", "http:///x", "http://./x",
    "http://a.test/\tx", "http://a.te\tst/", "\x00http://a.test/", "HTTP://a.test/", "urn:x:1", "",
    "http://a.test:0080/", "http://a.test:/", "http://a_b.test/", "http://a.test/[x]",
]


@pytest.mark.parametrize("document_url", AUTHORITY_DOCS)
def test_authority_agrees_with_speaks_for(document_url):
    speaks = authority(document_url)
    for subject in AUTHORITY_SUBJECTS:
        assert speaks(subject) == speaks_for(document_url, subject), (document_url, subject)
        assert speaks(subject) == speaks_for(document_url, subject), (document_url, subject)  # cached


def test_authority_rule_still_holds():
    assert not authority("http://group.test/profile.jsonld")("https://group.test/#group")
    assert authority("https://group.test/profile.jsonld")("http://group.test/#group")
    assert not authority("https://group.test/p")("https://group.test.evil/#group")
    assert not authority("https://group.test/p")("https://group.test:8443/#group")


JSON_DOCS = [
    {"@context": CONTEXT, "@type": "NGO", "name": "x"},
    {"@context": "https://schema.org", "@type": "NGO"},
    {"@context": CONTEXT},
    {"@type": "NGO", "@context": CONTEXT},
    {"@context": [CONTEXT, {"a": "http://x/a"}], "a": "b"},
    {"@context": {"@vocab": "http://schema.org/"}, "location": {"@context": CONTEXT, "name": "é \" \u2028"}},
    [{"@context": CONTEXT, "name": "x"}, {"@context": "https://schema.org", "name": "y"}],
    {"@context": CONTEXT, 1: "int key", "nested": [[{"@context": "http://schema.org"}]]},
]


@pytest.mark.parametrize("doc", JSON_DOCS, ids=range(len(JSON_DOCS)))
def test_payload_is_byte_for_byte_what_json_dumps_wrote(doc):
    expected = json.dumps(ref_inline_contexts(doc)).encode("utf-8")
    before = copy.deepcopy(doc)
    assert _jsonld_payload(doc, owned=False) == expected
    assert doc == before  # not owned: the caller's value is untouched
    assert _jsonld_payload(copy.deepcopy(doc), owned=True) == expected


def test_shared_pinned_contexts_are_never_modified():
    originals = {name: json.loads((Path(contexts.__file__).parent / name).read_text())["@context"]
                 for name in set(contexts.PINNED.values())}
    settings = Settings()
    for _name, url, kind, body in CASES:
        try:
            parse_source(body, kind, url, settings)
        except DocumentError:
            pass
    for name, original in originals.items():
        assert contexts._load_file(name) == original
    out = contexts.inline_contexts({"@context": CONTEXT, "x": {"@context": "https://schema.org"}})
    out["@context"]["name"] = "http://evil.test/name"          # the public copy is the caller's to change
    out["x"]["@context"]["@vocab"] = "http://evil.test/"
    assert contexts._load_file("context.jsonld") == originals["context.jsonld"]
    assert contexts._load_file("schemaorg-context.jsonld") == originals["schemaorg-context.jsonld"]


def test_inline_in_place_skips_only_the_shared_contexts():
    doc = {"@context": [CONTEXT, {"@import": "https://schema.org", "x": {"@context": "https://schema.org"}}],
           "a": {"@context": {"b": {"@id": "http://x/b", "@context": CONTEXT}}}}
    assert contexts.inline_contexts_in_place(copy.deepcopy(doc)) == ref_inline_contexts(doc)
    with pytest.raises(DocumentError) as exc:
        contexts.inline_contexts_in_place({"@context": CONTEXT, "a": {"@context": {"b": {"@context": "http://x/"}}}})
    assert exc.value.code == "unsupported_context"


@pytest.mark.parametrize("value", [
    {"a": [1, 2.5, None, True, "s", {"b": [[[]]]}]},
    [{"a": 1}, {"b": float("inf")}],
    {"a": [{"b": {"c": "d"}}] * 3},
    {"deep": json.loads("[" * 70 + "]" * 70)},
    {"wide": list(range(10_001))},
    {"both": [json.loads("[" * 70 + "]" * 70), list(range(10_001))]},
    {"both": [list(range(10_001)), json.loads("[" * 70 + "]" * 70)]},
    [1], [], "str",
], ids=range(10))
def test_check_shape_raises_what_it_raised(value):
    def code(fn):
        try:
            fn(value, Limits())
        except DocumentError as exc:
            return exc.code
        return None
    assert code(check_shape) == code(ref_check_shape)


def test_jsonld_to_triples_still_copies_the_callers_document():
    doc = {"@context": CONTEXT, "@id": "https://a.test/#g", "@type": "NGO",
           "location": {"@context": CONTEXT, "@id": "https://a.test/#hall", "name": "Hall"}}
    before = copy.deepcopy(doc)
    triples = jsonld_to_triples(doc, None)
    assert doc == before
    assert triples == ref_parse(json.dumps(ref_inline_contexts(doc)).encode(), ox.RdfFormat.JSON_LD, None, Limits())


def test_hash_lines_are_the_terms_as_content_hash_writes_them():
    parsed = parse_source(AWKWARD["https-schema"][1], "application/ld+json", "https://a.test/", Settings())
    lines = sorted(f"{t.subject} {t.predicate} {t.object}" for t in parsed.triples)
    assert parsed.content_hash == hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- crosses_paths: each subject once
H = "https://host.example"
CROSSES = [   # (document URL, subjects of its statements, does it speak outside its group path?)
    (f"{H}/", [f"{H}/#group", f"{H}/#_b1", f"{H}/#group"], False),
    (f"{H}/", [f"{H}/#group", f"{H}/about"], False),                  # the host's own top-level pages: "/"
    (f"{H}/", [f"{H}/#group", f"{H}/a/#group"], True),                 # another group's path
    (f"{H}/a/", [f"{H}/a/#group", f"{H}/a/x/#y", f"{H}/a/#group"], False),
    (f"{H}/a/", [f"{H}/a/#group", f"{H}/b/#group"], True),
    (f"{H}/a/", [f"{H}/a/#group", f"{H}/#group"], True),               # the host's top level is not /a/'s
    (f"{H}/a/", [f"{H}/a/#group", f"{H}/a/../b/#group"], True),        # dot segments: no path, never own
    (f"{H}/a/", [f"{H}/a/#group", f"{H}/a%2fb/#group"], True),         # an encoded slash
    (f"{H}/a/", [f"{H}/a/#group", f"{H}/a/%2e%2e/b/#group"], True),    # encoded dots
    (f"{H}/a/", [f"{H}/b/#group"] * 3, True),
    (f"{H}/a/", [f"{H}/a/#group"] * 3, False),
]


def _parsed(subjects):
    from hubnet.crawler.crawl.extract import Parsed

    name = ox.NamedNode(f"{SCHEMA}name")
    triples = [ox.Quad(ox.NamedNode(s), name, ox.Literal(f"v{k}")) for k, s in enumerate(subjects)]
    return Parsed(triples=triples, groups=[], dropped_foreign=0, links=[], content_hash="")


@pytest.mark.parametrize("document_url,subjects,expected", CROSSES)
def test_crosses_paths_answers_per_subject(document_url, subjects, expected, monkeypatch):
    """The answer the per-statement rule gives, with the group path of each distinct subject
    worked out once (plus the document's own), not once per statement."""
    from hubnet.crawler.crawl import extract

    calls = []
    real = extract.scope
    monkeypatch.setattr(extract, "scope", lambda url: calls.append(url) or real(url))
    assert extract.crosses_paths(_parsed(subjects), document_url) is expected
    assert len(calls) <= 1 + len(set(subjects))



@pytest.mark.parametrize("max_values", [1, 50])
def test_the_subjects_parse_source_met_are_those_of_its_statements(max_values):
    """crosses_paths reads the kept statements' subjects parse_source collected (Parsed.subjects) rather
    than reading every statement's subject again: the same set (statements past max_values_per_property,
    foreign ones and renamed blank nodes included), so the same answer, for every case of the family."""
    from dataclasses import replace

    from hubnet.crawler.crawl.extract import crosses_paths

    read = 0
    for name, url, kind, body in CASES:
        try:
            parsed = parse_source(body, kind, url, Settings(max_values_per_property=max_values))
        except DocumentError:
            continue   # refused: no statements
        read += 1
        assert parsed.subjects == {t.subject.value for t in parsed.triples}, name
        assert crosses_paths(parsed, url) is crosses_paths(replace(parsed, subjects=None), url), name
    assert read > 40
