"""Lifecycle around redirects and sources that never worked (issue 12, findings 1 and 10).

- A site that moves to another host (``moved.test -> www.moved.test``) becomes a new source there;
  the old address keeps its own graph for ``misses_before_delete`` crawls, as after a 404.
- An address that never worked (pinged, or linked) is fetched at most ``failed_source_attempts``
  times, then forgotten: every kind of failure, counted by requests.
"""

from __future__ import annotations

import pytest

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import GONE, MISSING, OK, Store

HOSTS = ("moved.test", "www.moved.test", "never.test", "linker.test")


def settings_for(fed, **kw) -> Settings:
    return Settings(allow_private=True, per_host_delay=0.0, retries=0, resolve=fed.resolve_map(*HOSTS), **kw)


def crawl(fed, store, seeds=(), **kw):
    return Crawler(store, settings_for(fed, **kw)).crawl(list(seeds), found_via="ping")


def test_a_site_moved_to_another_host_is_a_new_source_and_the_old_one_retires(fed, store):
    old, new = fed.url("moved.test"), fed.url("www.moved.test")
    fed.put_profile("moved.test", "Moving Group", path="/")
    crawl(fed, store, [old])
    fed.put_profile("www.moved.test", "Moving Group", path="/")
    fed.put("moved.test", "/", "", content_type="text/plain", status=301, headers={"Location": new})
    for misses in (1, 2):
        summary = crawl(fed, store)
        rec = store.source(old)
        assert (rec.status, rec.error_code, rec.misses, rec.graph) == (MISSING, "redirected", misses, old)
        assert store.graph_triples(old)                        # kept meanwhile, as after a 404
        target = store.source(new)
        assert target.status == OK and target.graph == new    # the target is its own source
        assert (target.found_via, target.found_from) == ("link", old)
    summary = crawl(fed, store)
    assert store.source(old).status == GONE and store.graph_triples(old) == []
    assert store.source(new).status == OK and store.graph_triples(new)
    assert summary.counts["deleted"] == 1


def test_a_bare_domain_whose_well_known_redirects_off_site_to_nothing_tries_its_home_page(fed, store):
    fed.put("moved.test", "/.well-known/hubnet", "", content_type="text/plain", status=302,
            headers={"Location": fed.url("www.moved.test", "/.well-known/hubnet")})
    fed.put_profile("moved.test", "Moving Group", path="/")
    summary = Crawler(store, settings_for(fed)).crawl([f"moved.test:{fed.port}"])
    assert summary.counts["new"] == 1, summary.to_dict()
    assert store.source(fed.url("moved.test")).status == OK


def test_a_bare_domain_whose_home_page_redirects_off_site_finds_the_profile_there(fed, store):
    fed.put("moved.test", "/", "", content_type="text/plain", status=301,
            headers={"Location": fed.url("www.moved.test", "/")})
    fed.put_profile("www.moved.test", "Moving Group", path="/")
    summary = Crawler(store, settings_for(fed)).crawl([f"moved.test:{fed.port}"])
    assert summary.counts["new"] == 1, summary.to_dict()
    assert store.source(fed.url("moved.test")) is None
    assert store.source(fed.url("www.moved.test")).graph == fed.url("www.moved.test")


# kind -> how the never-working address answers
NEVER_OK = {
    "404": lambda fed: None,                                                        # nothing there
    "500": lambda fed: fed.put("never.test", "/p", "oops", content_type="text/plain", status=500),
    "not a profile": lambda fed: fed.put("never.test", "/p", "<html>hello</html>", content_type="text/html"),
    "no group": lambda fed: fed.put("never.test", "/p", {"@context": "https://schema.org", "name": "x"}),
    "redirect off-site": lambda fed: fed.put("never.test", "/p", "", content_type="text/plain", status=302,
                                             headers={"Location": fed.url("linker.test", "/nothing")}),
}


@pytest.mark.parametrize("kind", sorted(NEVER_OK))
def test_a_pinged_address_that_never_worked_is_forgotten_after_its_attempts(fed, store, kind):
    NEVER_OK[kind](fed)
    url, limit = fed.url("never.test", "/p"), 3
    if kind == "redirect off-site":
        # a never-seen address that redirects elsewhere is not recorded at all: nothing to expire
        crawl(fed, store, [url], failed_source_attempts=limit)
        assert store.source(url) is None
        return
    for attempt in range(1, limit):
        summary = crawl(fed, store, [url] if attempt == 1 else [], failed_source_attempts=limit)
        assert summary.failures and store.source(url).failed_attempts == attempt
    summary = crawl(fed, store, failed_source_attempts=limit)
    assert "forgotten" in summary.failures[0].message
    assert store.source(url) is None                            # no record left
    fed.clear_log()
    for _ in range(3):
        crawl(fed, store, failed_source_attempts=limit)
    assert fed.requests_to("never.test", "/p") == []            # and no more fetches


def test_a_known_never_ok_source_that_now_redirects_off_site_counts_attempts(fed, store):
    url, limit = fed.url("never.test", "/p"), 3
    crawl(fed, store, [url], failed_source_attempts=limit)       # 404: a failed record
    NEVER_OK["redirect off-site"](fed)
    crawl(fed, store, failed_source_attempts=limit)
    rec = store.source(url)
    assert (rec.error_code, rec.failed_attempts, rec.graph) == ("redirected", 2, None)
    crawl(fed, store, failed_source_attempts=limit)
    assert store.source(url) is None


def test_a_source_that_worked_once_is_never_expired_by_failures(fed, store):
    url = fed.url("never.test", "/p")
    fed.put_profile("never.test", "Once Worked", path="/p")
    crawl(fed, store, [url])
    NEVER_OK["500"](fed)
    for _ in range(4):
        crawl(fed, store, failed_source_attempts=2)
    rec = store.source(url)
    assert rec.status == "stale" and rec.failed_attempts == 0 and store.graph_triples(url)


def test_success_resets_the_attempts(fed, store):
    url = fed.url("never.test", "/p")
    crawl(fed, store, [url], failed_source_attempts=3)
    assert store.source(url).failed_attempts == 1
    fed.put_profile("never.test", "Late Bloomer", path="/p")
    crawl(fed, store, failed_source_attempts=3)
    assert (store.source(url).status, store.source(url).failed_attempts) == (OK, 0)


def test_the_crawler_keeps_its_state_when_a_record_write_fails(fed, tmp_path):
    """The crawler's view of a record follows the store: a write that fails changes neither."""
    store = Store(tmp_path / "store")
    url = fed.url("never.test", "/p")
    crawl(fed, store, [url])
    assert store.source(url).failed_attempts == 1

    def fail(ops):
        raise OSError("injected: the disk is full")

    store.on_write = fail
    crawler = Crawler(store, settings_for(fed))
    summary = crawler.crawl()
    assert summary.failures[0].code == "internal_error"
    assert crawler.known[url].failed_attempts == 1 and store.source(url).failed_attempts == 1
    store.close()
