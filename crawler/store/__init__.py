"""Persistence: what the crawl wrote and what the read side reads.

Owns the Oxigraph graph store with one named graph per source plus the provenance graph and the
source records (``graph``), and the SQLite text index derived from it (``index``). May import
``hubnet.vocab``, ``hubnet.crawler.settings`` and ``hubnet.vocab.authority``; never the crawl side,
the read side or the web.
"""
