"""SPARQL queries on a remote store (``--store sparql+http://...``): forwarded, not run in workers.

The worker pool (``workers.QueryService``) runs queries on checkpoints of the embedded store; a
SPARQL server runs its own. ``ForwardingQueryService`` has the pool's interface for the web app and
the control socket, and keeps hubnet's rules: the same guard (``check_query``: SERVICE, updates and
unknown graphs refused before anything is sent), the same row and byte caps on what is returned,
the same per-client budget, at most ``workers`` queries in flight at once, and the query timeout
on the whole answer (504 ``query_timeout``). The server should also stop long queries itself
(Virtuoso: ``[SPARQL] MaxQueryExecutionTime``), as a request hubnet gives up on may still run there.
"""

from __future__ import annotations

import math
import threading
import time

import pyoxigraph as ox

from hubnet.vocab.errors import StoreError

from .sparql import QueryError
from .workers import ClientBudget, GuardedService, QueryResult, ServiceBusy, _answer


def service_class(store):
    """The query service for ``store``: forwarding for a remote store, the worker pool otherwise."""
    from .workers import QueryService

    return ForwardingQueryService if getattr(store, "remote", False) else QueryService


class _Timed:
    """The store's dataset with every query given the service's timeout."""

    def __init__(self, dataset, timeout: float):
        self.dataset, self.timeout = dataset, timeout

    def query(self, text, **kw):
        return self.dataset.query(text, timeout=self.timeout, **kw)

    def contains_named_graph(self, graph) -> bool:
        return self.dataset.contains_named_graph(graph)


class ForwardingQueryService(GuardedService):
    """``QueryService``'s interface over a ``RemoteStore``. Options it has no use for (checkpoint
    directories, worker processes' memory, CPU priority) are accepted and ignored."""

    def __init__(self, store, workdir=None, timeout: float = 10.0, row_cap: int = 10_000, workers: int = 2, *,
                 queue_wait: float = 1.0, byte_cap: int = 16 * 1024 * 1024, client_concurrency: int | None = None,
                 client_seconds: float | None = None, clock=time.monotonic, **_ignored):
        self.store = store
        self.timeout, self.row_cap, self.byte_cap = float(timeout), int(row_cap), byte_cap
        self.size, self.queue_wait = max(1, int(workers)), float(queue_wait)
        self._slots = threading.BoundedSemaphore(self.size)
        self.clients = ClientBudget(client_concurrency or self.size, client_seconds or math.inf, clock) \
            if client_concurrency or client_seconds else None
        self.counters = {"queries": 0, "timeouts": 0, "turned_away": 0, "crashes": 0, "refreshes": 0,
                         "over_client_budget": 0, "demoted": 0}
        self._closed = False

    def refresh(self) -> None:
        """Nothing to do: the server always answers from its current data."""
        self.counters["refreshes"] += 1

    def graph_exists(self, iri: str) -> bool:
        try:
            return self.store.oxigraph.contains_named_graph(ox.NamedNode(iri))
        except ValueError:
            return False

    @property
    def checkpoint(self) -> str | None:
        return None

    def _run(self, job: dict) -> QueryResult:
        if self._closed:
            raise QueryError("the query service is shutting down", code="service_unavailable", status=503)
        if not self._slots.acquire(timeout=self.queue_wait):
            self.counters["turned_away"] += 1
            raise ServiceBusy(f"all {self.size} query slots are busy; try again shortly",
                              retry_after=max(1, math.ceil(self.timeout)))
        self.counters["queries"] += 1
        t0 = time.monotonic()
        try:
            reply = _answer(_Timed(self.store.oxigraph, self.timeout), job)
        except TimeoutError:
            self.counters["timeouts"] += 1
            raise QueryError(f"the query took longer than {self.timeout:g} s and was stopped; make it more "
                             "selective (add a LIMIT, fewer unbound patterns)", code="query_timeout",
                             status=504) from None
        except StoreError as exc:
            raise QueryError(f"the store could not answer: {exc.message}", code="query_failed",
                             status=503) from None
        finally:
            self._slots.release()
        _, kind, media_type, body, truncated, count = reply
        return QueryResult(kind, media_type, body, truncated, count, time.monotonic() - t0)

    def stats(self) -> dict:
        return {"workers": self.size, "idle": None, "busy": None, "starting": 0, "waiting": 0,
                "checkpoint": None, "graphs": None, "timeout": self.timeout, "row_cap": self.row_cap,
                "start_method": "remote", "network_isolated": None, "pids": [],
                "last_startup_seconds": None, **self.counters}

    def close(self) -> None:
        self._closed = True
