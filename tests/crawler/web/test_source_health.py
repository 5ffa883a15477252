"""The editor's rules on crawled profiles (issue 14): a profile with problems is stored as the
group wrote it, and each problem shows, in the editor's words, on /sources, /sources/<key>
(and its JSON twin) and the group's page. Unchanged profiles are not checked again."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from hubnet import vocab
from hubnet.crawler.cli import main
from hubnet.crawler.crawl import checks
from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.store.graph import Store
from hubnet.crawler.store.index import group_key
from hubnet.testing import Federation

from server_helpers import make_app

CONTEXT = "https://w3id.org/hubnet/context.jsonld"

# One profile per rule family the editor enforces and the crawler would otherwise accept silently:
# (host, fields that break the rule, the problem's field)
BROKEN = [
    ("noname.test", {"name": ""}, "name"),
    ("words.test", {"linkedTo": "Ferry Lane Residents Association"}, "linkedTo"),
    ("url.test", {"url": "elmroad.localhost"}, "url"),
    ("lat.test", {"location": {"@type": "Place", "geo": {"@type": "GeoCoordinates", "latitude": 515.6,
                                                          "longitude": -0.01}}}, "location"),
    ("email.test", {"email": "not an email address"}, "email"),
    ("member.test", {"memberOf": "just some words"}, "memberOf"),
    # A node carrying "@import": inlining it adds schema.org's term definitions ("url", "logo"...) to the
    # node, which the crawl's checks must not read as the group's own values (issue 18: they read the
    # JSON parse_source decoded, except in such a document).
    ("import.test", {"location": {"@import": "https://schema.org", "name": "Hall", "url": "words"}}, "location.url"),
]
FINE = "fine.test"


def body(fed, host, extra) -> dict:
    return {"@context": CONTEXT, "@id": fed.group_iri(host), "@type": "Organization",
            "name": host.split(".")[0].title() + " Group", "email": f"hello@{host}", **extra}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    fed = Federation()
    hosts = [h for h, _, _ in BROKEN] + [FINE]
    docs = {h: body(fed, h, extra) for h, extra, _ in BROKEN} | {FINE: body(fed, FINE, {})}
    for host, doc in docs.items():
        fed.put(host, "/", doc)
    path = tmp_path_factory.mktemp("health") / "store"
    store = Store(path)
    try:
        summary = Crawler(store, fed.settings(*hosts)).crawl([fed.url(h) for h in hosts])
    finally:
        store.close()
    app = make_app(fed, path, CRAWL_SETTINGS=fed.settings(*hosts))
    yield fed, app, docs, summary
    app.extensions["hubnet"].close()
    fed.close()


def editor_words(fed, host, doc) -> list[str]:
    """What `hubnet-node validate URL` says about the same profile."""
    report = vocab.validate(json.dumps(doc).encode(), base_iri=fed.url(host), published_at=fed.url(host))
    return [i.message for i in report.issues]


@pytest.mark.parametrize("host, extra, field", BROKEN, ids=[b[0] for b in BROKEN])
def test_each_problem_shows_on_the_sources_health_in_the_editors_words(crawled, host, extra, field):
    fed, app, docs, summary = crawled
    client = app.test_client()
    url = fed.url(host)
    assert {o.url: o.result for o in summary.outcomes}[url] == "new"   # stored all the same
    expected = editor_words(fed, host, docs[host])
    assert any(m.startswith(field) for m in expected), expected   # the rule does break here

    source = client.get(f"/api/sources/{group_key(url)}").get_json()
    assert [p["message"] for p in source["problems"]] == expected
    page = client.get(f"/sources/{group_key(url)}")
    assert page.status_code == 200 and f'</api/sources/{group_key(url)}>' in page.headers["Link"]
    html = page.get_data(as_text=True)
    for message in expected:
        assert _escaped(message) in html

    listing = client.get("/sources.json").get_json()["sources"]
    (row,) = [s for s in listing if s["url"] == url]
    assert [p["message"] for p in row["problems"]] == expected and row["key"] == group_key(url)
    n = len(expected)
    assert f"{n} problem{'' if n == 1 else 's'} in the profile" in client.get("/sources").get_data(as_text=True)

    groups = client.get("/api/groups?limit=100").get_json()["groups"]
    (group,) = [g for g in groups if g["id"] == fed.group_iri(host)]
    group_html = client.get(f"/groups/{group['key']}").get_data(as_text=True)
    for message in expected:
        assert _escaped(message) in group_html


def test_a_profile_with_only_suggestions_shows_no_error(crawled):
    fed, app, docs, _ = crawled
    source = app.test_client().get(f"/api/sources/{group_key(fed.url(FINE))}").get_json()
    assert source["status"] == "ok" and source["problems"]
    assert {p["severity"] for p in source["problems"]} == {"warning"}
    assert [p["message"] for p in source["problems"]] == editor_words(fed, FINE, docs[FINE])
    html = app.test_client().get(f"/sources/{group_key(fed.url(FINE))}").get_data(as_text=True)
    assert "Suggestion:" in html and "Error:" not in html


def test_an_unknown_source_key_is_a_404(crawled):
    _, app, _, _ = crawled
    resp = app.test_client().get("/api/sources/nope-0000")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


def test_only_new_and_changed_profiles_are_checked(tmp_path, monkeypatch):
    """The checks counted where they run: on the pipeline thread (parse_workers 0), the only place this
    test's spy is; the twin below shows the same in a parser process, by what the checks write."""
    fed = Federation()
    calls = []
    for door in ("validate", "validate_rows"):   # the body, or the statements parse_source read from it
        real = getattr(checks.vocab, door)
        monkeypatch.setattr(checks.vocab, door, lambda *a, real=real, **kw: calls.append(kw["published_at"])
                            or real(*a, **kw))
    try:
        hosts = ("a.test", "b.test")
        for h in hosts:
            fed.put(h, "/", body(fed, h, {"name": ""}))
        store = Store(tmp_path / "store")
        try:
            settings = fed.settings(*hosts, per_host_delay=0, parse_workers=0)
            Crawler(store, settings).crawl([fed.url(h) for h in hosts])
            assert sorted(calls) == sorted(fed.url(h) for h in hosts)
            calls.clear()
            Crawler(store, settings).crawl()            # nothing changed: nothing checked
            assert calls == []
            fed.put("a.test", "/", body(fed, "a.test", {"name": "A fixed name"}))
            Crawler(store, settings).crawl()            # one changed: one checked, its problems gone
            assert calls == [fed.url("a.test")]
            fields = {h: {p["field"]: p["severity"] for p in checks.problem_list(store.source(fed.url(h)).problems)}
                      for h in hosts}
            assert "name" not in fields["a.test"] and fields["b.test"]["name"] == "error"
        finally:
            store.close()
        out = CliRunner().invoke(main, ["sources", "--store", str(tmp_path / "store")]).output
        name_errors = [m for m in editor_words(fed, "b.test", body(fed, "b.test", {"name": ""})) if m.startswith("name")]
        assert name_errors and all(f"error: {m}" in out for m in name_errors), out
    finally:
        fed.close()


