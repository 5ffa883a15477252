"""A removed group's page answers 410 Gone (issue 17, item 5 follow-up), through HTTP.

A group dropped for consent or expiry keeps only a tombstone (its address and dates). Its page
then says so, with 410 Gone and a short note of why and when, and its JSON twin answers 410 in
the API's one error shape with the tombstone's reason code. A key the hub never knew stays 404.
One network, one re-crawl that removes a group for each reason at once (table-driven).
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import pytest

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.store.index import group_key

from server_helpers import crawl_settings


def _at(days: float) -> str:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _robots(fed, host):
    fed.put(host, "/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")


def _noindex(fed, host):
    fed.put(host, "/", fed.sites[host]["/"].body, headers={"X-Robots-Tag": "noindex"})


def _indexing_false(fed, host):
    doc = json.loads(fed.sites[host]["/"].body)
    fed.put(host, "/", {**doc, "indexing": False})


def _failing(fed, host):   # never read again: expired once remove_after_days have passed
    fed.put(host, "/", b"oops", content_type="text/plain", status=500)


# reason -> (host, its group's name, how it leaves, the tombstone's reason code, words on the page)
REASONS = {
    "robots.txt": ("beta.test", "Friends of Marsh Park", _robots, "robots_disallowed", "robots.txt"),
    "X-Robots-Tag": ("food.test", "Cann Hall Foodbank", _noindex, "opted_out", "asked not to be listed"),
    "indexing false": ("youth.test", "Leyton Youth Club", _indexing_false, "opted_out", "asked not to be listed"),
    "expired": ("alpha.test", "Marsh Gate Residents' Association", _failing, "expired", "could not be read"),
}


@pytest.fixture(scope="module")
def removed(tmp_path_factory):
    """The fixture network with one group removed for each reason, and their keys from before."""
    from server_helpers import open_network

    net = open_network(tmp_path_factory.mktemp("tombstones"))
    keys = {reason: net.key(name) for reason, (_, name, *_rest) in REASONS.items()}
    settings = crawl_settings(net.fed)
    Crawler(net.hub.store, settings, clock=lambda: _at(-200)).crawl([])   # every source last read 200 days ago
    for host, _, leave, _, _ in REASONS.values():
        leave(net.fed, host)
    Crawler(net.hub.store, settings).crawl([])
    net.hub.after_crawl()
    assert net.hub.wait_refreshed()
    yield net, keys
    net.close()
    net.fed.close()


@pytest.mark.parametrize("reason", REASONS)
def test_a_removed_groups_page_and_api_answer_410_with_why_and_when(removed, reason):
    net, keys = removed
    host, name, _, code, words = REASONS[reason]
    tomb = net.hub.store.source(net.fed.url(host))
    assert (tomb.status, tomb.error_code) == ("gone", code)
    for key in (keys[reason], quote(net.fed.group_iri(host), safe="")):   # by key, and by the group's IRI
        api = net.client.get(f"/api/groups/{key}")
        assert api.status_code == 410, api.data
        err = api.get_json()
        assert err["ok"] is False and set(err["error"]) == {"status", "code", "message"}
        assert (err["error"]["status"], err["error"]["code"]) == (410, code)
        assert tomb.removed_at[:10] in err["error"]["message"] and tomb.first_seen[:10] in err["error"]["message"]
        page = net.client.get(f"/groups/{key}", headers={"Accept": "text/html"})
        assert page.status_code == 410 and page.mimetype == "text/html"
        text = page.get_data(as_text=True)
        assert "left the directory" in text and words in text and tomb.removed_at[:10] in text
        assert name.replace("'", "&#39;") not in text                # only the tombstone is kept
    assert net.client.get("/api/groups", query_string={"q": name}).get_json()["total"] == 0


def test_a_group_never_known_stays_404(removed):
    net, _ = removed
    for key in (group_key("http://never.test/#group"), "nothing-here", quote("http://never.test/#group", safe="")):
        api = net.client.get(f"/api/groups/{key}")
        assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"
        assert net.client.get(f"/groups/{key}").status_code == 404


def test_a_listed_group_is_still_200(removed):
    net, _ = removed
    assert net.client.get(f"/api/groups/{net.key('Leyton Community Network')}").status_code == 200
