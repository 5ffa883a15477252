"""Run SPARQL queries in killable worker processes, on a consistent checkpoint of the store.

Why processes, and why a checkpoint:

- pyoxigraph has no query timeout or cancellation, and a tiny query can
  compute a cross product for hours (T16, G5). The only hard stop is to kill the process
  doing the work, so queries run in worker processes and a query that overruns its
  wall-clock budget is SIGKILLed and its worker replaced.
- The server process holds the store open for writing (crawls, pings). Opening the same
  RocksDB directory read-only beside a live writer is undefined behaviour, so workers
  read a *checkpoint* instead: ``Store.backup`` into ``<store dir>/checkpoints/<n>``,
  which hard-links the immutable SST files and costs milliseconds. ``refresh()`` takes
  a new one after the data changed; a checkpoint is deleted once no worker uses it, so a
  query running during a refresh finishes on the data it started with.
- Workers start with the "forkserver" method (else "spawn"), never "fork": the parent
  holds RocksDB handles and threads, which a forked child would inherit half-copied.
  The fork server preloads this module, so a replacement worker starts in tens of
  milliseconds instead of paying the interpreter and rdflib import again.
- Defence in depth for T15: the lexical check (crawler/sparql.py) refuses SERVICE, LOAD,
  updates and foreign FROM graphs before any worker sees the query; the worker checks
  again, and on Linux moves itself into an empty network namespace when it may (root, or
  unprivileged user namespaces), so even a bypass could not reach the network.
- Results are serialised inside the worker and come back as bytes, so the parent never
  holds a large result as Python objects, and a slow serialisation is under the same
  wall-clock budget as evaluation.
- The pool is small and fixed (a 2-core machine runs 2 workers). When every worker is
  busy beyond a short wait the caller gets ``ServiceBusy`` (503 + Retry-After, G9)
  instead of an unbounded queue.
"""

from __future__ import annotations

import atexit
import collections
import logging
import math
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from hubnet.vocab.errors import QueryError

from .sparql import (GRAPH_FORMATS, RESULT_FORMATS, Checked, check_query, dataset_options, execute,
                     serialize_boolean, serialize_select, serialize_triples)

log = logging.getLogger(__name__)

DEFAULT_RESULTS_FORMAT = "application/sparql-results+json"
DEFAULT_GRAPH_FORMAT = "text/turtle"


