"""The crawl (write side): the only code that touches the network.

Owns the address policy and URL pre-check (``netpolicy``), robots.txt (``robots``), the safe fetcher
(``fetch``), turning a fetched body into one source's statements, links and group list (``extract``,
with ``link`` for the 304 path), the crawl itself: frontier and per-source lifecycle (``crawler``), the
long-running scheduler of pings and periodic re-crawls (``scheduler``, Flask-free) and terminal progress
(``progress``). May import ``hubnet.vocab``, ``hubnet.crawler.settings``, ``hubnet.vocab.authority``
and ``hubnet.crawler.store``; never ``hubnet.crawler.query`` or ``hubnet.crawler.web``.
"""
