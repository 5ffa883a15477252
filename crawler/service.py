"""The aggregator without Flask: what one running aggregator owns, and the one sequence after a crawl.

``Aggregator`` holds the store, the text index beside it, the crawl scheduler (pings and periodic
re-crawls, ``crawl.scheduler``), the SPARQL query workers (``query.workers``, started on demand) and
the brokering models (``query.brokering.models``). ``after_crawl()`` is the one thing that happens
after any crawl, from the CLI or the server's crawler thread: sync the text index, refresh the
query workers' checkpoint, and (when serving) warm the brokering models. ``close()`` stops the
scheduler and the workers, closes the index and, if the aggregator opened it, the store.

``hubnet-crawler crawl`` uses it for one crawl; ``web.create_app`` keeps one as
``app.extensions["hubnet"]`` for the app's lifetime.
"""

from __future__ import annotations

import logging

from hubnet.crawler.crawl.scheduler import Background
from hubnet.crawler.query.brokering.models import Models
from hubnet.crawler.query.workers import QueryService
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import Store, now
from hubnet.crawler.store.index import TextIndex, open_index

log = logging.getLogger(__name__)


class Aggregator:
    """One aggregator's lifetime objects. ``serving`` warms the brokering models after each crawl
    (a web app's first visitor would otherwise wait for them; a CLI crawl has no visitor)."""

    def __init__(self, store: Store, settings: Settings, *, own_store: bool = False,
                 recrawl_interval: float | None = None, serving: bool = False):
        self.store = store
        self.own_store = own_store
        self.settings = settings
        self.serving = serving
        self._index: TextIndex | None = None
        # Looked up at call time, so a subclass or a patched after_crawl is the one the thread calls.
        self.background = Background(store, settings, recrawl_interval,
                                     after_crawl=lambda crawled_at: self.after_crawl(crawled_at))
        self.queries: QueryService | None = None
        self.models = Models(store, None)
        self._closed = False

    @property
    def index(self) -> TextIndex:
        """The text index, opened on first use (a CLI crawl needs it only after the crawl)."""
        if self._index is None:
            self._index = open_index(self.store)
            self.models.index = self._index
        return self._index

    def start_queries(self, **options) -> QueryService:
        """Start the SPARQL worker pool (``QueryService`` options: timeout, row_cap, workers, ...)."""
        if self.queries is not None:
            self.queries.close()
        self.queries = QueryService(self.store, options.pop("workdir", None), **options)
        return self.queries

    def after_crawl(self, crawled_at: str | None = None) -> None:
        """After every crawl: text index, SPARQL checkpoint, brokering models (rebuilt only if the sync
        changed something)."""
        self.index.sync(self.store, crawled_at=crawled_at or now())
        if self.queries is not None:
            self.queries.refresh()
        if self.serving:
            self.models.warm()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.background.stop()
        if self.queries is not None:
            self.queries.close()
        if self._index is not None:
            self._index.close()
        if self.own_store:
            self.store.close()

    def __enter__(self) -> Aggregator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

