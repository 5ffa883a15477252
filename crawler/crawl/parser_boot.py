"""Imported only by the fork server of the parser processes (parsers.py): reads one small profile
so that what the parsers load on first use (the pinned contexts, the editor's rules compiled from
shapes.ttl; ~0.2 s with the imports) is loaded once, there, and every parser process forked for a
crawl starts with it in hand."""

from hubnet.crawler.crawl import checks, parsers  # noqa: F401  (the parser's own imports too)
from hubnet.crawler.crawl.extract import parse_source
from hubnet.crawler.settings import Settings


def _warm() -> None:
    body = (b'{"@context": "https://w3id.org/hubnet/context.jsonld", "@id": "https://boot.invalid/#group", '
            b'"@type": "Organization", "name": "boot"}')
    url, settings = "https://boot.invalid/", Settings()
    parse_source(body, "application/ld+json", url, settings)
    checks.profile_problems(body, "application/ld+json", url, settings)


_warm()
