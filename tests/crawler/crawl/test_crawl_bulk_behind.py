"""A crawl loads each full batch of new sources behind it (``stage_new_source(behind=True)``; issue
18). A batch that fails there is reported as its sources' failure, none of them is stored, and the
next crawl stores them: what an operator sees on /sources and in the crawl's summary."""

from __future__ import annotations

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.store.graph import BULK_NOTE, Store

HOSTS = [f"g{i}.test" for i in range(6)]
FAILPOINT = "DROP GRAPH <urn:hubnet:failpoint>"   # fails: no such graph


def last_outcomes(summary) -> dict:
    return {o.url: o for o in summary.outcomes}   # in order: a source's last word wins


def test_a_batch_that_fails_behind_the_crawl_fails_its_sources_and_the_next_crawl_stores_them(fed, tmp_path):
    for host in HOSTS:
        fed.put_profile(host, f"Group {host}", path="/")
    seeds = [fed.url(h) for h in HOSTS]
    settings = fed.settings(*HOSTS, bulk_batch=3)
    store = Store(tmp_path / "store")
    batches = []

    def fail_the_first_batch(steps):   # after the load, before the commit: the loaded part is undone
        batches.append(steps)
        return steps[:2] + [FAILPOINT] + steps[2:] if len(batches) == 1 else steps

    try:
        store.on_write = fail_the_first_batch
        summary = Crawler(store, settings).crawl(seeds)
        outcomes = last_outcomes(summary)
        assert len(batches) == 2
        assert len(summary.outcomes) == len(seeds)   # each source counted once: its failure, not also "new"
        assert (summary.counts["new"], summary.counts["failed"]) == (3, 3)
        lost = {u for u, o in outcomes.items() if (o.result, o.code) == ("failed", "store_error")}
        assert len(lost) == 3, {u: (o.result, o.code) for u, o in outcomes.items()}
        assert all("the source was not stored" in outcomes[u].message for u in lost)
        assert {u for u, o in outcomes.items() if o.result == "new"} == set(seeds) - lost
        records = store.sources()
        assert {u for u, r in records.items() if r.has_graph} == set(seeds) - lost
        assert not lost & set(store.named_graphs()) and not (store.path / BULK_NOTE).exists()

        store.on_write = None
        outcomes = last_outcomes(Crawler(store, settings).crawl(seeds))
        assert {u for u, o in outcomes.items() if o.result == "new"} == lost
        assert {u for u, r in store.sources().items() if r.has_graph} == set(seeds)
    finally:
        store.close()


def test_a_batch_that_fails_as_it_is_handed_over_counts_each_source_once(fed, tmp_path):
    """The note of a full batch is written before the crawl goes on; if that fails, the source that
    filled the batch fails with the others, once, with the store's reason (not also internal_error)."""
    hosts = HOSTS[:2]
    for host in hosts:
        fed.put_profile(host, f"Group {host}", path="/")
    seeds = [fed.url(h) for h in hosts]
    store = Store(tmp_path / "store")
    try:
        store.on_write = lambda steps: [FAILPOINT] + steps   # before the note: fails in the crawl's hand
        summary = Crawler(store, fed.settings(*hosts, bulk_batch=2)).crawl(seeds)
        assert sorted((o.url, o.result, o.code) for o in summary.outcomes) == \
            sorted((u, "failed", "store_error") for u in seeds)
        assert store.sources() == {}
    finally:
        store.close()
