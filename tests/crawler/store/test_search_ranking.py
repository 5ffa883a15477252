"""The order of a directory search by words (issue 18): every match is ranked by relevance (bm25,
then name) while no more than ``rank_window`` groups match; past that, the most recently indexed
``rank_window`` matches are ranked, first, and the others follow newest first. Filters give the
same groups and order whichever way the search applies them (listed first, or tested per match)."""

from __future__ import annotations

import pytest

from hubnet.crawler.store import index as index_mod
from hubnet.crawler.store.areas import AreaSet
from hubnet.crawler.store.index import Extracted, Search, TextIndex

AREAS = "code,name,level,parent\nE12000001,North,region,\nE09000001,Borough A,borough,E12000001\n" \
        "E05000001,Ward A1,ward,E09000001\nE05000002,Ward A2,ward,E09000001\n"
N = 12
NAMED = 4   # the oldest groups carry the word in their name: the most relevant


def _group(i: int) -> Extracted:
    named = i < NAMED
    ward = "E05000001" if i % 2 else "E05000002"
    return Extracted(iri=f"https://g{i:02d}.example/#group", name=f"Garden Club {i}" if named else f"Group {i}",
                     description="Friends who meet weekly." if named else "Friends who tend a garden weekly.",
                     topics=("food",) if i % 3 else ("sport",), kinds=("charity",) if i % 4 else ("club",),
                     areas=(f"Ward {ward}",), area_codes=((ward, f"Ward {ward}"),),
                     lat=51.5 if i % 2 == 0 else None, lon=-0.1 if i % 2 == 0 else None)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    idx = TextIndex(tmp_path_factory.mktemp("ranking") / "index.sqlite")
    conn = idx._conn()
    with idx._write_lock:
        for i in range(N):   # inserted oldest first: the rowid order is the indexing order
            idx._insert(conn, f"https://g{i:02d}.example/", "v1", _group(i))
        conn.commit()
    idx.areas.load(AreaSet.parse(AREAS, None))
    yield idx
    idx.close()


def names(idx, window: int, **search) -> list:
    idx.rank_window = window
    try:
        return [g["name"] for g in idx.search(Search(limit=100, **search))["groups"]]
    finally:
        idx.rank_window = index_mod.SEARCH_RANK_WINDOW


def test_when_few_match_every_match_is_ranked_by_relevance_then_name(index):
    ranked = names(index, N, q="garden")
    assert ranked[:NAMED] == sorted(f"Garden Club {i}" for i in range(NAMED))   # the name counts most
    assert ranked[NAMED:] == sorted(f"Group {i}" for i in range(NAMED, N))       # equal relevance: by name


@pytest.mark.parametrize("window", [1, 3, 4, 7, N - 1])
def test_when_more_match_than_the_window_the_newest_are_ranked_and_the_rest_follow_newest_first(index, window):
    got = names(index, window, q="garden")
    newest = list(range(N - 1, N - 1 - window, -1))
    in_window = sorted(newest, key=lambda i: (i >= NAMED, f"Group {i}" if i >= NAMED else f"Garden Club {i}"))
    label = [f"Garden Club {i}" if i < NAMED else f"Group {i}" for i in range(N)]
    assert got == [label[i] for i in in_window] + [label[i] for i in range(N - 1 - window, -1, -1)]
    assert index.search(Search(q="garden"))["total"] == N   # the count still covers every match


@pytest.mark.parametrize("window", [2, 5, N])
@pytest.mark.parametrize("limit", [1, 3, 5])
def test_pages_across_the_window_give_every_match_once_in_order(index, window, limit):
    whole = names(index, window, q="garden")
    index.rank_window = window
    try:
        paged = []
        for offset in range(0, N + limit, limit):
            paged += [g["name"] for g in index.search(Search(q="garden", limit=limit, offset=offset))["groups"]]
    finally:
        index.rank_window = index_mod.SEARCH_RANK_WINDOW
    assert paged == whole and len(set(paged)) == N


FILTERS = [{"topic": "food"}, {"kind": "charity"}, {"area": "Ward E05000001"}, {"area": "E05000001"},
           {"area": "Borough A"}, {"area": "north"}, {"topic": "food", "kind": "charity"},
           {"topic": "food", "area": "E05000002"}, {"kind": "club", "area": "E12000001", "topic": "sport"},
           {"topic": "nothing"}, {"located": True}]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "&".join(f"{k}={v}" for k, v in f.items()))
@pytest.mark.parametrize("window", [2, N])
def test_filters_listed_first_or_tested_per_match_give_the_same_page(index, monkeypatch, filters, window):
    monkeypatch.setattr(index_mod, "LIST_FILTER_BELOW", 0)        # every filter tested on each match
    tested = names(index, window, q="garden", **filters)
    monkeypatch.setattr(index_mod, "LIST_FILTER_BELOW", 10 ** 9)  # the smallest filter listed first
    listed = names(index, window, q="garden", **filters)
    assert tested == listed
    order = {f"https://g{i:02d}.example/#group": i for i in range(N)}
    expected = index.group_iris(Search(q="garden", **filters))
    if filters.get("located"):
        expected = {iri for iri in expected if order[iri] % 2 == 0}
    index.rank_window = window
    try:
        got = [g["id"] for g in index.search(Search(q="garden", limit=100, **filters))["groups"]]
    finally:
        index.rank_window = index_mod.SEARCH_RANK_WINDOW
    assert set(got) == expected and len(got) == len(expected)
    # The window applies to the groups matching everything: its newest ``window`` come first, ranked.
    head = sorted(got, key=order.get, reverse=True)[:window]
    assert set(got[:window]) == set(head)
