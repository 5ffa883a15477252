"""Shared helpers for the /sparql tests (no tests here): fixture data, a live server, a canary.

- ``fill_store``: a real on-disk store, loaded with ``load_file`` from small Turtle and
  JSON-LD files (three groups in three graphs, plus the provenance graph).
- ``LiveServer``: a minimal Flask app with only the blueprint (``make_app``), served by
  waitress on 127.0.0.1:0 and read over loopback with requests.
- ``Canary``: a loopback HTTP server that counts every connection it accepts; the refusal
  tests use its URL as the SERVICE/FROM target and assert it was never contacted.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pyoxigraph as ox
import waitress
from flask import Flask

from hubnet.crawler.store.graph import FAILED, SourceRecord, Store, load_file, now
from hubnet.crawler.web import sparql as sparql_web

ALPHA = "https://alpha.example.org/"
BETA = "https://beta.example.org/"
NETWORK = "https://network.example.org/"
BROKEN = "https://broken.example.org/"
GRAPHS = (ALPHA, BETA, NETWORK)
PROV_GRAPH = "https://w3id.org/hubnet/graph/provenance"

ALPHA_JSONLD = """{
  "@context": "https://w3id.org/hubnet/context.jsonld",
  "@id": "https://alpha.example.org/#group",
  "@type": "Organization",
  "name": "Alpha Garden Group",
  "description": "Neighbours growing food on the Marsh Gate allotments.",
  "url": "https://alpha.example.org/",
  "additionalType": "environmental-group",
  "knowsAbout": ["gardening", "food growing"],
  "location": {"@type": "Place", "name": "Marsh Gate Allotments",
               "geo": {"@type": "GeoCoordinates", "latitude": 51.5631, "longitude": -0.0105}},
  "memberOf": "https://network.example.org/#group",
  "linkedTo": "https://beta.example.org/#group",
  "makesOffer": [{"@type": "Offer", "name": "Garden tools to lend", "category": "equipment"}],
  "seeks": [{"@type": "Demand", "name": "Volunteers for Saturdays", "category": "volunteers"}]
}
"""

BETA_TTL = """@prefix schema: <http://schema.org/> .
@prefix org: <http://www.w3.org/ns/org#> .
@prefix hubnet: <https://w3id.org/hubnet/ns#> .
<https://beta.example.org/#group> a schema:NGO ;
    schema:name "Beta Youth Club" ;
    schema:description "Evening clubs and a summer scheme for young people."@en ;
    schema:url <https://beta.example.org/> ;
    schema:additionalType <https://w3id.org/hubnet/kind/youth-group> ;
    schema:knowsAbout "youth work", "sport" ;
    schema:memberOf <https://network.example.org/#group> ;
    org:linkedTo <https://alpha.example.org/#group> ;
    schema:location <https://beta.example.org/#place> ;
    schema:makesOffer <https://beta.example.org/#hall> .
<https://beta.example.org/#place> a schema:Place ; schema:geo <https://beta.example.org/#geo> .
<https://beta.example.org/#geo> a schema:GeoCoordinates ; schema:latitude 51.7 ; schema:longitude -0.3 .
<https://beta.example.org/#hall> a schema:Offer ; schema:name "Hall for hire" ;
    hubnet:category <https://w3id.org/hubnet/category/meeting-space> .
"""

NETWORK_TTL = """@prefix schema: <http://schema.org/> .
<https://network.example.org/#group> a schema:Organization ;
    schema:name "Leyton Community Network" ;
    schema:additionalType <https://w3id.org/hubnet/kind/civic-network> ;
    schema:member <https://alpha.example.org/#group> .
"""


def fill_store(path: Path, *, filler: int = 0, store: Store | None = None) -> Store:
    """A store in ``path`` (or ``store``, empty) with the three fixture graphs (and ``filler`` extra
    triples in a 4th)."""
    files = path / "fixtures"
    files.mkdir(parents=True, exist_ok=True)
    (files / "alpha.jsonld").write_text(ALPHA_JSONLD, encoding="utf-8")
    (files / "beta.ttl").write_text(BETA_TTL, encoding="utf-8")
    (files / "network.ttl").write_text(NETWORK_TTL, encoding="utf-8")
    store = store or Store(path / "store")
    load_file(store, files / "alpha.jsonld", ALPHA)
    load_file(store, files / "beta.ttl", BETA)
    load_file(store, files / "network.ttl", NETWORK)
    stamp = now()
    store.update_record(SourceRecord(url=BROKEN, status=FAILED, found_via="link", first_seen=stamp,
                                     error_code="http_500", error_message="the server answered 500",
                                     error_at=stamp))
    if filler:
        lines = "".join(f"<https://filler.example.org/s{i}> <https://filler.example.org/p{i % 7}> \"{i}\" .\n"
                        for i in range(filler))
        (files / "filler.nt").write_text(lines, encoding="utf-8")
        load_file(store, files / "filler.nt", "https://filler.example.org/")
    return store


def store_digest(store: Store) -> str:
    """A hash of every quad, order-independent: "the store is unchanged" in one comparison."""
    dump = store.oxigraph.dump(format=ox.RdfFormat.N_QUADS) or b""
    return hashlib.sha256(b"\n".join(sorted(dump.splitlines()))).hexdigest()


def make_app(store: Store, **options) -> Flask:
    """A minimal app with only the SPARQL blueprint, as the project's app factory wires it."""
    app = Flask(__name__)
    sparql_web.init_app(app, store, **options)
    app.register_blueprint(sparql_web.bp)
    return app


class LiveServer:
    """waitress serving ``app`` on a free loopback port, in a thread."""

    def __init__(self, app, threads: int = 8):
        self.app = app
        self.server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
        self.url = f"http://127.0.0.1:{self.server.effective_port}/sparql"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    @property
    def service(self):
        return self.app.extensions["hubnet.queries"]

    def close(self):
        self.server.close()
        self.thread.join(5)
        self.service.close()


class Canary:
    """A loopback HTTP server counting every connection: an SSRF would show up as hits > 0."""

    def __init__(self):
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/turtle")
                self.end_headers()
                self.wfile.write(b"<http://canary.test/s> <http://canary.test/p> \"leaked\" .\n")

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            def process_request(self, request, client_address):
                hits.append(client_address)
                super().process_request(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