@pytest.mark.usefixtures("parse_workers")   # in a parser process (the default) and on the pipeline thread
def test_only_new_and_changed_profiles_are_checked_wherever_they_are_checked(fed, tmp_path):
    """Seen by what the checks write, so wherever they run: a crawl with messages cut shorter
    (max_problem_length) leaves an unchanged profile's problems as they were, and cuts a changed one's."""
    hosts = ("a.test", "b.test")
    for h in hosts:
        fed.put(h, "/", body(fed, h, {"name": ""}))

    def messages(host) -> list:
        return [p["message"] for p in checks.problem_list(store.source(fed.url(host)).problems)]
    store = Store(tmp_path / "store")
    try:
        Crawler(store, fed.settings(*hosts)).crawl([fed.url(h) for h in hosts])
        full = {h: messages(h) for h in hosts}
        assert all(any(len(m) > 12 for m in full[h]) for h in hosts), full
        short = fed.settings(*hosts, max_problem_length=12)
        Crawler(store, short).crawl()                      # nothing changed: nothing checked
        assert {h: messages(h) for h in hosts} == full
        fed.put("a.test", "/", body(fed, "a.test", {"name": "", "url": "elmroad.localhost"}))
        Crawler(store, short).crawl()                      # one changed: checked, with this crawl's settings
        assert messages("a.test") and all(len(m) <= 12 for m in messages("a.test"))
        assert messages("b.test") == full["b.test"]
    finally:
        store.close()


def _escaped(text: str) -> str:
    return re.sub("[&<>\"']", lambda m: {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"}[m[0]],
                  text)
