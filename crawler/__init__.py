"""hubnet's aggregator: crawls profiles into a store and serves a directory, map, brokering and SPARQL.

Laid out by side. ``crawl/`` is the write side and the only code on the network: fetch -> extract
(naming, authority, links) -> store, run by ``crawl.crawler`` and scheduled by ``crawl.scheduler``.
``store/`` is persistence (graph store with provenance, text index). ``query/`` is the read side
(SPARQL guard and workers, groups, contacts, brokering). ``authority`` (who may speak for a subject)
sits below both sides; ``settings`` holds the crawl settings; ``web/`` is Flask only and ``cli`` the
command line. The crawl and read sides meet only through ``store/`` and ``authority``
(tests/crawler/test_layers.py checks it).
"""
