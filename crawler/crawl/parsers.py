"""Parsing in other processes (issue 18): the crawl's pipeline thread only writes.

Parsing a profile (``extract.parse_source``) and checking it against the editor's rules
(``checks.profile_problems``, ~0.3 ms a new or changed document) are pure functions of the body,
its URL and the settings, and hold the GIL: a thread would not take them off the writer. With
``Settings.parse_workers`` > 0 they run in that many processes (forkserver: no copy of the crawl's
threads or open store), started on the crawl's first parse and stopped when it ends.

What crosses the boundary is plain data: the statements as N-Triples text (read back in ~0.1 ms a
document; pickled pyoxigraph terms cost ~0.5 ms, as much as parsing again), and a refusal as its
reason code and message, raised in the crawl as the same ``DocumentError`` parse_source raises.

Back-pressure: at most ``parse_workers * parse_backlog`` documents are handed to the processes at
once; a fetch worker whose document waits keeps its body and fetches nothing else, so the bodies
held are bounded by the crawl's concurrency, as without parser processes.

A parser process that dies (killed, out of memory) breaks the pool: the pool is started again and
each document that was in it is parsed once more alone, in a process of its own, so the document
that kills its parser fails with ``parser_died`` and the others are read. The crawl never hangs on it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import pyoxigraph as ox

from hubnet.crawler.crawl import checks
from hubnet.crawler.crawl.extract import Parsed, crosses_paths, parse_source
from hubnet.crawler.settings import Settings
from hubnet.vocab.errors import DocumentError, HubnetError

_settings: Settings | None = None   # in a parser process: the crawl's settings, given once at its start


def _start(settings: Settings) -> None:
    global _settings
    _settings = settings


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
    nt = "".join(f"{t} .\n" for t in parsed.triples)
    return ("parsed", nt, parsed.groups, parsed.dropped_foreign, parsed.links, parsed.content_hash, parsed.notes,
            crosses_paths(parsed, url), checked, problems)


def received(answer: tuple) -> Parsed:
    """A parser process's answer as the crawl's Parsed (its statements still N-Triples text, read by
    ``statements`` on the writer's thread); a refusal raised as the DocumentError parse_source raises."""
    if answer[0] == "refused":
        raise DocumentError(answer[2], code=answer[1])
    _, nt, groups, dropped, links, digest, notes, crosses, checked, problems = answer
    return Parsed(triples=None, groups=groups, dropped_foreign=dropped, links=links, content_hash=digest,
                  notes=notes, nt=nt, crosses=crosses, checked=checked, problems=problems)


def statements(parsed: Parsed) -> Parsed:
    """``parsed`` with its statements as terms (read from the N-Triples text a parser process sent)."""
    if parsed.triples is None:
        parsed.triples = list(ox.parse(parsed.nt, format=ox.RdfFormat.N_TRIPLES))
        parsed.nt = None
    return parsed


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
        self.restarts = 0

    def _executor(self, workers: int) -> ProcessPoolExecutor:
        _preload()
        return ProcessPoolExecutor(workers, mp_context=_CONTEXT, initializer=_start, initargs=(self.settings,))

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
                answer = await asyncio.wrap_future(pool.submit(parse_shipped, *args))
            except BrokenProcessPool:
                self._restart(pool)
                answer = await self._parse_alone(args)
        return received(answer)

    def _restart(self, broken: ProcessPoolExecutor | None) -> ProcessPoolExecutor:
        """A new pool in place of ``broken`` (once, however many documents saw it break)."""
        if self._pool is broken:
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
                self.restarts += 1
            self._pool = self._executor(self.settings.parse_workers)
        return self._pool

    async def _parse_alone(self, args: tuple) -> tuple:
        """One document in a process of its own, one at a time: if that process dies, this document
        killed it."""
        async with self._alone:
            solo = self._executor(1)
            try:
                return await asyncio.wrap_future(solo.submit(parse_shipped, *args))
            except BrokenProcessPool:
                raise DocumentError("the parser process ended while reading the document (killed, or out of "
                                    "memory); the document is not stored", code="parser_died") from None
            finally:
                solo.shutdown(wait=False)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
