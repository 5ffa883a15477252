"""The text index follows the store's change journal (issue 18): after a crawl it looks only at the
sources the crawl wrote, a re-crawl that changed nothing costs it no work at all, and a server
started over an index already in step with its store compares nothing."""

from __future__ import annotations

from hubnet.crawler.service import Aggregator
from hubnet.crawler.store.graph import JOURNAL, Store
from hubnet.crawler.store.index import Search, open_index
from server_helpers import CRAWLED_GROUPS, build_sites, crawl, crawl_settings, make_app


def names(index, **search) -> set:
    return {g["name"] for g in index.search(Search(limit=1000, **search))["groups"]}


def crawled_aggregator(fed, store):
    agg = Aggregator(store, crawl_settings(fed))
    crawl(fed, store, build_sites(fed))
    agg.after_crawl()
    return agg


def test_a_recrawl_that_changed_nothing_does_no_index_work(fed, store):
    agg = crawled_aggregator(fed, store)
    try:
        assert agg.index.count() == CRAWLED_GROUPS
        looked, writes = agg.index.looked_at, agg.index.writes
        summary = crawl(fed, store, [])
        assert summary.counts.get("updated", 0) == summary.counts.get("new", 0) == 0
        agg.after_crawl()
        assert agg.index.writes - writes == 0
        # It looked only at what the crawl wrote (the fixture's broken sources get their failure
        # counted on their records), not at the other sources.
        assert agg.index.looked_at - looked == summary.writes < CRAWLED_GROUPS
    finally:
        agg.close()


def test_after_a_crawl_the_index_looks_only_at_the_sources_it_wrote(fed, store):
    agg = crawled_aggregator(fed, store)
    try:
        looked, writes = agg.index.looked_at, agg.index.writes
        doc = fed.sites["alpha.test"]["/"].body.replace(b"Marsh Gate Residents", b"Marshgate Tenants")
        fed.put("alpha.test", "/", doc)
        summary = crawl(fed, store, [])
        assert summary.counts["updated"] == 1
        agg.after_crawl()
        assert agg.index.writes - writes == 1
        # the changed source (its URL names its graph) and what else the crawl wrote (the fixture's
        # broken sources' failure counts), not the other sources
        assert agg.index.looked_at - looked == summary.writes < CRAWLED_GROUPS
        assert names(agg.index, q="tenants") == {"Marshgate Tenants' Association"}
    finally:
        agg.close()


def test_a_server_started_over_an_index_in_step_compares_nothing(fed, tmp_path):
    store = Store(tmp_path / "store")
    crawled_aggregator(fed, store).close()
    store.close()
    app = make_app(fed, tmp_path / "store", BACKGROUND=False)
    hub = app.extensions["hubnet"]
    try:
        assert (hub.index.looked_at, hub.index.writes) == (0, 0)
        assert hub.index.count() == CRAWLED_GROUPS
    finally:
        hub.close()


# every way the journal can stop being the one the index read: the index then compares everything once
BREAKS = {
    "removed": lambda path: path.unlink(),
    "not a journal": lambda path: path.write_bytes(b"something else\n"),
    "another store's": lambda path: path.write_bytes(b"hubnet-journal 0123456789abcdef\n"),
}


def test_a_journal_renewed_or_lost_makes_the_index_compare_everything(fed, tmp_path):
    for why, brk in BREAKS.items():
        store_dir = tmp_path / why.replace(" ", "_")
        store = Store(store_dir)
        agg = crawled_aggregator(fed, store)
        agg.close()
        store.close()
        brk(store_dir / JOURNAL)
        store = Store(store_dir)
        index = open_index(store)
        try:
            stats = index.sync(store)
            assert index.looked_at == CRAWLED_GROUPS, why
            assert stats["changed"] == 0 and index.count() == CRAWLED_GROUPS, why
            index.sync(store)
            assert index.looked_at == CRAWLED_GROUPS, why   # and from then on follows the new journal
        finally:
            index.close()
            store.close()


def test_a_journal_line_cut_short_by_a_crash_does_not_hide_the_next_change(fed, tmp_path):
    store = Store(tmp_path / "store")
    agg = crawled_aggregator(fed, store)
    agg.close()
    store.close()
    with open(tmp_path / "store" / JOURNAL, "ab") as fh:
        fh.write(b"https://half.test/prof")          # the process died mid-append
    store = Store(tmp_path / "store")
    agg = Aggregator(store, crawl_settings(fed))
    try:
        doc = fed.sites["alpha.test"]["/"].body.replace(b"Marsh Gate Residents", b"Marshgate Tenants")
        fed.put("alpha.test", "/", doc)
        crawl(fed, store, [])
        agg.after_crawl()
        assert names(agg.index, q="tenants") == {"Marshgate Tenants' Association"}
    finally:
        agg.close()
        store.close()


def test_facet_counts_are_computed_once_per_filter_until_the_index_changes(fed, store):
    """The directory's counts (total, topics, kinds, areas) of a filter are not recomputed per
    request; a sync that changes the index makes them be counted afresh, and right."""
    agg = crawled_aggregator(fed, store)
    try:
        index = agg.index
        filters = [Search(q="garden"), Search(topic="gardening"), Search(q="residents", kind="TenantsAssociation")]
        first = [index.search(f) for f in filters]
        computed = index.facet_computations
        assert computed == len(filters)
        for _ in range(3):
            assert [index.search(f) for f in filters] == first
            assert [index.search(Search(q=f.q, topic=f.topic, kind=f.kind, offset=1)) for f in filters]
        assert index.facet_computations == computed        # later pages and repeats: counted once
        doc = fed.sites["alpha.test"]["/"].body.replace(b"Marsh Gate Residents", b"Marsh Gate Garden Residents")
        fed.put("alpha.test", "/", doc)
        crawl(fed, store, [])
        agg.after_crawl()
        after = index.search(Search(q="garden"))
        assert index.facet_computations == computed + 1
        assert after["total"] == first[0]["total"] + 1 == len(index.search(Search(q="garden", limit=1000))["groups"])
    finally:
        agg.close()


def test_a_database_restored_from_a_backup_is_indexed_as_it_is(fed, tmp_path):
    """The index of the newer store stays beside a restored older database: its first sync
    compares everything (the backup has no journal), so the directory shows the restored data."""
    import shutil

    store = Store(tmp_path / "store")
    agg = crawled_aggregator(fed, store)
    store.backup(tmp_path / "backup")
    doc = fed.sites["alpha.test"]["/"].body.replace(b"Marsh Gate Residents", b"Marshgate Tenants")
    fed.put("alpha.test", "/", doc)
    crawl(fed, store, [])
    agg.after_crawl()
    assert names(agg.index, q="tenants") == {"Marshgate Tenants' Association"}
    agg.close()
    store.close()
    shutil.rmtree(tmp_path / "store" / "oxigraph")
    shutil.copytree(tmp_path / "backup", tmp_path / "store" / "oxigraph")
    store = Store(tmp_path / "store")
    index = open_index(store)
    try:
        index.sync(store)
        assert names(index, q="tenants") == set()
        assert "Marsh Gate Residents' Association" in names(index, q="marsh")
    finally:
        index.close()
        store.close()
