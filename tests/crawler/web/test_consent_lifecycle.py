"""Consent and lifecycle (issue 17, item 5), through the real crawler and the real app.

Each way a group withdraws consent removes it in the one crawl that sees it, from every place the
aggregator shows it: search, the API, the group page, the exports, the dump and SPARQL; only a
tombstone (address and dates) is kept. A source with no successful fetch is shown as out of date
after ``stale_after_days`` and removed after ``remove_after_days``, aged with an injected clock.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import pytest

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.store.graph import GONE, OK

from server_helpers import crawl_settings

NAME = "Friends of Marsh Park"   # beta.test, on the map, linked from alpha and the network
HOST = "beta.test"


def _withdraw_robots(fed):
    fed.put(HOST, "/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")


def _withdraw_header(value):
    def withdraw(fed):
        page = fed.sites[HOST]["/"]
        fed.put(HOST, "/", page.body, headers={"X-Robots-Tag": value})   # same body: answered with a 304
    return withdraw


def _withdraw_profile(fed):
    doc = json.loads(fed.sites[HOST]["/"].body)
    doc["indexing"] = False
    fed.put(HOST, "/", doc)


SIGNALS = {
    "robots.txt": (_withdraw_robots, "robots_disallowed"),
    "X-Robots-Tag noindex": (_withdraw_header("noindex"), "opted_out"),
    "X-Robots-Tag none for us": (_withdraw_header("hubnet-crawler: none"), "opted_out"),
    "indexing false": (_withdraw_profile, "opted_out"),
}


def recrawl(net, clock=None):
    summary = Crawler(net.hub.store, crawl_settings(net.fed), clock=clock).crawl([])
    net.hub.after_crawl()
    assert net.hub.wait_refreshed()
    return summary


def sparql_names(client, iri):
    resp = client.get("/sparql", query_string={"query": f"SELECT ?n WHERE {{ <{iri}> <http://schema.org/name> ?n }}"},
                      headers={"Accept": "application/sparql-results+json"})
    assert resp.status_code == 200, resp.data
    return [b["n"]["value"] for b in resp.get_json()["results"]["bindings"]]


def everywhere(net, key, iri) -> dict:
    """Where the group shows: each place -> True/False."""
    c = net.client
    return {
        "search": any(g["name"] == NAME for g in c.get("/api/groups?q=Marsh+Park").get_json()["groups"]),
        "api": c.get(f"/api/groups/{key}").status_code == 200,
        "page": c.get(f"/groups/{key}").status_code == 200,
        "csv": NAME in c.get("/export.csv").get_data(as_text=True),
        "geojson": NAME in c.get("/export.geojson").get_data(as_text=True),
        "openreferral": NAME in c.get("/export/openreferral.json").get_data(as_text=True),
        "dump": NAME in c.get("/dump.nq").get_data(as_text=True),
        "sparql": bool(sparql_names(c, iri)),
    }


@pytest.mark.parametrize("signal", SIGNALS)
def test_each_consent_signal_removes_the_group_everywhere_in_one_crawl(fresh_network, signal):
    net = fresh_network()
    withdraw, code = SIGNALS[signal]
    key, iri, url = net.key(NAME), net.fed.group_iri(HOST), net.fed.url(HOST)
    assert all(everywhere(net, key, iri).values()), everywhere(net, key, iri)

    withdraw(net.fed)
    summary = recrawl(net)

    assert [(o.result, o.code) for o in summary.outcomes if o.url == url] == [("deleted", code)]
    assert not any(everywhere(net, key, iri).values()), everywhere(net, key, iri)
    assert net.client.get(f"/api/groups/{key}").status_code in (404, 410)
    tomb = net.hub.store.source(url)
    assert (tomb.status, tomb.error_code, tomb.triples) == (GONE, code, 0)
    assert tomb.first_seen and tomb.removed_at and tomb.last_success   # address and dates kept
    assert net.hub.store.graph_triples(tomb.graph) == []
    # Other groups are untouched, and the next crawl (alpha still links here) keeps it gone.
    assert net.client.get(f"/api/groups/{net.key('Marsh Gate Residents' + chr(39) + ' Association')}").status_code == 200
    recrawl(net)
    assert net.hub.store.source(url).status == GONE and not any(everywhere(net, key, iri).values())


def _at(days: float) -> str:
    """A record date ``days`` from now (negative: in the past), as the crawler writes them."""
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def test_stale_after_90_days_removed_after_180_with_an_injected_clock(fresh_network):
    net = fresh_network()
    key, iri, url = net.key(NAME), net.fed.group_iri(HOST), net.fed.url(HOST)
    s = net.hub.settings
    assert (s.stale_after_days, s.remove_after_days) == (90, 180)

    # Read successfully 100 days ago (an unchanged re-crawl then still refreshes the dates) ...
    recrawl(net, clock=lambda: _at(-100))
    assert net.hub.store.source(url).last_success == net.hub.store.source(url).last_checked
    assert net.hub.store.source(url).last_success[:10] == _at(-100)[:10]
    # ... and failing since: still listed, shown as out of date past stale_after_days.
    net.fed.put(HOST, "/", b"oops", content_type="text/plain", status=500)
    recrawl(net, clock=lambda: _at(-1))
    group = net.client.get(f"/api/groups/{key}").get_json()
    assert group["source"]["outdated"] is True and group["source"]["status"] == "stale"
    page = net.client.get(f"/groups/{key}").get_data(as_text=True)
    assert "Out of date" in page and "Last checked" in page and "Last changed" in page
    fine = net.client.get(f"/api/groups/{net.key('Cann Hall Foodbank')}").get_json()["source"]
    assert fine["outdated"] is False

    # 179 days after the last success: kept. 180: removed, with a tombstone, everywhere at once.
    recrawl(net, clock=lambda: _at(79))
    assert net.hub.store.source(url).status != GONE
    summary = recrawl(net, clock=lambda: _at(80.1))
    assert [(o.result, o.code) for o in summary.outcomes if o.url == url][-1] == ("deleted", "expired")
    assert net.hub.store.source(url).status == GONE
    assert not any(everywhere(net, key, iri).values())
    # A source read successfully in the meantime is not expired.
    assert net.hub.store.source(net.fed.url("food.test")).status == OK


def test_unchanged_recrawl_refreshes_dates_at_most_once_per_interval(fresh_network):
    net = fresh_network()
    url = net.fed.url(HOST)
    assert net.hub.settings.record_check_every == 24 * 3600
    soon, later = _at(0.9), _at(1.5)
    # Within a day of the last check nothing is written (but for broken.test, which never worked:
    # its attempts are counted on every crawl).
    quiet = recrawl(net, clock=lambda: soon)
    assert quiet.writes == len(quiet.failures) == 1
    first = recrawl(net, clock=lambda: later)                 # a day and a half on: rewritten for the dates
    rec = net.hub.store.source(url)
    assert first.writes >= 6 and (rec.last_checked, rec.last_success) == (later, later)
    assert rec.generated_at < later                           # last changed: the first crawl
    again = recrawl(net, clock=lambda: _at(1.6))
    assert again.writes == len(again.failures) == 1 and again.counts["unchanged"] >= 6
