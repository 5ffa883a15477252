"""Contexts: pinned ones load from the package, every other one is refused, and
neither makes a network request or opens a file outside the package.

Two independent witnesses check "no I/O":

* a Python audit hook (``sys.addaudithook``) records ``socket.connect``,
  ``socket.getaddrinfo``, ``urllib.Request``, ``http.client.connect`` and any
  ``open`` of a path outside the ``vocab`` package and Python's own library
  directories, while a test is watching;
* a loopback HTTP server that serves a context, whose request log must stay
  empty. It also catches requests from native code (pyoxigraph is Rust, and
  Rust I/O does not raise Python audit events).
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import socket
import sys
import sysconfig
import threading
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from rdflib import Literal, URIRef
from rdflib.namespace import RDF

from hubnet import vocab
from hubnet.vocab import SCHEMA

# --------------------------------------------------------------------------- the I/O auditor

_NET_EVENTS = {"socket.connect", "socket.getaddrinfo", "urllib.Request", "http.client.connect"}


def _allowed_roots() -> tuple:
    roots = {Path(vocab.__file__).resolve().parent}
    for names in ({}, {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}):
        paths = sysconfig.get_paths(vars=names) if names else sysconfig.get_paths()
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            roots.add(Path(paths[key]).resolve())
    return tuple(str(r) for r in roots)


class _Audit:
    """Audit hooks cannot be removed, so the hook is installed once and does nothing unless watching."""

    def __init__(self):
        self.watching = False
        self.events: list = []
        self.roots = _allowed_roots()

    def __call__(self, event, args):
        if not self.watching:
            return
        if event in _NET_EVENTS:
            self.events.append((event, repr(args)[:200]))
        elif event == "open":
            path = args[0]
            if isinstance(path, int):  # an already-open file descriptor
                return
            try:
                real = os.path.realpath(os.fsdecode(path))
            except (TypeError, ValueError):
                self.events.append((event, repr(path)))
                return
            if not any(real == r or real.startswith(r + os.sep) for r in self.roots):
                self.events.append((event, real))

    @contextmanager
    def watch(self):
        self.events = []
        self.watching = True
        try:
            yield self.events
        finally:
            self.watching = False


_AUDIT = _Audit()
_INSTALLED = False


@pytest.fixture(scope="session")
def audit() -> _Audit:
    global _INSTALLED
    if not _INSTALLED:
        sys.addaudithook(_AUDIT)
        _INSTALLED = True
    return _AUDIT


# --------------------------------------------------------------------------- the loopback server

class _ContextServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _ContextHandler)
        self.requests: list = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _ContextHandler(http.server.BaseHTTPRequestHandler):
    # If this context were ever applied, "name" would map to an attacker's IRI.
    BODY = json.dumps({"@context": {"name": "http://evil.test/name", "@vocab": "http://evil.test/"}}).encode()

    def do_GET(self):
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/ld+json")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    srv = _ContextServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


@pytest.fixture
def ctx_server(server):
    server.requests.clear()
    return server


def test_the_witnesses_can_see_io(audit, ctx_server, tmp_path):
    """Control: both witnesses notice real I/O, so their silence elsewhere means something."""
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    with audit.watch() as events:
        outside.read_text()
        socket.getaddrinfo("127.0.0.1", ctx_server.server_port)
        with urllib.request.urlopen(ctx_server.url + "/control", timeout=5) as resp:
            resp.read()
    kinds = {e[0] for e in events}
    assert {"open", "socket.getaddrinfo", "urllib.Request", "socket.connect"} <= kinds
    assert ("open", str(outside.resolve())) in events
    assert ctx_server.requests == ["/control"]


def test_the_auditor_allows_the_package_directory(audit):
    with audit.watch() as events:
        (Path(vocab.__file__).resolve().parent / "context.jsonld").read_bytes()
    assert events == []


# --------------------------------------------------------------------------- refused contexts

def _org(**extra) -> dict:
    doc = {"@id": "https://a.example/#org", "@type": "Organization", "name": "A", "url": "https://a.example/"}
    doc.update(extra)
    return doc


def _refused_documents(srv_url: str) -> list:
    remote = f"{srv_url}/ctx.jsonld"
    return [
        ("loopback-discard-port", {"@context": "http://127.0.0.1:9/ctx", **_org()}),
        ("loopback-server", {"@context": remote, **_org()}),
        ("file-etc-passwd", {"@context": "file:///etc/passwd", **_org()}),
        ("unknown-https", {"@context": "https://unknown.example/ctx.jsonld", **_org()}),
        ("relative-path", {"@context": "../secret.jsonld", **_org()}),
        ("nested-in-node", {"@context": "https://schema.org",
                            **_org(location={"@context": remote, "@type": "Place", "name": "Hall"})}),
        ("nested-in-graph-node", {"@context": "https://schema.org",
                                  "@graph": [{"@context": remote, **_org()}]}),
        ("import-unknown", {"@context": {"@version": 1.1, "@import": remote, "name": "http://schema.org/name"},
                            **_org()}),
        ("import-file", {"@context": {"@version": 1.1, "@import": "file:///etc/passwd"}, **_org()}),
        ("scoped-context-in-term", {"@context": {"@vocab": "http://schema.org/",
                                                 "location": {"@id": "http://schema.org/location",
                                                              "@context": remote}}, **_org()}),
        ("list-pinned-then-unknown", {"@context": ["https://schema.org", remote], **_org()}),
        ("list-unknown-then-pinned", {"@context": ["https://unknown.example/ctx.jsonld", "https://schema.org"],
                                      **_org()}),
        ("list-of-documents", [{"@context": "https://schema.org", **_org()}, {"@context": remote, **_org()}]),
        ("lookalike-www", {"@context": "https://www.schema.org", **_org()}),
        ("lookalike-userinfo", {"@context": "https://schema.org@127.0.0.1/", **_org()}),
        ("lookalike-suffix", {"@context": "https://schema.org.evil.test/", **_org()}),
        ("hubnet-lookalike", {"@context": "https://w3id.org/hubnet/context.jsonld/../../evil", **_org()}),
    ]


REFUSED_IDS = [name for name, _doc in _refused_documents("http://127.0.0.1:1")]


@pytest.mark.parametrize("name", REFUSED_IDS)
def test_refused_context_makes_no_io(name, audit, ctx_server):
    doc = dict(_refused_documents(ctx_server.url))[name]
    before = copy.deepcopy(doc)
    with audit.watch() as events:
        with pytest.raises(vocab.DocumentError) as exc:
            vocab.load(doc)
    assert exc.value.code == "unsupported_context"
    assert exc.value.status == 422
    assert "is not one hubnet knows" in exc.value.message or "@import" in exc.value.message
    assert events == []
    assert ctx_server.requests == []
    assert doc == before  # the caller's document is not modified


@pytest.mark.parametrize("media_type, wrap", [
    ("application/ld+json", lambda text: text),
    ("application/ld+json", lambda text: text.encode("utf-8")),
    ("text/html", lambda text: f'<html><head><script type="application/ld+json">{text}</script></head></html>'),
])
def test_refused_context_in_text_and_html(media_type, wrap, audit, ctx_server):
    text = json.dumps({"@context": ctx_server.url + "/ctx.jsonld", **_org()})
    with audit.watch() as events:
        with pytest.raises(vocab.DocumentError) as exc:
            vocab.load(wrap(text), media_type=media_type)
    assert exc.value.code == "unsupported_context"
    assert events == [] and ctx_server.requests == []


def test_validate_refuses_before_any_io(audit, ctx_server):
    with audit.watch() as events:
        with pytest.raises(vocab.DocumentError) as exc:
            vocab.validate({"@context": ctx_server.url + "/ctx.jsonld", **_org()})
    assert exc.value.code == "unsupported_context"
    assert events == [] and ctx_server.requests == []


def test_file_context_is_not_read_even_when_it_exists(audit, tmp_path):
    secret = tmp_path / "secret.jsonld"
    secret.write_text(json.dumps({"@context": {"name": "http://evil.test/name"}}))
    doc = {"@context": secret.as_uri(), **_org()}
    with audit.watch() as events:
        with pytest.raises(vocab.DocumentError) as exc:
            vocab.load(doc, base_iri=(tmp_path / "doc.jsonld").as_uri())
    assert exc.value.code == "unsupported_context"
    assert events == []


def test_relative_context_with_file_base_is_refused(audit, tmp_path):
    (tmp_path / "secret.jsonld").write_text(json.dumps({"@context": {"name": "http://evil.test/name"}}))
    doc = {"@context": "secret.jsonld", **_org()}
    with audit.watch() as events:
        with pytest.raises(vocab.DocumentError) as exc:
            vocab.load(doc, base_iri=(tmp_path / "doc.jsonld").as_uri())
    assert exc.value.code == "unsupported_context"
    assert events == []


def test_import_that_is_not_a_string_is_refused():
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.load({"@context": {"@version": 1.1, "@import": ["https://schema.org"]}, **_org()})
    assert exc.value.code == "unsupported_context"


def test_context_of_the_wrong_type_is_an_invalid_document():
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.load({"@context": 42, **_org()})
    assert exc.value.code == "invalid_document"


def test_refusal_message_says_what_is_accepted():
    with pytest.raises(vocab.DocumentError) as exc:
        vocab.load({"@context": "https://unknown.example/ctx.jsonld", **_org()})
    assert "https://unknown.example/ctx.jsonld" in exc.value.message
    assert vocab.CONTEXT_IRI in exc.value.message and "https://schema.org" in exc.value.message
    assert exc.value.to_dict()["error"]["code"] == "unsupported_context"


# --------------------------------------------------------------------------- pinned contexts

PINNED_SPELLINGS = [
    "http://schema.org",
    "https://schema.org",
    "http://schema.org/",
    "https://schema.org/",
    "https://schema.org/docs/jsonldcontext.json",
    "http://schema.org/docs/jsonldcontext.json",
    "https://schema.org/docs/jsonldcontext.jsonld",
    ["https://schema.org", {"hubnet": "https://w3id.org/hubnet/ns#"}],
    ["https://schema.org", {"@vocab": "http://schema.org/"}],
    vocab.CONTEXT_IRI,
    [vocab.CONTEXT_IRI, {"nickname": "http://schema.org/alternateName"}],
]


@pytest.mark.parametrize("context", PINNED_SPELLINGS, ids=lambda c: json.dumps(c)[:60])
def test_pinned_context_loads_schema_org_without_io(context, audit, ctx_server):
    doc = {"@context": context, **_org(email="hello@a.example", sameAs="https://social.example/a")}
    with audit.watch() as events:
        graph = vocab.load(doc)
    assert events == []
    assert ctx_server.requests == []
    org = URIRef("https://a.example/#org")
    assert (org, RDF.type, SCHEMA.Organization) in graph
    assert graph.value(org, SCHEMA.name) == Literal("A")
    assert graph.value(org, SCHEMA.email) == Literal("hello@a.example")
    assert graph.value(org, SCHEMA.url) == URIRef("https://a.example/")         # an IRI, not a string
    assert graph.value(org, SCHEMA.sameAs) == URIRef("https://social.example/a")
    assert all(str(p).startswith(("http://schema.org/", str(RDF))) for p in graph.predicates())


def test_pinned_context_in_an_inline_list_adds_the_inline_terms():
    doc = {"@context": [vocab.CONTEXT_IRI, {"nickname": "http://schema.org/alternateName"}],
           **_org(nickname="The A Team")}
    graph = vocab.load(doc)
    assert graph.value(URIRef("https://a.example/#org"), SCHEMA.alternateName) == Literal("The A Team")


def test_pinned_spellings_are_all_known():
    for spelling in PINNED_SPELLINGS:
        for ref in (spelling if isinstance(spelling, list) else [spelling]):
            if isinstance(ref, str):
                assert vocab.is_pinned(ref), ref
    assert not vocab.is_pinned("https://schema.org.evil.test/")
    assert not vocab.is_pinned(None)


def test_pinned_context_is_a_fresh_copy_each_time():
    ctx = vocab.pinned_context("https://schema.org")
    ctx["name"] = "http://evil.test/name"
    graph = vocab.load({"@context": "https://schema.org", **_org()})
    assert graph.value(URIRef("https://a.example/#org"), SCHEMA.name) == Literal("A")
    assert vocab.hubnet_context() == vocab.pinned_context(vocab.CONTEXT_IRI)


def test_https_schema_org_iris_are_normalised_to_http():
    doc = {"@context": "https://schema.org", "@id": "https://a.example/#org",
           "@type": "https://schema.org/NGO",
           "https://schema.org/email": "hello@a.example",
           "nonprofitStatus": {"@id": "https://schema.org/UKTrust"},
           "name": "A"}
    graph = vocab.load(doc)
    org = URIRef("https://a.example/#org")
    assert (org, RDF.type, URIRef("http://schema.org/NGO")) in graph
    assert graph.value(org, URIRef("http://schema.org/email")) == Literal("hello@a.example")
    assert graph.value(org, SCHEMA.nonprofitStatus) == URIRef("http://schema.org/UKTrust")
    assert not any(str(t).startswith("https://schema.org/") for triple in graph for t in triple)
    assert vocab.find_groups(graph) == [org]


def test_inline_https_vocab_is_normalised_too():
    graph = vocab.load({"@context": {"@vocab": "https://schema.org/"}, **_org()})
    assert (URIRef("https://a.example/#org"), RDF.type, SCHEMA.Organization) in graph
    assert graph.value(URIRef("https://a.example/#org"), SCHEMA.name) == Literal("A")


def test_no_context_gives_no_triples_and_no_group():
    report = vocab.validate(_org())
    assert report.conforms is False
    assert [e.field for e in report.errors] == ["@type"]


def test_inline_contexts_inlines_every_pinned_reference_and_keeps_the_input():
    doc = {"@context": "https://schema.org", **_org(location={"@context": vocab.CONTEXT_IRI, "name": "Hall"})}
    before = copy.deepcopy(doc)
    out = vocab.inline_contexts(doc)
    assert doc == before
    assert isinstance(out["@context"], dict) and out["@context"]["@vocab"] == "http://schema.org/"
    assert out["location"]["@context"] == vocab.hubnet_context()
