"""The node's public routes: content negotiation, caching headers, 410, escaping."""

from __future__ import annotations

import json
import os
import re
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest
from rdflib import Graph, Literal, URIRef

from hubnet import vocab
from hubnet.node.services import services

from node_helpers import EXAMPLE, example, make_app, modified

NAME = "Marsh Gate Residents' Association"


def test_home_is_an_accessible_page_with_the_profile_embedded(client):
    resp = client.get("/", headers={"Accept": "text/html"})
    assert resp.status_code == 200
    assert resp.content_type == "text/html; charset=utf-8"
    html = resp.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "<h1>Marsh Gate Residents&#39; Association</h1>" in html
    assert '<link rel="alternate" type="application/ld+json" href="/profile.jsonld">' in html
    for shown in ("Residents&#39; association", "community lunch", "E10 5AA", "Leyton ward (E05000000)",
                  "mailto:secretary@marshgate-ra.example.org", "Community room for hire", "Meeting space",
                  "Treasurer", 'href="https://leyton-network.example.org/#group"', "Bengali"):
        assert shown in html, shown
    # The embedded block reads back (with vocab's own HTML reader) as exactly the profile.
    assert vocab.read_document(resp.data, "text/html") == example()
    assert resp.headers["Vary"] == "Accept"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


def test_no_accept_header_gets_the_page(client):
    assert client.get("/").content_type.startswith("text/html")


@pytest.mark.parametrize("accept, expected", [
    ("application/ld+json", "application/ld+json"),
    ("application/json", "application/json"),
    ("text/turtle", "text/turtle; charset=utf-8"),
    ("text/html;q=0.5, application/ld+json", "application/ld+json"),
    ("text/turtle;q=0.9, text/html", "text/html; charset=utf-8"),
])
def test_home_negotiates(client, accept, expected):
    resp = client.get("/", headers={"Accept": accept})
    assert resp.status_code == 200
    assert resp.content_type == expected
    assert "Accept" in resp.headers["Vary"]


def test_home_refuses_what_it_cannot_give(client):
    resp = client.get("/", headers={"Accept": "image/png"})
    assert resp.status_code == 406
    assert resp.json["error"]["code"] == "not_acceptable"


def test_jsonld_is_the_file_byte_for_byte(client):
    resp = client.get("/profile.jsonld")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/ld+json"
    assert resp.data == EXAMPLE.read_bytes()
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert client.get("/", headers={"Accept": "application/ld+json"}).data == resp.data


def test_turtle_is_the_same_data(client):
    resp = client.get("/profile.ttl")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/turtle; charset=utf-8"
    g = Graph().parse(data=resp.get_data(as_text=True), format="turtle")
    group = URIRef("https://marshgate-ra.example.org/#group")
    assert (group, URIRef("http://schema.org/name"), Literal(NAME)) in g
    assert "@prefix schema: <http://schema.org/>" in resp.get_data(as_text=True)
    assert len(g) == len(vocab.load(EXAMPLE))


def test_well_known_points_to_the_profile(client):
    resp = client.get("/.well-known/hubnet")
    assert resp.status_code == 200 and resp.content_type == "application/json"
    assert resp.json == {"hubnet": "0.1", "profile": "http://localhost/profile.jsonld",
                         "id": "https://marshgate-ra.example.org/#group", "name": NAME}


def test_well_known_uses_public_url(tmp_path):
    client = make_app(tmp_path, PUBLIC_URL="https://marshgate-ra.example.org/").test_client()
    assert client.get("/.well-known/hubnet").json["profile"] == "https://marshgate-ra.example.org/profile.jsonld"


# ------------------------------------------------------------------ caching
@pytest.mark.parametrize("path, accept", [("/", "text/html"), ("/", "application/ld+json"), ("/", "text/turtle"),
                                          ("/profile.jsonld", "*/*"), ("/profile.ttl", "*/*"),
                                          ("/.well-known/hubnet", "*/*")])
