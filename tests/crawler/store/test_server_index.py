"""The text index: incremental sync by content hash, removal, groups described twice, safe FTS input,
and staying correct after crawls it did not see (the CLI's, while the server was down)."""

from __future__ import annotations

import re

import pytest

from click.testing import CliRunner

from hubnet.crawler.cli import main as cli
from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.store.index import INDEX_FILE, Search, TextIndex, fts_query, group_key, open_index
from hubnet.crawler.store.graph import Store, load_file
from server_helpers import CRAWLED_GROUPS, build_sites, crawl, crawl_settings, make_app


def names(index, **search) -> set:
    return {g["name"] for g in index.search(Search(limit=1000, **search))["groups"]}


def test_sync_is_incremental_by_content_hash(fed, store):
    crawl(fed, store, build_sites(fed))
    index = open_index(store)
    try:
        first = index.sync(store)
        assert first == {"changed": CRAWLED_GROUPS, "removed": 0, "groups": CRAWLED_GROUPS}
        assert index.sync(store) == {"changed": 0, "removed": 0, "groups": CRAWLED_GROUPS}
        # A re-crawl that finds nothing new changes nothing in the index either.
        crawl(fed, store, [])
        assert index.sync(store)["changed"] == 0
        # One edited profile: one source re-extracted.
        doc = fed.sites["alpha.test"]["/"].body.replace(b"Marsh Gate Residents", b"Marshgate Tenants")
        fed.put("alpha.test", "/", doc)
        crawl(fed, store, [])
        assert index.sync(store) == {"changed": 1, "removed": 0, "groups": CRAWLED_GROUPS}
        assert names(index, q="tenants") == {"Marshgate Tenants' Association"}
        assert index.get(group_key(fed.group_iri("alpha.test")))["name"] == "Marshgate Tenants' Association"
        assert index.count() == CRAWLED_GROUPS                   # replaced, not added
    finally:
        index.close()


def test_a_withdrawn_profile_leaves_the_index(fed, store):
    crawl(fed, store, build_sites(fed))
    index = open_index(store)
    try:
        index.sync(store)
        assert index.search(Search(topic="tree planting"))["total"] == 1
        fed.put("beta.test", "/", b"gone", content_type="text/plain", status=410)
        crawl(fed, store, [])
        assert index.sync(store) == {"changed": 0, "removed": 1, "groups": CRAWLED_GROUPS - 1}
        assert "Friends of Marsh Park" not in names(index)
        facets = index.search(Search())["facets"]
        assert "tree planting" not in {f["value"] for f in facets["topic"]}     # facets follow
        assert {"Leyton ward": 2} == {f["value"]: f["count"] for f in facets["area"] if f["value"] == "Leyton ward"}
    finally:
        index.close()


def test_a_group_described_by_two_sources_is_listed_once(fed, store, tmp_path):
    crawl(fed, store, build_sites(fed))
    alpha = fed.group_iri("alpha.test")
    council = tmp_path / "council.ttl"
    council.write_text(f'<{alpha}> a <http://schema.org/Organization> ; <http://schema.org/name> "Marsh Gate RA (council list)" .\n'
                       '<urn:council:7> a <http://schema.org/Organization> ; <http://schema.org/name> "Council-only Group" .\n')
    load_file(store, council, "https://council.example.gov.uk/groups")
    index = open_index(store)
    try:
        index.sync(store)
        assert index.count() == CRAWLED_GROUPS + 1
        hits = index.search(Search(q="marsh gate"))
        assert hits["total"] == 1
        assert hits["groups"][0]["name"] == "Marsh Gate Residents' Association"   # the group's own word wins
        assert index.get(group_key(alpha))["source"] == fed.url("alpha.test")
        assert index.get("urn:council:7")["name"] == "Council-only Group"          # the IRI works as a key
        # The group withdraws its own profile: the council's description remains.
        fed.put("alpha.test", "/", b"gone", content_type="text/plain", status=410)
        crawl(fed, store, [])
        index.sync(store)
        assert index.get(group_key(alpha))["name"] == "Marsh Gate RA (council list)"
        assert index.search(Search(q="marsh gate"))["total"] == 1
    finally:
        index.close()