class ServiceBusy(QueryError):
    """Every worker is busy: answer 503 with ``Retry-After`` rather than queue without bound."""

    code = "server_busy"
    status = 503

    def __init__(self, message: str, *, retry_after: int = 5, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class TooManyQueries(QueryError):
    """One client is over its share of the workers: answer 429 with ``Retry-After`` (issue 12, finding 6)."""

    code = "too_many_queries"
    status = 429

    def __init__(self, message: str, *, retry_after: int, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ClientBudget:
    """Per-client share of the pool: queries in flight, and worker-seconds per sliding minute.

    A request-rate limit alone lets one client hold every worker with a few slow queries a
    minute; this bounds what it *occupies*. A query is charged the seconds it held a worker
    (a killed one its whole timeout). ``clock`` is injectable for tests.
    """

    WINDOW = 60.0

    def __init__(self, concurrency: int, seconds_per_minute: float, clock=time.monotonic):
        self.concurrency = int(concurrency)
        self.seconds = float(seconds_per_minute)
        self.clock = clock
        self._lock = threading.Lock()
        self._running: collections.Counter = collections.Counter()
        self._spent: dict[str, collections.deque] = {}   # client -> deque of (finished at, seconds)

    def admit(self, client: str, timeout: float) -> None:
        """Count one more query in flight for ``client``, or raise ``TooManyQueries``."""
        with self._lock:
            now = self.clock()
            spent = self._window(client, now)
            if self._running[client] >= self.concurrency:
                raise TooManyQueries(f"you already have {self._running[client]} queries running (at most "
                                     f"{self.concurrency} at a time per client); wait for them to finish",
                                     retry_after=max(1, math.ceil(timeout)))
            used = sum(sec for _, sec in spent)
            if used >= self.seconds:
                # Wait until enough of the window has expired to bring the total under the budget.
                excess, wait = used - self.seconds, 1.0
                for finished, sec in spent:
                    excess -= sec
                    wait = finished + self.WINDOW - now
                    if excess < 0:
                        break
                raise TooManyQueries(f"your queries used {used:.0f} worker-seconds in the last minute (at most "
                                     f"{self.seconds:g} per client); make them more selective or wait",
                                     retry_after=max(1, math.ceil(wait)))
            self._running[client] += 1

    def done(self, client: str, seconds: float) -> None:
        with self._lock:
            self._running[client] -= 1
            if self._running[client] <= 0:
                del self._running[client]
            self._spent.setdefault(client, collections.deque()).append((self.clock(), float(seconds)))

    def _window(self, client: str, now: float) -> collections.deque:
        """The client's charges within the window; forgets clients with nothing left to remember."""
        for key in list(self._spent) if len(self._spent) > 1000 else [client]:
            q = self._spent.get(key)
            while q and q[0][0] <= now - self.WINDOW:
                q.popleft()
            if q is not None and not q:
                del self._spent[key]
        return self._spent.get(client, collections.deque())


@dataclass
class QueryResult:
    kind: str          # "select", "boolean" or "graph"
    media_type: str    # the negotiated type the body is written in
    body: bytes
    truncated: bool    # True when the row cap (or byte cap) cut the answer short
    count: int         # rows or triples in the body (1 for ASK)
    seconds: float     # wall-clock from dispatch to answer, including transfer


class _Closed(Exception):
    """The service closed while a worker was starting."""


class _Worker:
    __slots__ = ("proc", "conn", "checkpoint", "state", "startup")

    def __init__(self, proc, conn):
        self.proc, self.conn = proc, conn
        self.checkpoint: str | None = None   # the checkpoint this worker has open (keeps it alive)
        self.state = "starting"              # starting -> idle <-> busy; gone when discarded
        self.startup: float | None = None


class GuardedService:
    """The one door of a query service, local workers or a remote store (``forward.py``): hubnet's
    guard, the graphs named, the client's budget; then the subclass's ``_run(job)``. Subclasses
    have ``graph_exists``, ``row_cap``, ``byte_cap``, ``clients``, ``counters`` and ``timeout``."""

    def execute(self, text: str, *, results_format: str | None = DEFAULT_RESULTS_FORMAT,
                graph_format: str | None = DEFAULT_GRAPH_FORMAT, default_graphs=None,
                named_graphs=None, client: str | None = None, checked: Checked | None = None) -> QueryResult:
        """Check and run one query; the answer is already serialised.

        ``results_format`` is the media type for SELECT/ASK answers, ``graph_format`` for
        CONSTRUCT/DESCRIBE (keys of ``RESULT_FORMATS``/``GRAPH_FORMATS``; ``None`` means the
        client accepts no such type, so that form of query gets 406). ``default_graphs`` and
        ``named_graphs`` are the protocol's ``default-graph-uri``/``named-graph-uri``.
        ``client`` (e.g. the address) is charged against its ``ClientBudget``; ``checked`` is
        this text's ``check_query`` result when the caller already has it.

        Raises ``QueryError`` (400 refused/malformed, 406, 504 ``query_timeout``, 503),
        ``ServiceBusy`` (503) and ``TooManyQueries`` (429), both with ``retry_after``.
        """
        if checked is None:
            check_query(text, self.graph_exists)  # refused before any worker (or remote server) sees it
        for iri in [*(default_graphs or ()), *(named_graphs or ())]:
            if not self.graph_exists(iri):
                raise QueryError(f"<{iri}> is not a graph in this store; this endpoint never fetches graphs "
                                 "from elsewhere", code="unknown_graph")
        job = {"query": text, "default_graphs": default_graphs, "named_graphs": named_graphs,
               "results_format": results_format, "graph_format": graph_format,
               "row_cap": self.row_cap, "byte_cap": self.byte_cap}
        if self.clients is None or client is None:
            return self._run(job)
        try:
            self.clients.admit(client, self.timeout)
        except TooManyQueries:
            self.counters["over_client_budget"] += 1
            raise
        t0 = time.monotonic()
        try:
            return self._run(job)
        finally:  # charged for the time it held (or waited for) a worker, answered, failed or killed
            self.clients.done(client, time.monotonic() - t0)


class QueryService(GuardedService):
    """A small pool of killable query workers over checkpoints of ``store``.

    ``store`` is a ``hubnet.crawler.store.graph.Store``. ``workdir`` holds the checkpoints (default
    ``<store dir>/checkpoints``; a temporary directory for an in-memory store). ``timeout``
    is the hard wall-clock limit per query in seconds, ``row_cap`` the most rows (or
    triples) an answer carries, ``workers`` the pool size and so the concurrency cap.

    Options: ``queue_wait`` (seconds to wait for a free worker before ``ServiceBusy``),
    ``byte_cap`` (approximate limit on the terms in one answer), ``memory_limit`` (bytes of
    address space per worker, ``None`` for no limit), ``start_method`` ("forkserver" or
    "spawn"), ``isolate_network`` (try to give workers an empty network namespace),
    ``client_concurrency`` and ``client_seconds`` (each client's queries in flight and
    worker-seconds per minute, see ``ClientBudget``; ``None``: no per-client limit),
    ``demote_after`` (seconds after which a running query's worker drops to the lowest CPU
    priority; ``None``: never).
    """

    def __init__(self, store, workdir=None, timeout: float = 10.0, row_cap: int = 10_000, workers: int = 2, *,
                 queue_wait: float = 1.0, byte_cap: int = 16 * 1024 * 1024, memory_limit: int | None = 4 << 30,
                 start_method: str | None = None, isolate_network: bool = True, start_timeout: float = 30.0,
                 client_concurrency: int | None = None, client_seconds: float | None = None,
                 demote_after: float | None = None, clock=time.monotonic):
        self.store = store
        self.timeout = float(timeout)
        self.row_cap = int(row_cap)
        self.byte_cap = byte_cap
        self.size = max(1, int(workers))
        self.queue_wait = float(queue_wait)
        self.max_waiting = self.size * 4
        self.start_timeout = start_timeout
        self.demote_after = math.inf if demote_after is None else float(demote_after)
        self.clients = ClientBudget(client_concurrency or self.size, client_seconds or math.inf, clock) \
            if client_concurrency or client_seconds else None
        self._worker_args = (memory_limit, isolate_network)
        self._own_dir = False
        if workdir is not None:
            self.workdir = Path(workdir)
        elif getattr(store, "path", None) is not None:
            self.workdir = Path(store.path) / "checkpoints"
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="hubnet-checkpoints-"))
            self._own_dir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._remove_stale_checkpoints()

        if start_method is None:
            start_method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        if start_method == "fork":
            raise ValueError("query workers must not be forked from a process holding RocksDB handles and "
                             "threads; use 'forkserver' or 'spawn'")
        self._ctx = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # Children fork from a clean server that has already imported us (pyoxigraph, vocab).
            # "__main__" is asked for too, but CPython 3.11 never hands the server the main path,
            # so each child still re-imports the main module, as spawn children do: keep it light.
            self._ctx.set_forkserver_preload(["__main__", __name__])
        self.start_method = start_method

        self._cv = threading.Condition()
        self._refresh_lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._idle: list[_Worker] = []
        self._waiting = 0
        self._closed = False
        self._seq = 0
        self._current: str | None = None
        self._graphs: frozenset = frozenset()
        self.counters = {"queries": 0, "timeouts": 0, "turned_away": 0, "crashes": 0, "refreshes": 0,
                         "over_client_budget": 0, "demoted": 0}
        self.startup_seconds: list[float] = []
        self.network_isolated: bool | None = None   # did the last worker get an empty network namespace?

        self.refresh()
        for _ in range(self.size):
            self._spawn()
        atexit.register(_close_at_exit, weakref.ref(self))

    # ------------------------------------------------------------------ checkpoints
    def refresh(self) -> None:
        """Take a new consistent checkpoint of the store; later queries see the data as of now.

        Call after each crawl batch or ping. Queries already running finish on the previous
        checkpoint, which is deleted once no worker has it open.
        """
        with self._refresh_lock:
            if self._closed:
                return
            n = self._seq + 1
            target = self.workdir / str(n)
            if target.exists():
                shutil.rmtree(target)
            if getattr(self.store, "path", None) is not None:
                self.store.backup(target)
            else:  # an in-memory store has no backup: copy it into an on-disk one
                copy = ox.Store(str(target))
                copy.bulk_extend(self.store.oxigraph.quads_for_pattern(None, None, None, None))
                copy.flush()
                del copy
            # The graph names come from the checkpoint itself, so "is this graph in the store"
            # answers for exactly the data the workers will query.
            snapshot = ox.Store.read_only(str(target))
            graphs = frozenset(g.value for g in snapshot.named_graphs() if isinstance(g, ox.NamedNode))
            del snapshot
            with self._cv:
                self._seq, self._current, self._graphs = n, str(target), graphs
                self.counters["refreshes"] += 1
        self._collect()
        if self._idle:
            threading.Thread(target=self._reopen_idle, name="hubnet-query-reopen", daemon=True).start()

    def graph_exists(self, iri: str) -> bool:
        """Whether ``iri`` names a graph in the current checkpoint."""
        return iri in self._graphs

    @property
    def checkpoint(self) -> str | None:
        return self._current

    def _remove_stale_checkpoints(self) -> None:
        # Only numbered directories are ours; a crash may have left some behind.
        for child in self.workdir.iterdir():
            if child.is_dir() and child.name.isdigit():
                shutil.rmtree(child, ignore_errors=True)

    def _collect(self) -> None:
        """Delete checkpoints older than the current one that no worker has open."""
        with self._cv:
            if self._closed:
                return  # close() removes them all
            keep = {w.checkpoint for w in self._workers} | {self._current}
            seq = self._seq
        try:
            children = list(self.workdir.iterdir())
        except OSError:
            return
        for child in children:
            if child.name.isdigit() and int(child.name) < seq and str(child) not in keep:
                shutil.rmtree(child, ignore_errors=True)

    # ------------------------------------------------------------------ workers
    def _spawn(self) -> None:
        """Start one worker in the background; it joins the idle pool once it has opened the checkpoint."""
        with self._cv:
            if self._closed:
                return
        threading.Thread(target=self._boot, name="hubnet-query-boot", daemon=True).start()

    def _boot(self) -> None:
        t0 = time.monotonic()
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_main, args=(child, *self._worker_args),
                                 name="hubnet-query-worker", daemon=True)
        worker = _Worker(proc, parent)
        with self._cv:
            if self._closed:
                return
            self._workers.append(worker)
        try:
            proc.start()
            child.close()
            if not parent.poll(self.start_timeout):
                raise TimeoutError(f"no ready message within {self.start_timeout} s")
            kind, pid, isolated = parent.recv()
            worker.startup = time.monotonic() - t0
            self.startup_seconds.append(worker.startup)
            del self.startup_seconds[:-50]
            with self._cv:
                if self._closed:
                    raise _Closed
            self.network_isolated = bool(isolated)
            if not isolated and self._worker_args[1]:
                log.debug("query worker %s could not enter an empty network namespace", pid)
            self._open(worker, self._current)
        except _Closed:
            self._stop(worker)
            return
        except Exception as exc:  # noqa: BLE001 - any failure to start must not leave a zombie slot
            self._discard(worker, replace=False)
            with self._cv:
                closed = self._closed
            if not closed:
                log.error("a query worker failed to start: %r", exc)
                retry = threading.Timer(5.0, self._spawn)
                retry.daemon = True
                retry.start()
            return
        self._release(worker)

    def _open(self, worker: _Worker, checkpoint: str | None) -> None:
        """Have an idle worker open ``checkpoint`` now, so the next query does not pay for it."""
        worker.checkpoint = checkpoint
        worker.conn.send({"checkpoint": checkpoint, "query": None})
        if not worker.conn.poll(self.start_timeout):
            raise TimeoutError("opening the checkpoint took too long")
        reply = worker.conn.recv()
        if reply[0] != "opened":
            raise RuntimeError(f"the worker could not open the checkpoint: {reply[-1]}")

    def _reopen_idle(self) -> None:
        """After a refresh, move idle workers to the new checkpoint so the old one can go."""
        while True:
            with self._cv:
                stale = [w for w in self._idle if w.checkpoint != self._current]
                if not stale or self._closed:
                    break
                worker = stale[0]
                self._idle.remove(worker)
                worker.state = "busy"
                current = self._current
            try:
                self._open(worker, current)
            except Exception:  # noqa: BLE001
                self._discard(worker)
                continue
            self._release(worker)
        self._collect()

    def _acquire(self) -> _Worker:
        """A live idle worker, waiting up to ``queue_wait``; one that died while idle is replaced."""
        with self._cv:
            dead = [w for w in self._idle if not w.proc.is_alive()]
            for w in dead:
                self._idle.remove(w)
        for w in dead:
            self.counters["crashes"] += 1
            self._discard(w)
        while True:
            worker = self._take()
            if worker.proc.is_alive():
                return worker
            self.counters["crashes"] += 1
            self._discard(worker)

    def _take(self) -> _Worker:
        now = time.monotonic()
        deadline = now + self.queue_wait
        with self._cv:
            if self._closed:
                raise QueryError("the query service is shutting down", code="service_unavailable", status=503)
            if not self._idle and self._waiting >= self.max_waiting:
                self.counters["turned_away"] += 1
                raise self._busy()
            self._waiting += 1
            try:
                while not self._idle:
                    if self._closed:
                        raise QueryError("the query service is shutting down", code="service_unavailable",
                                         status=503)
                    now = time.monotonic()
                    # While no worker is busy, the pool is only (re)starting: wait for it.
                    starting_only = all(w.state == "starting" for w in self._workers)
                    limit = now + self.start_timeout if starting_only else deadline
                    if now >= limit:
                        self.counters["turned_away"] += 1
                        raise self._busy()
                    self._cv.wait(min(limit - now, 0.25))
                worker = self._idle.pop(0)  # round robin: every worker gets used, so a dead one is noticed
                worker.state = "busy"
                return worker
            finally:
                self._waiting -= 1

    def _busy(self) -> ServiceBusy:
        retry = max(1, math.ceil(min(self.timeout, 10.0) / 2))
        return ServiceBusy(f"all {self.size} query workers are busy; try again in {retry} s",
                           retry_after=retry)

    def _release(self, worker: _Worker) -> None:
        stale = False
        with self._cv:
            if worker.state == "gone":
                return
            if self._closed:
                worker.state = "gone"
            else:
                worker.state = "idle"
                self._idle.append(worker)
                self._cv.notify()
                stale = worker.checkpoint != self._current
        if worker.state == "gone":
            self._stop(worker)
        elif stale:
            threading.Thread(target=self._reopen_idle, name="hubnet-query-reopen", daemon=True).start()

    def _discard(self, worker: _Worker, replace: bool = True) -> None:
        """SIGKILL a worker (it may be mid-query: nothing else stops pyoxigraph) and start another."""
        with self._cv:
            worker.state = "gone"
            if worker in self._workers:
                self._workers.remove(worker)
            if worker in self._idle:
                self._idle.remove(worker)
            self._cv.notify_all()
        try:
            if worker.proc.pid is not None:
                worker.proc.kill()
                worker.proc.join(2)
        except (OSError, ValueError, AssertionError, AttributeError):
            pass
        worker.conn.close()
        self._collect()
        if replace:
            self._spawn()

    def _stop(self, worker: _Worker) -> None:
        try:
            worker.conn.send(None)
        except (OSError, ValueError):
            pass
        worker.proc.join(1)
        if worker.proc.is_alive():
            worker.proc.kill()
            worker.proc.join(1)
        worker.conn.close()

    def _run(self, job: dict) -> QueryResult:
        text = job["query"]
        worker = self._acquire()
        with self._cv:
            job["checkpoint"] = worker.checkpoint = self._current
            self.counters["queries"] += 1
        t0 = time.monotonic()
        demoted = False
        try:
            worker.conn.send(job)
            ready = worker.conn.poll(min(self.timeout, self.demote_after))
            if not ready and self.demote_after < self.timeout:
                demoted = self._demote(worker)   # a long query yields the CPU to short ones
                ready = worker.conn.poll(self.timeout - (time.monotonic() - t0))
            reply = worker.conn.recv() if ready else None
        except (EOFError, OSError, BrokenPipeError):
            self.counters["crashes"] += 1
            self._discard(worker)
            log.error("a query worker died during a query (out of memory?): %.200s", text)
            raise QueryError("the query stopped unexpectedly (it may have needed too much memory); the "
                             "worker was replaced", code="query_failed", status=503) from None
        if reply is None:
            self.counters["timeouts"] += 1
            self._discard(worker)
            log.warning("query stopped after %.1f s: %.200s", self.timeout, text)
            raise QueryError(f"the query took longer than {self.timeout:g} s and was stopped; make it more "
                             "selective (add a LIMIT, fewer unbound patterns)", code="query_timeout", status=504)
        seconds = time.monotonic() - t0
        if demoted and not _set_nice(worker.proc.pid, 0):
            self._discard(worker)   # may not raise its priority again (not root): start a fresh one
        else:
            self._release(worker)
        if reply[0] == "error":
            _, status, code, message = reply
            raise QueryError(message, code=code, status=status)
        _, kind, media_type, body, truncated, count = reply
        return QueryResult(kind, media_type, body, truncated, count, seconds)

    def _demote(self, worker: _Worker) -> bool:
        """Lower a worker's CPU priority while it runs a query past ``demote_after`` seconds.

        On a small machine one cross product takes a whole core; at the lowest priority it
        still runs (to its timeout) but no longer slows the short queries of other clients.
        """
        if worker.proc.pid is None or not _set_nice(worker.proc.pid, DEMOTED_NICE):
            return False
        self.counters["demoted"] += 1
        return True

    def stats(self) -> dict:
        """Pool state for a health page: workers, idle/busy, counters, last start-up time."""
        with self._cv:
            states = [w.state for w in self._workers]
            return {"workers": self.size, "idle": states.count("idle"), "busy": states.count("busy"),
                    "starting": states.count("starting"), "waiting": self._waiting,
                    "checkpoint": self._current, "graphs": len(self._graphs), "timeout": self.timeout,
                    "row_cap": self.row_cap, "start_method": self.start_method,
                    "network_isolated": self.network_isolated,
                    "pids": [w.proc.pid for w in self._workers if w.proc.pid is not None],
                    "last_startup_seconds": self.startup_seconds[-1] if self.startup_seconds else None,
                    **self.counters}

    def close(self) -> None:
        """Stop the workers and delete the checkpoints. Idempotent."""
        with self._cv:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            self._cv.notify_all()
        for w in workers:
            if w.state == "idle":
                self._stop(w)
            elif w.proc.pid is None:
                w.state = "gone"  # still booting: its boot thread stops it when it reports ready
            else:
                w.state = "gone"
                try:
                    w.proc.kill()
                    w.proc.join(1)
                except (OSError, ValueError, AssertionError, AttributeError):
                    pass
        with self._refresh_lock:
            if self._own_dir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            elif self.workdir.exists():
                self._remove_stale_checkpoints()
                try:
                    self.workdir.rmdir()
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _close_at_exit(ref) -> None:
    service = ref()
    if service is not None:
        service.close()