def test_conditional_get(client, path, accept):
    first = client.get(path, headers={"Accept": accept})
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), "a strong ETag"
    assert first.headers["Last-Modified"]
    assert first.headers["Cache-Control"] == "no-cache"

    again = client.get(path, headers={"Accept": accept, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag

    since = client.get(path, headers={"Accept": accept, "If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304

    past = format_datetime(datetime.now(timezone.utc) - timedelta(days=1), usegmt=True)
    assert client.get(path, headers={"Accept": accept, "If-Modified-Since": past}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.1.3)
    stale = client.get(path, headers={"Accept": accept, "If-None-Match": '"other"',
                                      "If-Modified-Since": first.headers["Last-Modified"]})
    assert stale.status_code == 200


def test_each_representation_has_its_own_etag(client):
    etags = {client.get("/", headers={"Accept": a}).headers["ETag"]
             for a in ("text/html", "application/ld+json", "text/turtle")}
    assert len(etags) == 3


def test_etag_changes_when_the_profile_changes(client, profile_path):
    before = client.get("/profile.jsonld")
    profile_path.write_bytes(profile_path.read_bytes().replace(b"Leyton ward", b"Leyton"))
    later = datetime.now().timestamp() + 5
    os.utime(profile_path, (later, later))
    after = client.get("/profile.jsonld", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert b'"Leyton"' in after.data


def test_head_and_method_not_allowed(client):
    head = client.head("/profile.jsonld")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == client.get("/profile.jsonld").headers["ETag"]
    assert client.head("/").status_code == 200
    for path in ("/", "/profile.jsonld", "/profile.ttl", "/.well-known/hubnet"):
        assert client.post(path).status_code == 405
        assert client.put(path, data=b"{}").status_code == 405


# ------------------------------------------------------------------ unpublished, missing, broken
PUBLIC_PATHS = ("/", "/profile.jsonld", "/profile.ttl", "/.well-known/hubnet")


def test_unpublished_profile_is_gone_everywhere_until_republished(app, client):
    store = services(app).store
    store.set_published(False)
    for path in PUBLIC_PATHS:
        resp = client.get(path)
        assert resp.status_code == 410, path
        assert "withdrawn" in resp.get_data(as_text=True)
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert client.get("/profile.jsonld").json["error"]["code"] == "withdrawn"
    assert "<h1>" in client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    store.set_published(True)
    for path in PUBLIC_PATHS:
        assert client.get(path).status_code == 200, path


def test_no_profile_yet(tmp_path):
    client = make_app(tmp_path, False, password=None).test_client()
    assert client.get("/profile.jsonld").status_code == 404
    assert "No profile" in client.get("/").get_data(as_text=True)


def test_unreadable_profile_is_503_not_a_crash(app, client, profile_path):
    profile_path.write_text("{not json", encoding="utf-8")
    for path in PUBLIC_PATHS:
        resp = client.get(path)
        assert resp.status_code == 503, path
        assert "cannot be read" in resp.get_data(as_text=True)


# ------------------------------------------------------------------ escaping
EVIL = "</script><script>alert(1)</script>"


def test_script_in_the_name_is_escaped_and_cannot_leave_the_jsonld_block(tmp_path):
    doc = modified(name="<script>alert(1)</script>", description=EVIL + " & <b>bold</b>",
                   knowsAbout=["<img src=x onerror=alert(1)>"])
    assert vocab.validate(doc).conforms  # a name is just text: the page must cope
    client = make_app(tmp_path, doc, password=None).test_client()
    html = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>" in html
    # Exactly one script element, the JSON-LD one, whose text is the whole profile.
    assert html.count("<script") == 1 and html.count("</script>") == 1
    block = html.split('<script type="application/ld+json">', 1)[1].split("</script>", 1)[0]
    assert "<" not in block and ">" not in block
    assert "\\u003c/script\\u003e" in block and "\\u0026" in block
    assert json.loads(block) == doc
    assert vocab.read_document(html.encode(), "text/html") == doc


def test_only_http_links_become_hrefs(tmp_path):
    # A hand-edited file the editor would refuse; the page must still be safe.
    doc = modified(url="javascript:alert(1)", sameAs=["javascript:alert(2)", "https://ok.example/"],
                   memberOf="javascript:alert(3)", linkedTo=["data:text/html,<script>x</script>"],
                   logo="javascript:alert(4)", license="vbscript:x")
    client = make_app(tmp_path, doc, password=None).test_client()
    html = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    # The page's own empty icon (no /favicon.ico request) is the template's, not the profile's.
    hrefs = re.findall(r'(?:href|src)="([^"]*)"', html.replace('<link rel="icon" href="data:,">', ""))
    assert hrefs
    for href in hrefs:
        assert href.startswith(("https://", "http://", "mailto:", "tel:", "/")), href
    assert 'href="https://ok.example/"' in html
    assert "javascript:alert(3)" in html  # shown as text, so the volunteer can see the mistake
    assert "<script>x" not in html
