"""Parsing in other processes (issue 18): the crawl's pipeline thread only writes.

Parsing a profile (``extract.parse_source``) and checking it against the editor's rules
(``checks.profile_problems``, ~0.3 ms a new or changed document) are pure functions of the body,
its URL and the settings, and hold the GIL: a thread would not take them off the writer. With
``Settings.parse_workers`` > 0 they run in that many processes (forkserver: no copy of the crawl's
threads or open store), started on the crawl's first parse and stopped when it ends.

What crosses the boundary is plain data: the statements as N-Triples text, which the writer hands to
the bulk loader as it is (``store.shipped.NTriples``: terms made on the writer's thread cost ~65x
more in a crawl, while the event loop runs), whether the profile withdraws,
and a refusal as its reason code and message, raised in the crawl as the same ``DocumentError``
parse_source raises.

Back-pressure: at most ``parse_workers * parse_backlog`` documents are handed to the processes at
once; a fetch worker whose document waits keeps its body and fetches nothing else, so the bodies
held are bounded by the crawl's concurrency, as without parser processes.

A parser process that dies (killed, out of memory) breaks the pool: the pool is started again and
each document that was in it is parsed once more alone, in a process of its own, so the document
that kills its parser fails with ``parser_died`` and the others are read. The crawl never hangs on it.

A document not answered within ``Settings.parse_timeout`` seconds of being handed over (a hostile
body that makes a parser or a check run for minutes: docs/threat-model.md T7) gets the pool killed,
and is then parsed alone like the others: the budget counts from the hand-over, so a document may
have spent it waiting behind another, and only a document that overruns it alone fails, with
``parse_timeout``. Such a document costs the crawl at most twice the budget of one parser's time.

A parser process ignores Ctrl-C (the crawl stops it) and dies with the fork server, which dies with
the crawl (Linux's parent-death signal): no parser outlives the crawler, however it ends.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from hubnet.crawler.crawl import checks
from hubnet.crawler.crawl.extract import Parsed, crosses_paths, parse_source
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.shipped import NTriples
from hubnet.vocab.errors import DocumentError, HubnetError

_settings: Settings | None = None   # in a parser process: the crawl's settings, given once at its start


def _start(settings: Settings) -> None:
    global _settings
    _settings = settings
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole process group: the crawl stops us
    _die_with_crawl()


PR_SET_PDEATHSIG = 1


def _die_with_crawl() -> None:
    """Make this process end when the crawling process does, however that ends.

    The fork server exits once every holder of its "client alive" pipe has closed it; each process it
    forks inherits that pipe (to start processes of its own, which a parser never does), so a parser
    keeping it would keep the server, and itself, alive after the crawl: it is closed here. Then the
    process asks to be SIGKILLed when the server (its parent) exits (Linux only: elsewhere a parser
    may outlive a crawl killed outright, SIGKILL or SIGTERM; a crawl that ends or is interrupted
    stops its parsers itself)."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if getattr(server, "_forkserver_alive_fd", None) is not None:
        os.close(server._forkserver_alive_fd)
        server._forkserver_alive_fd = None
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:   # the server exited before the signal was asked for
        os._exit(1)


def parse_shipped(body: bytes, media_type: str, url: str, by_path: bool, unchanged_hash: str | None) -> tuple:
    """In a parser process: ``parse_source`` (and the editor's rules, unless the statements hash to
    ``unchanged_hash``: the crawl then writes nothing) as plain data for ``received``."""
    try:
        parsed = parse_source(body, media_type, url, _settings, by_path=by_path)
    except HubnetError as exc:
        return ("refused", exc.code, exc.message)
    except (RecursionError, MemoryError):
        return ("refused", "too_deep", "the document is too complex to read")
    checked = parsed.content_hash != unchanged_hash
    problems = checks.profile_problems(body, media_type, url, _settings, parsed.rows) if checked else None
    shipped = NTriples.of(parsed.triples)
    return ("parsed", shipped.text, len(shipped), parsed.withdraws, parsed.groups,
            parsed.dropped_foreign, parsed.links, parsed.content_hash, parsed.notes, crosses_paths(parsed, url),
            checked, problems)


def received(answer: tuple) -> Parsed:
    """A parser process's answer as the crawl's Parsed (its statements as ``NTriples``); a refusal
    raised as the DocumentError parse_source raises."""
    if answer[0] == "refused":
        raise DocumentError(answer[2], code=answer[1])
    _, text, count, withdraws, groups, dropped, links, digest, notes, crosses, checked, problems = answer
    return Parsed(triples=NTriples(text, count), groups=groups, dropped_foreign=dropped, links=links,
                  content_hash=digest, notes=notes, withdraws=withdraws, crosses=crosses, checked=checked,
                  problems=problems)


