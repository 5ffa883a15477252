"""robots.txt freshness on a served aggregator (issue 17, item 5 follow-up).

A running server keeps its robots.txt cache across crawls; were each entry kept for its whole
``robots_cache_ttl`` (24 h), a group withdrawing consent in robots.txt would stay listed for up to
a day on a server re-crawling every 6 h. Each re-crawl cycle reads every origin's robots.txt again,
once and conditionally (a 304 when unchanged), so the cycle after the withdrawal drops the group.
Counted in requests, never timed.
"""

from __future__ import annotations

from hubnet.crawler.store.graph import GONE, OK

from server_helpers import HOSTS

HOST, NAME = "beta.test", "Friends of Marsh Park"
ALLOW, DISALLOW = "User-agent: *\nAllow: /\n", "User-agent: *\nDisallow: /\n"


def cycle(net) -> dict:
    """One scheduled re-crawl of the running server: {host: robots.txt requests it made}."""
    net.fed.clear_log()
    net.hub.background.recrawl()
    assert net.hub.background.wait_idle(60)
    return {h: net.fed.requests_to(h, "/robots.txt") for h in HOSTS}


def test_each_recrawl_cycle_rereads_robots_txt_once_and_sees_a_withdrawal(fresh_network):
    net = fresh_network()
    key, url = net.key(NAME), net.fed.url(HOST)
    net.fed.put(HOST, "/robots.txt", ALLOW, content_type="text/plain")
    asked = cycle(net)
    assert len(asked[HOST]) == 1 and all(len(r) <= 1 for r in asked.values())

    again = cycle(net)                        # unchanged: asked once more, conditionally (a 304)
    assert len(again[HOST]) == 1 and all(len(r) <= 1 for r in again.values())
    assert again[HOST][0][2].get("If-None-Match")
    assert {h for h, r in again.items() if r} == {h for h, r in asked.items() if r}
    assert net.hub.store.source(url).status == OK and net.client.get(f"/api/groups/{key}").status_code == 200

    net.fed.put(HOST, "/robots.txt", DISALLOW, content_type="text/plain")
    withdrawn = cycle(net)                    # the very next cycle sees it, well within the 24 h TTL
    assert len(withdrawn[HOST]) == 1
    assert net.hub.settings.robots_cache_ttl >= 24 * 3600
    rec = net.hub.store.source(url)
    assert (rec.status, rec.error_code) == (GONE, "robots_disallowed")
    assert net.client.get(f"/api/groups/{key}").status_code in (404, 410)
    assert net.client.get("/api/groups", query_string={"q": "Marsh Park"}).get_json()["total"] == 0
