"""X-Robots-Tag as the crawler reads it (crawl/consent.py): every form that withdraws consent for us,
and every form that does not."""

import pytest

from hubnet.crawler.crawl.consent import header_withdraws
from hubnet.crawler.settings import USER_AGENT


@pytest.mark.parametrize("value", [
    "noindex", "none", "NoIndex", "noindex, nofollow", "nofollow, noindex", "all\nnoindex",
    "hubnet-crawler: noindex", "Hubnet-Crawler: none", "otherbot: all\nhubnet-crawler: noindex",
    "max-snippet: 20, noindex", "unavailable_after: 25 Jun 2010 15:00:00 PST, none",
])
def test_withdraws(value):
    assert header_withdraws(value, USER_AGENT)


@pytest.mark.parametrize("value", [
    None, "", "all", "nofollow", "noarchive, nosnippet", "googlebot: noindex", "otherbot: none",
    "max-snippet: 20", "indexable", "noindexing",
])
def test_does_not_withdraw(value):
    assert not header_withdraws(value, USER_AGENT)
