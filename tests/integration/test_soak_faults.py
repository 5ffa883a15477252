"""Fault-injection soak: 500 sites on loopback, 40 % of them misbehaving, one real crawl.

The crawl runs in its own process (the real crawler and store, as ``hubnet-crawler crawl``
runs them, with small timeouts) so that its peak memory and its file descriptors are its
own. The promises (threats.md, A4/T6/T12): the crawl's deadlines, not its sites, end every
request that never finishes answering, every healthy site is stored, every faulty one ends with
its reason code, no site gets more requests than the settings allow, memory stays bounded,
nothing leaks. Nothing here is timed: how long the crawl takes is bench/'s business.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.store.graph import FAILED, OK, PROV_GRAPH, STALE, Store
from soak import (FAULTS, HUNG_UP, break_healthy_sites, build_fault_federation, run_child_crawl, soak_settings,
                  take_endings)

N_SITES = 500
BAD_SHARE = 0.4
# Peak memory the crawl may add to the process: every worker holding a full profile and a full
# robots.txt twice over (as read, as joined), and a fixed allowance for parsing, the store's
# caches and the allocator. Measured: +26 MiB here. One gzip bomb unpacked whole is +50 MiB.
RSS_COPIES = 2
RSS_FIXED_MIB = 64


@pytest.fixture(scope="module")
def soak(tmp_path_factory):
    """The federation, a first crawl, then a re-crawl of the same store after one healthy
    site per fault variant has turned faulty."""
    from hubnet.testing import Federation

    fed = Federation()
    try:
        settings = soak_settings()
        plan = build_fault_federation(fed, N_SITES, BAD_SHARE, settings)
        store_dir = tmp_path_factory.mktemp("soak") / "store"
        result = Soak(plan, settings, [], [], [], [], {}, {}, {})
        for crawl in range(2):
            if crawl == 1:
                store = Store(store_dir)
                result.first_records = store.sources()
                result.first_graphs = {url: content_hash(store.graph_triples(url)) for url in plan.healthy}
                store.close()
                result.broken = break_healthy_sites(fed, plan, settings)
            result.costs.append(dict(plan.costs))
            result.reports.append(run_child_crawl(fed, plan, store_dir, settings))
            result.endings.append(take_endings())
            with fed.lock:
                result.requests.append([(host, path) for host, path, _ in fed.log])
                fed.log.clear()
        result.store = Store(store_dir)
        try:
            yield result
        finally:
            result.store.close()
    finally:
        fed.close()


@dataclass
class Soak:
    plan: object
    settings: dict
    # per crawl (the first, the re-crawl):
    costs: list              # {URL: worst-case Cost}
    endings: list            # how each request to a never-finishing site ended (soak.take_endings)
    reports: list            # what the crawl process reported
    requests: list           # (host, path) of every request the sites saw
    first_records: dict      # the store's records after the first crawl
    first_graphs: dict       # healthy URL -> hash of its graph after the first crawl
    broken: dict             # healthy URL -> the Fault it showed in the re-crawl
    store: Store = None


@pytest.mark.slow
def test_every_family_and_variant_is_in_the_federation(soak):
    assert len(soak.plan.faulty) == round(N_SITES * BAD_SHARE)
    assert len(soak.plan.healthy) == N_SITES - len(soak.plan.faulty)
    assert set(soak.plan.faulty.values()) == set(FAULTS)


@pytest.mark.slow
@pytest.mark.parametrize("crawl", [0, 1], ids=["first", "recrawl"])
def test_the_crawl_ends_by_its_deadlines_never_by_a_site(soak, crawl):
    """Every request to a site that never finishes answering (hang, drip, a hanging robots.txt: the
    faults whose worst case runs into total_timeout) was ended by the crawler hanging up, never by
    the site giving up first (after RESPONDER_LIMIT, 40 times the deadline): so the crawl's length
    is set by its settings, not by its slowest site. Counted at the sites, not timed."""
    report = soak.reports[crawl]
    print(f"\nsoak: crawl {report['elapsed']:.1f} s (not asserted); {report['summary']['requests']}")
    slow = {_host(url) for url, cost in soak.costs[crawl].items() if cost.timed_out}
    endings = soak.endings[crawl]
    assert slow and {host for host, _ in endings} == slow
    for (host, path), ends in endings.items():
        assert ends == [HUNG_UP] * soak.requests[crawl].count((host, path)), (host, path)


@pytest.mark.slow
def test_every_healthy_site_is_stored(soak):
    records = soak.store.sources()
    healthy = set(soak.plan.healthy)
    assert {url for url, rec in records.items() if rec.status == OK} == healthy - set(soak.broken)
    assert set(soak.store.named_graphs()) - {PROV_GRAPH.value} == healthy
    for url in healthy:
        assert records[url].graph == url and records[url].triples > 5


@pytest.mark.slow
def test_every_faulty_site_ends_with_its_reason_code(soak):
    records = soak.store.sources()
    expected = {**{url: (FAILED, f) for url, f in soak.plan.faulty.items()},
                **{url: (STALE, f) for url, f in soak.broken.items()}}
    wrong = {url: (fault.family, fault.variant, status, fault.code,
                   (records[url].status, records[url].error_code) if url in records else None)
             for url, (status, fault) in expected.items()
             if url not in records or (records[url].status, records[url].error_code) != (status, fault.code)}
    assert wrong == {}


@pytest.mark.slow
def test_recrawl_keeps_the_last_good_version_of_sites_turned_faulty(soak):
    assert set(soak.broken.values()) == set(FAULTS)
    for url in soak.broken:
        assert content_hash(soak.store.graph_triples(url)) == soak.first_graphs[url], url


@pytest.mark.slow
def test_recrawl_leaves_healthy_records_untouched(soak):
    """Nothing changed on the other healthy sites, so the re-crawl rewrites none of them."""
    unchanged = set(soak.plan.healthy) - set(soak.broken)
    assert soak.reports[1]["summary"]["sources"]["unchanged"] == len(unchanged)
    records = soak.store.sources()
    for url in unchanged:
        assert records[url] == soak.first_records[url]
        assert content_hash(soak.store.graph_triples(url)) == soak.first_graphs[url]


@pytest.mark.slow
@pytest.mark.parametrize("crawl", [0, 1], ids=["first", "recrawl"])
def test_no_site_gets_more_requests_than_the_settings_allow(soak, crawl):
    made = Counter(host for host, _ in soak.requests[crawl])
    for url, cost in soak.costs[crawl].items():
        host = _host(url)
        assert 1 <= made[host] + made[f"alt-{host}"] <= cost.quick + cost.timed_out, url
    # a site whose robots.txt cannot be read is closed (RFC 9309): its profile is never asked for
    closed = [url for url, f in [*soak.plan.faulty.items(), *soak.broken.items()] if f.code == "robots_unreachable"]
    if crawl == 0:
        closed = [url for url in closed if url not in soak.broken]
    for url in closed:
        assert (_host(url), "/") not in soak.requests[crawl], url


@pytest.mark.slow
@pytest.mark.parametrize("crawl", [0, 1], ids=["first", "recrawl"])
def test_peak_memory_stays_bounded(soak, crawl):
    from hubnet.crawler.settings import Settings

    report = soak.reports[crawl]
    grown_mib = (report["rss_peak_kib"] - report["rss_before_kib"]) / 1024
    per_worker = Settings.max_body + Settings.robots_max_body
    limit_mib = soak.settings["concurrency"] * per_worker * RSS_COPIES / 2**20 + RSS_FIXED_MIB
    print(f"\nsoak: RSS {report['rss_before_kib'] // 1024} MiB before the crawl, peak +{grown_mib:.0f} MiB "
          f"(limit +{limit_mib:.0f} MiB)")
    assert grown_mib <= limit_mib


@pytest.mark.slow
@pytest.mark.parametrize("crawl", [0, 1], ids=["first", "recrawl"])
def test_no_descriptor_or_thread_leaks(soak, crawl):
    report = soak.reports[crawl]
    # descriptors opened during the crawl and still open, other than the store's own files and the two
    # multiprocessing keeps for the life of the process (the parsers' fork server, its resource tracker)
    assert report["new_fds"] == {}
    assert len(report["forkserver_fds"]) == 2 and report["parsers_left"] == 0
    assert report["threads_after"] == report["threads_before"]


def _host(url: str) -> str:
    return url.split("//")[1].split(":")[0]
