"""Consent: the three ways a group tells aggregators to stop listing it, read from a fetch (pure).

- robots.txt disallows the profile for our product token (the fetcher raises ``robots_disallowed``);
- the response carries ``X-Robots-Tag: noindex`` (or ``none``), for all robots or for ours
  (``X-Robots-Tag: hubnet-crawler: noindex``), as Google and Bing read the header;
- the profile says ``"indexing": false`` (``hubnet:indexing``, the node editor's "list us on hubs").

Each withdraws consent for the whole source: the crawler drops its graph in the same crawl and
keeps a tombstone (docs/crawler.md, "Consent and lifecycle").
"""

from __future__ import annotations

from hubnet.crawler.crawl.robots import product_token
from hubnet.vocab.model import HUBNET

INDEXING = str(HUBNET) + "indexing"
XSD_BOOLEAN = "http://www.w3.org/2001/XMLSchema#boolean"
_WITHDRAW = frozenset({"noindex", "none"})
# Directives whose own value follows a colon ("max-snippet: 20"): not a robot's name.
_VALUED = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})


def header_withdraws(value: str | None, user_agent: str) -> bool:
    """Does an X-Robots-Tag header (several headers joined by newlines) say noindex/none to us?

    Each header is ``[robot:] directive, directive...``; a robot name scopes the rest of that
    header to that robot, and no name means every robot.
    """
    ours = product_token(user_agent)
    for line in (value or "").splitlines():
        head, sep, rest = line.partition(":")
        robot = head.strip().lower()
        if sep and robot and " " not in robot and "," not in robot and robot not in _VALUED:
            if robot != ours:
                continue
            line = rest
        if any(d.strip().lower() in _WITHDRAW for d in line.split(",")):
            return True
    return False


def profile_withdraws(triples) -> bool:
    """Does the profile say ``hubnet:indexing false`` (for any group it describes)?"""
    for t in triples:
        if t.predicate.value == INDEXING and t.object.value.strip().lower() in ("false", "0"):
            return True
    return False