# Forked from one clean server process that has already loaded the parser (parser_boot), so a
# crawl's processes start in milliseconds. The fork server is one per process and shared with the
# query workers (crawler/query/workers.py), which name their own module to preload: the list is
# added to, not replaced. Once the server runs, a parser process loads what it needs itself.
_CONTEXT = multiprocessing.get_context("forkserver")
_BOOT = "hubnet.crawler.crawl.parser_boot"


def _preload() -> None:
    from multiprocessing import forkserver

    wanted = list(getattr(getattr(forkserver, "_forkserver", None), "_preload_modules", None) or [])
    if _BOOT not in wanted:
        _CONTEXT.set_forkserver_preload([*wanted, _BOOT])


class ParsePool:
    """``parse_workers`` parser processes for one crawl; ``parse`` is awaited on the crawl's event loop."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None   # made on the loop that awaits parse
        self._alone: asyncio.Lock | None = None
        self._handed: set = set()   # futures handed to a pool and not answered yet
        self._started: dict = {}    # pool -> the future of its first, empty call (its process is up)
        self.restarts = 0

    def _executor(self, workers: int) -> ProcessPoolExecutor:
        _preload()
        pool = ProcessPoolExecutor(workers, mp_context=_CONTEXT, initializer=_start, initargs=(self.settings,))
        self._started[pool] = pool.submit(_ready)
        return pool

    async def parse(self, body: bytes, media_type: str, url: str, by_path: bool = False,
                    unchanged_hash: str | None = None) -> Parsed:
        """As ``parse_source`` (raising its DocumentError), with the editor's rules applied as well."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(max(1, self.settings.parse_workers * self.settings.parse_backlog))
            self._alone = asyncio.Lock()
        args = (body, media_type, url, by_path, unchanged_hash)
        async with self._slots:
            pool = self._pool or self._restart(None)
            try:
                answer = await self._answer(pool, args)
            except (BrokenProcessPool, asyncio.TimeoutError):
                self._restart(pool)
                answer = await self._parse_alone(args)
        return received(answer)

    async def _answer(self, pool: ProcessPoolExecutor, args: tuple) -> tuple:
        """``parse_shipped(*args)`` in ``pool``; TimeoutError past ``parse_timeout`` (0 or less: none), which
        counts from the hand-over once the pool's process is up (importing the main module in a new
        process may take a second on a busy machine: that is no document's doing)."""
        await asyncio.wrap_future(self._started[pool])
        future = pool.submit(parse_shipped, *args)
        self._handed.add(future)
        future.add_done_callback(self._handed.discard)
        budget = self.settings.parse_timeout
        return await asyncio.wait_for(asyncio.wrap_future(future), budget if budget > 0 else None)

    def _restart(self, broken: ProcessPoolExecutor | None) -> ProcessPoolExecutor:
        """A new pool in place of ``broken`` (once, however many documents saw it break or time out);
        its processes are killed, so the documents still in it fail over to ``_parse_alone``."""
        if self._pool is broken:
            if broken is not None:
                self._stop(broken, kill=True)
                self.restarts += 1
            self._pool = self._executor(self.settings.parse_workers)
        return self._pool

    async def _parse_alone(self, args: tuple) -> tuple:
        """One document in a process of its own, one at a time: if that process dies or overruns the
        budget, this document did it."""
        async with self._alone:
            solo, answered = self._executor(1), False
            try:
                answer = await self._answer(solo, args)
                answered = True
                return answer
            except BrokenProcessPool:
                raise DocumentError("the parser process ended while reading the document (killed, or out of "
                                    "memory); the document is not stored", code="parser_died") from None
            except asyncio.TimeoutError:
                raise DocumentError(f"reading the document took longer than {self.settings.parse_timeout:g} s "
                                    "(parse_timeout) and was stopped; the document is not stored",
                                    code="parse_timeout") from None
            finally:
                # overran, died, or the crawl was interrupted: nothing is left running
                await asyncio.to_thread(self._stop, solo, not answered)

    def close(self) -> None:
        """Stop the parser processes: at once if one is still reading (the crawl was interrupted),
        else when they have finished."""
        pool, self._pool = self._pool, None
        if pool is not None:
            self._stop(pool, kill=bool(self._handed))

    def _stop(self, pool: ProcessPoolExecutor, kill: bool) -> None:
        self._started.pop(pool, None)
        if kill:
            _kill(pool)
        else:
            pool.shutdown(wait=True, cancel_futures=True)


def _ready() -> None:
    """Nothing: run first in a new pool, to know when its process is up."""


def _kill(pool: ProcessPoolExecutor) -> None:
    """SIGKILL ``pool``'s processes (nothing else stops a parser mid-document) and reap them; its
    pending futures end with BrokenProcessPool."""
    processes = list((pool._processes or {}).values())
    for process in processes:
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join()
