"""The aggregator without Flask: what one running aggregator owns, and the one sequence after a crawl.

``Aggregator`` holds the store, the text index beside it, the crawl scheduler (pings and periodic
re-crawls, ``crawl.scheduler``), the SPARQL query workers (``query.workers``, started on demand) and
the brokering models (``query.brokering.models``). ``after_crawl()`` is the one thing that happens
after any crawl, from the CLI or the server's crawler thread: sync the text index, refresh the
query workers' checkpoint, and (when serving) warm the brokering models. A CLI crawl does that at
once; a server hands it to a refresh thread (``refresh.Refresher``) and returns, so a slow sync or
model build never holds up the next ping (issue 12, finding 2). At a server's start, ``catch_up()``
brings the index in step before the first answer only when that is little work; a rebuild (a new
index, one of another layout) or a large backlog runs on the refresh thread while the server
answers (issue 18: ready within seconds at 100k). ``close()`` stops the scheduler,
the refresh thread and the workers, closes the index and, if the aggregator opened it, the store.

``hubnet-crawler crawl`` uses it for one crawl; ``web.create_app`` keeps one as
``app.extensions["hubnet"]`` for the app's lifetime.
"""

from __future__ import annotations

import logging

from hubnet.crawler.budget import UNLIMITED, Budget
from hubnet.crawler.crawl.scheduler import Background
from hubnet.crawler.query.brokering.models import Models
from hubnet.crawler.query.forward import service_class
from hubnet.crawler.query.workers import QueryService
from hubnet.crawler.refresh import Refresher
from hubnet.crawler.crawl.geocode import derived_areas, derived_positions
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import Store, now
from hubnet.crawler.store import areas, secondhand
from hubnet.vocab.errors import HubnetError
from hubnet.crawler.store.index import TextIndex, open_index
from hubnet.crawler.store.remote import ChangePoller

log = logging.getLogger(__name__)


class Aggregator:
    """One aggregator's lifetime objects. ``serving`` refreshes on a thread of its own and keeps the
    brokering models warm (a web app's first visitor would otherwise wait for them; a CLI crawl has
    no visitor). The budgets (seconds, None: none) bound the index sync after a crawl, a model build,
    and how long a request waits for a build before it gets the previous model or a 503."""

    def __init__(self, store: Store, settings: Settings, *, own_store: bool = False,
                 recrawl_interval: float | None = None, serving: bool = False,
                 index_sync_budget: float | None = None, model_build_budget: float | None = None,
                 model_wait: float | None = None, areas_file=None, boundaries_file=None,
                 index_batch: int | None = None, index_pause: float = 0.0):
        self.store = store
        self.area_files = (areas_file, boundaries_file)
        self.own_store = own_store
        self.settings = settings
        self.serving = serving
        self.index_sync_budget = index_sync_budget
        self.index_options = {"pause": index_pause, **({"batch": index_batch} if index_batch else {})}
        self._index: TextIndex | None = None
        self.refresher = Refresher(self.refresh) if serving else None
        # Looked up at call time, so a subclass or a patched after_crawl is the one the thread calls.
        self.background = Background(store, settings, recrawl_interval,
                                     after_crawl=lambda crawled_at: self.after_crawl(crawled_at),
                                     wait_refreshed=self.wait_refreshed)
        self.queries: QueryService | None = None
        self.models = Models(store, None, build_budget=model_build_budget, wait=model_wait)
        # On a shared SPARQL server, other front ends write too: look at the store's change log now and then.
        self.poller = ChangePoller(store, store.settings.store_poll_interval, lambda: self.after_crawl()) \
            if serving and getattr(store, "remote", False) and store.settings.store_poll_interval > 0 else None
        self._closed = False

    @property
    def index(self) -> TextIndex:
        """The text index, opened on first use (a CLI crawl needs it only after the crawl)."""
        if self._index is None:
            self._index = open_index(self.store, **self.index_options)
            self.models.index = self._index
            self.load_areas()
        return self._index

    def load_areas(self) -> None:
        """The operator's areas: the files given now (checked, then kept in the store directory), else
        the copies kept from before. Raises AreasFileError (nothing changed) for a malformed file."""
        limits = self.settings.area_limits()
        loaded = self._index.meta("areas_digest")   # files already in the index are not parsed again
        if any(self.area_files):
            area_set = areas.install(self.store.path, *self.area_files, loaded=loaded, **limits)
        else:
            area_set = areas.saved(self.store.path, loaded=loaded, **limits)
        if area_set is not None:
            self._index.areas.load(area_set)

    def start_queries(self, **options) -> QueryService:
        """Start the SPARQL worker pool (``QueryService`` options: timeout, row_cap, workers, ...)."""
        if self.queries is not None:
            self.queries.close()
        self.queries = service_class(self.store)(self.store, options.pop("workdir", None), **options)
        return self.queries

    def catch_up(self, inline: int) -> bool:
        """At a server's start: sync the text index now if that means looking at ``inline`` sources
        or fewer (the first answers are then complete), else on the refresh thread, batch by batch,
        while the server answers from the index as it stands (``TextIndex.status``). True if done now."""
        if self.refresher is None or self.index.pending(self.store, inline) <= inline:
            self.index.sync(self.store)
            self.apply_derived()
            return True
        self.refresher.request(None)
        return False

    def after_crawl(self, crawled_at: str | None = None) -> None:
        """After every crawl (or a pinged source stored mid-crawl): ``refresh`` now from the CLI, on the
        refresh thread when serving (requests made meanwhile are coalesced into one more run)."""
        if self.refresher is None:
            self.refresh(crawled_at or now())
        else:
            self.refresher.request(crawled_at or now())

    def refresh(self, crawled_at: str | None) -> None:
        """Imported records replaced by their groups' own profiles, then the text index, SPARQL checkpoint,
        brokering models (rebuilt only if the sync changed something). ``crawled_at`` None: a server's
        start-up catch-up (``catch_up``), the index alone, with no budget: it runs until it is done."""
        if crawled_at is None:
            self.index.sync(self.store)
            self.apply_derived()
            return
        budget = Budget(self.index_sync_budget, "indexing the latest crawl") if self.index_sync_budget else UNLIMITED
        try:
            secondhand.apply_replacements(self.store)   # a group's own profile replaces its imported record
        except HubnetError as exc:
            log.warning("replacing imported records failed: %s", exc)
        stats = self.index.sync(self.store, crawled_at=crawled_at, budget=budget)
        self.apply_derived()
        if stats.get("unfinished") and self.refresher is not None and not self.index.status()["complete"]:
            self.refresher.request(None)   # an index being built is finished without waiting for a crawl
        if self.queries is not None:
            self.queries.refresh()
        if self.serving:
            self.models.warm()

    def apply_derived(self) -> None:
        """What this aggregator derived from postcodes (crawl/geocode.py: positions, and the areas with
        the postcode memberships) onto the index: after each sync, and at start (a rebuilt index)."""
        self.index.set_derived_positions(derived_positions(self.store))
        self.index.areas.set_postcode_areas(*derived_areas(self.store))

    def wait_refreshed(self, timeout: float = 30.0) -> bool:
        """True once no refresh is pending or running (tests, shutdown)."""
        return self.refresher is None or self.refresher.wait_idle(timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.poller is not None:
            self.poller.stop()
        self.background.stop()
        if self._index is not None:
            self._index.stop()   # a long sync (a rebuild) ends after its batch, not after the rebuild
        if self.refresher is not None:
            self.refresher.stop()
        self.models.close()
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