def test_fts_query_quotes_every_word():
    assert fts_query('green "spaces" OR NEAR(x*') == '"green"* "spaces"* "OR"* "NEAR"* "x"*'
    assert fts_query("  -*^:() ") is None
    assert fts_query("café") == '"café"*'


@pytest.mark.parametrize("iri, host", [
    ("https://www.marshgate-ra.example.org/#group", "marshgate-ra.example.org"),
    ("http://alpha.test:8080/#group", "alpha.test"),
    # a host longer than 60 characters is kept whole: its first 60 cannot stand for it
    ("https://" + "a" * 60 + ".victim.example/#group", "a" * 60 + ".victim.example"),
    ("https://" + "a" * 60 + ".evil.example/#group", "a" * 60 + ".evil.example"),
    ("https://xn--caf-dma.example/#group", "xn--caf-dma.example"),
    ("urn:uuid:1234", "group"),
])
def test_group_key_is_the_whole_host_and_64_bits_of_hash(iri, host):
    key = group_key(iri)
    assert key == group_key(iri)
    assert re.fullmatch(re.escape(host) + "-[0-9a-f]{16}", key), key
    assert key != group_key(iri + "2")


def test_index_rebuilds_from_nothing(fed, store):
    crawl(fed, store, build_sites(fed))
    path = store.path / INDEX_FILE
    index = TextIndex(path)
    index.sync(store)
    index.close()
    for suffix in ("", "-wal", "-shm"):
        (store.path / (INDEX_FILE + suffix)).unlink(missing_ok=True)
    index = TextIndex(path)
    try:
        assert index.sync(store)["groups"] == CRAWLED_GROUPS
    finally:
        index.close()


def test_the_cli_crawl_updates_the_index(fed, tmp_path):
    build_sites(fed)
    path = tmp_path / "store"
    result = CliRunner().invoke(cli, ["crawl", fed.url("late.test"), "--store", str(path), "--allow-private",
                                      "--delay", "0", "--resolve", f"late.test:{fed.port}:127.0.0.1"])
    assert result.exit_code == 0, result.output
    index = TextIndex(path / INDEX_FILE)
    try:
        assert names(index) == {"Latecomers Allotment Society"}
        assert index.meta("last_crawl")
    finally:
        index.close()


def test_the_server_catches_up_with_crawls_made_while_it_was_down(fed, tmp_path):
    build_sites(fed)
    path = tmp_path / "store"
    store = Store(path)
    crawl(fed, store, [fed.url("network.test")])
    store.close()
    app = make_app(fed, path)
    try:
        assert app.test_client().get("/api/groups?q=latecomers").get_json()["total"] == 0
    finally:
        app.extensions["hubnet"].close()
    store = Store(path)                      # the server is down: a crawl by other means, no index sync
    Crawler(store, crawl_settings(fed)).crawl([fed.url("late.test")], recheck_known=False)
    store.close()
    app = make_app(fed, path)
    try:
        body = app.test_client().get("/api/groups?q=latecomers").get_json()
        assert body["total"] == 1 and body["groups"][0]["name"] == "Latecomers Allotment Society"
    finally:
        app.extensions["hubnet"].close()


def test_an_index_of_another_layout_is_rebuilt(fed, store):
    import sqlite3

    crawl(fed, store, build_sites(fed))
    path = store.path / INDEX_FILE
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT); INSERT INTO meta VALUES ('schema', '1');"
                      "CREATE TABLE groups (id INTEGER PRIMARY KEY, iri TEXT); CREATE TABLE sources (graph TEXT);")
    old.close()
    index = TextIndex(path)
    try:
        assert index.sync(store)["groups"] == CRAWLED_GROUPS
        assert index.search(Search(q="marsh"))["total"] == 2
    finally:
        index.close()
