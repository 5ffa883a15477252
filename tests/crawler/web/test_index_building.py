"""A server whose text index must be built (a new index, an upgrade's new layout, a large backlog)
answers at once and says so (issue 18): the directory and its JSON twin carry a note with the
progress, /health reports it, a group not indexed yet is 503 ``index_building`` (not a wrong 404),
and the next start completes what was committed without redoing it."""

from __future__ import annotations

import pytest

from hubnet.crawler.store.index import INDEX_FILE, group_key
from loop_helpers import wait_for
from server_helpers import CRAWLED_GROUPS, crawled_store, make_app

GROUP_HOSTS = ("network.test", "alpha.test", "beta.test", "food.test", "youth.test", "xss.test")
# One source per batch, then a rest far longer than the test: the index stays part-built, by count.
PART_BUILT = {"INDEX_START_INLINE": 0, "INDEX_SYNC_BATCH": 1, "INDEX_SYNC_PAUSE": 3600.0, "BACKGROUND": False}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    from hubnet.testing import Federation

    fed = Federation()
    path = crawled_store(fed, tmp_path_factory.mktemp("building") / "store")
    yield fed, path
    fed.close()


def test_a_server_answers_while_its_index_is_built_and_says_so(store_path):
    fed, path = store_path
    for suffix in ("", "-wal", "-shm"):
        (path / (INDEX_FILE + suffix)).unlink(missing_ok=True)
    app = make_app(fed, path, **PART_BUILT)
    client = app.test_client()
    hub = app.extensions["hubnet"]
    try:
        health = wait_for(lambda: (h := client.get("/health").get_json())["index"].get("sources_indexed") and h,
                          "one source indexed", every=0.05)
        assert health["index"] == {"state": "building", "complete": False, "sources": CRAWLED_GROUPS,
                                   "sources_indexed": 1, "sync_done": 1, "sync_to_do": CRAWLED_GROUPS}
        body = client.get("/api/groups").get_json()
        assert body["total"] == len(body["groups"]) == 1
        assert body["index"]["state"] == "building" and body["index"]["sources_indexed"] == 1
        assert f"1 of {CRAWLED_GROUPS} sources indexed so far" in body["index"]["message"]
        page = client.get("/").get_data(as_text=True)
        assert f"1 of {CRAWLED_GROUPS} sources indexed so far" in page
        assert "This directory is empty" not in page
        listed = {g["key"] for g in body["groups"]}
        missing = [group_key(fed.group_iri(h)) for h in GROUP_HOSTS if group_key(fed.group_iri(h)) not in listed]
        assert len(missing) == CRAWLED_GROUPS - 1
        for key in missing:   # not a 404: the group may well exist
            resp = client.get(f"/api/groups/{key}")
            assert resp.status_code == 503 and resp.get_json()["error"]["code"] == "index_building"
            assert int(resp.headers["Retry-After"]) > 0
            assert client.get(f"/groups/{key}").status_code == 503
        never = client.get("/api/groups/nowhere.test-0123456789abcdef")
        assert never.status_code == 503    # while building, nobody can tell a group never known
        assert client.get(f"/api/groups/{next(iter(listed))}").status_code == 200
    finally:
        hub.close()     # the rest between batches ends at once: close does not wait for the hour
    assert not hub.refresher._thread.is_alive()

    app = make_app(fed, path, BACKGROUND=False)     # the next start: little left to do, done before answering
    client = app.test_client()
    hub = app.extensions["hubnet"]
    try:
        assert hub.index.writes == CRAWLED_GROUPS - 1   # what the first start committed is not redone
        body = client.get("/api/groups").get_json()
        assert body["total"] == CRAWLED_GROUPS and "index" not in body
        assert client.get("/health").get_json()["index"] == {"state": "ready", "complete": True}
        assert client.get("/api/groups/nowhere.test-0123456789abcdef").status_code == 404
        for host in GROUP_HOSTS:
            assert client.get(f"/api/groups/{group_key(fed.group_iri(host))}").status_code == 200
    finally:
        hub.close()


def test_a_start_with_little_to_index_does_it_before_answering(store_path):
    """At most INDEX_START_INLINE sources to look at: the first answer is complete."""
    fed, path = store_path
    for suffix in ("", "-wal", "-shm"):
        (path / (INDEX_FILE + suffix)).unlink(missing_ok=True)
    app = make_app(fed, path, INDEX_START_INLINE=CRAWLED_GROUPS + 5, BACKGROUND=False)
    hub = app.extensions["hubnet"]
    try:
        assert hub.index.status() == {"state": "ready", "complete": True}
        assert app.test_client().get("/api/groups").get_json()["total"] == CRAWLED_GROUPS
    finally:
        hub.close()
