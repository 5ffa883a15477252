"""The read side: answers questions about what is stored.

Owns the SPARQL guard and result formats (``sparql``), the killable SPARQL worker processes
(``workers``), one group's page (``groups``) and contacts (``contacts``), and brokering
(``brokering``: the network, matching of offers to needs, and the cached models). May import
``hubnet.vocab``, ``hubnet.crawler.settings``, ``hubnet.vocab.authority`` and
``hubnet.crawler.store``; never the crawl side or the web.
"""