DEMOTED_NICE = 19


def _set_nice(pid: int, value: int) -> bool:
    """Set a process's nice value; False when not allowed (raising priority needs privilege) or gone."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, value)
        return True
    except (OSError, AttributeError):
        return False


# ---------------------------------------------------------------------- the worker process
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000


def _isolate_network() -> bool:
    """Move this process into a new, empty network namespace (Linux). True if it worked.

    As root ``unshare(CLONE_NEWNET)`` is enough; otherwise try an unprivileged user
    namespace mapping our own uid/gid to themselves, so file access is unchanged.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    if libc.unshare(CLONE_NEWNET) == 0:
        return True
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return False
    try:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError:
        pass
    return True


def _worker_main(conn, memory_limit=None, isolate_network=True) -> None:
    """Loop: receive a job, answer ("ok", kind, media type, bytes, truncated, count) or ("error", ...)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the server; it stops us
    isolated = _isolate_network() if isolate_network else False
    if memory_limit:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
        except (ImportError, ValueError, OSError):
            pass
    try:
        conn.send(("ready", os.getpid(), isolated))
    except OSError:  # the service closed while we started
        return
    store, path = None, None
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            if job["checkpoint"] != path:
                store = None  # close the old checkpoint before opening the new one
                store = ox.Store.read_only(job["checkpoint"])
                path = job["checkpoint"]
            reply = ("opened",) if job["query"] is None else _answer(store, job)
        except QueryError as exc:
            reply = ("error", exc.status, exc.code, exc.message)
        except MemoryError:
            reply = ("error", 503, "query_failed", "the query needed more memory than a query may use")
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            reply = ("error", 500, "query_failed", f"the query failed: {exc}")
        try:
            conn.send(reply)
        except OSError:  # the parent gave up on us (closed); nothing left to do
            return


def _answer(store, job) -> tuple:
    text = job["query"]

    def graph_in(iri):
        try:
            return store.contains_named_graph(ox.NamedNode(iri))
        except ValueError:
            return False

    checked = check_query(text, graph_in)  # again, in case the parent's check was ever skipped
    options = dataset_options(checked, job["default_graphs"], job["named_graphs"])
    kind, result, truncated = execute(store, text, row_cap=job["row_cap"], byte_cap=job["byte_cap"], **options)
    media_type = job["graph_format"] if kind == "graph" else job["results_format"]
    if media_type is None:
        wanted = "an RDF graph type" if kind == "graph" else "a SPARQL results type"
        raise QueryError(f"this query's answer needs {wanted}, and the Accept header allows none we "
                         "can write", code="not_acceptable", status=406)
    if kind == "boolean":
        return ("ok", kind, media_type, serialize_boolean(result, RESULT_FORMATS[media_type]), False, 1)
    if kind == "graph":
        body = serialize_triples(result, GRAPH_FORMATS[media_type], prefixes=checked.prefixes())
        return ("ok", kind, media_type, body, truncated, len(result))
    variables, rows = result
    return ("ok", kind, media_type, serialize_select(variables, rows, RESULT_FORMATS[media_type]),
            truncated, len(rows))
