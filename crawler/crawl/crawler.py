"""The crawl: seeds and known sources in, an up-to-date store out.

The stages as they run for one source: fetch (fetch.py, the only code that
talks to the network) -> extract (extract.py: statements, with the authority
rule of ../authority.py applied and the links and groups collected in the same
pass) -> de-duplicate (here) -> store (../store/graph.py) -> follow the links
(here; on a 304 they are read back from the stored graph by link.py). After
the crawl, service.Aggregator.after_crawl() updates what readers read. This
module schedules them: an asyncio
loop runs many fetches at once (politeness per host is the fetcher's job),
while parsing and writing run one source at a time in a worker thread, off
the event loop, so one slow parse never stalls the fetches and the store has
a single writer.

Lifecycle of a source (docs/crawler.md): 410 -> graph removed, tombstone
kept; 404 -> removed after ``misses_before_delete`` consecutive misses;
timeouts, 5xx, robots refusals, invalid documents -> last good graph kept and
marked stale, the error recorded; 304 or the same statements -> no write.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hubnet.vocab.errors import FetchError, HubnetError

from hubnet.crawler import authority as authorise
from hubnet.crawler.crawl import extract as link
from .fetch import Fetcher, canonical_url
from hubnet.crawler.crawl.extract import parse_source
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import FAILED, GONE, MISSING, OK, STALE, SourceRecord, Store, now

NEW, UPDATED, UNCHANGED, DELETED, FAILURE, SKIPPED = "new", "updated", "unchanged", "deleted", "failed", "skipped"


@dataclass
class Outcome:
    url: str
    result: str                  # new / updated / unchanged / deleted / failed / skipped
    code: str | None = None      # reason code for failures ("timeout", "id_mismatch", ...)
    message: str | None = None
    triples: int = 0
    dropped_foreign: int = 0
    links: list = field(default_factory=list)
    groups: list = field(default_factory=list)


@dataclass
class Summary:
    outcomes: list = field(default_factory=list)
    elapsed: float = 0.0
    requests: dict = field(default_factory=dict)
    writes: int = 0

    @property
    def counts(self) -> dict:
        c = Counter(o.result for o in self.outcomes)
        return {k: c.get(k, 0) for k in (NEW, UPDATED, UNCHANGED, DELETED, FAILURE, SKIPPED)}

    @property
    def failures(self) -> list:
        return [o for o in self.outcomes if o.result == FAILURE]

    def to_dict(self) -> dict:
        return {
            "sources": self.counts,
            "failed_by_reason": dict(Counter(o.code for o in self.failures)),
            "failures": [{"url": o.url, "code": o.code, "message": o.message} for o in self.failures],
            "triples_written": sum(o.triples for o in self.outcomes if o.result in (NEW, UPDATED)),
            "foreign_triples_dropped": sum(o.dropped_foreign for o in self.outcomes),
            "store_writes": self.writes,
            "requests": self.requests,
            "elapsed_s": round(self.elapsed, 3),
        }


@dataclass
class _Item:
    url: str
    depth: int
    found_via: str
    found_from: str | None = None
    candidates: tuple = ()       # for bare-domain seeds: other URLs to try if this one fails


def seed_items(seeds) -> list:
    """Profile URLs as given; a bare domain tries /.well-known/hubnet, then its home page."""
    items = []
    for seed in seeds:
        seed = seed.strip()
        if not seed or seed.startswith("#"):
            continue
        if "://" in seed:
            items.append(_Item(seed, 0, "seed"))
        else:
            host = seed.strip("/")
            tries = (f"https://{host}/.well-known/hubnet", f"https://{host}/",
                     f"http://{host}/.well-known/hubnet", f"http://{host}/")
            items.append(_Item(tries[0], 0, "seed", candidates=tries[1:]))
    return items


class Crawler:
    """One crawl over a store. ``run`` may be called once per instance."""

    def __init__(self, store: Store, settings: Settings | None = None, *, progress=None, fetcher=None, robots=None):
        self.store = store
        self.settings = settings or Settings()
        self.progress = progress            # callable(done, queued, outcome) or None
        self._fetcher = fetcher
        self._robots = robots               # a RobotsCache kept by the caller across crawls, or None
        self._pipeline = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubnet-pipeline")
        self.summary = Summary()

    # ------------------------------------------------------------------ public
    def crawl(self, seeds=(), *, recheck_known: bool = True, found_via: str = "seed",
              follow_links: bool = True) -> Summary:
        return asyncio.run(self.run(seeds, recheck_known=recheck_known, found_via=found_via,
                                    follow_links=follow_links))

    async def run(self, seeds=(), *, recheck_known: bool = True, found_via: str = "seed",
                  follow_links: bool = True) -> Summary:
        start = time.monotonic()
        self.known = await self._in_pipeline(self.store.sources)
        self.groups = await self._in_pipeline(link.known_groups, self.store)
        self.follow_links = follow_links
        self.seen: set = set()
        self._new_sources = 0
        self.queue: asyncio.Queue = asyncio.Queue()
        for item in seed_items(seeds):
            item.found_via = found_via
            self._enqueue(item)
        if recheck_known:
            for rec in self.known.values():
                if rec.status != GONE:
                    self._enqueue(_Item(rec.url, rec.depth, rec.found_via, rec.found_from))
        own_fetcher = self._fetcher is None
        fetcher = self._fetcher or Fetcher(self.settings, robots=self._robots)
        try:
            if own_fetcher:
                await fetcher.__aenter__()
            workers = [asyncio.create_task(self._worker(fetcher)) for _ in range(max(1, self.settings.concurrency))]
            await self.queue.join()
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            if own_fetcher:
                await fetcher.close()
            self._pipeline.shutdown(wait=True)
            self.store.flush()
        self.summary.requests = dict(getattr(fetcher, "stats", {}) or {})
        self.summary.elapsed = time.monotonic() - start
        return self.summary

    # ------------------------------------------------------------------ frontier
    def _enqueue(self, item: _Item) -> None:
        try:
            url = canonical_url(item.url)
        except FetchError as exc:
            if item.found_via != "link":  # a bad link in someone's profile is their problem, not a failure
                self._record(Outcome(item.url, FAILURE, exc.code, exc.message))
            return
        if url in self.seen:
            return
        if item.depth > self.settings.max_depth:
            return
        is_known = url in self.known
        if not is_known and self._new_sources >= self.settings.max_sources:
            self._record(Outcome(url, SKIPPED, "max_sources",
                                 f"not fetched: the crawl reached its limit of {self.settings.max_sources} sources"))
            return
        self.seen.add(url)
        if not is_known:
            self._new_sources += 1
        item.url = url
        self.queue.put_nowait(item)

    async def _worker(self, fetcher) -> None:
        while True:
            item = await self.queue.get()
            try:
                try:
                    outcome = await self._process(fetcher, item)
                except Exception as exc:  # one source's crash never stops the crawl (T22)
                    outcome = Outcome(item.url, FAILURE, "internal_error", f"unexpected error: {exc!r}")
                self._record(outcome)
                for g in outcome.groups:
                    self.groups.setdefault(g, outcome.url)
                if self.follow_links:
                    for target in outcome.links:
                        # A group already described by a source (e.g. a node's /profile.jsonld
                        # for its /#group IRI) needs no fetch of its IRI.
                        if target not in self.groups:
                            self._enqueue(_Item(link.document_of(target), item.depth + 1, "link", item.url))
            finally:
                # Only after the links are queued, or join() could see an empty queue too early.
                self.queue.task_done()

    def _record(self, outcome: Outcome) -> None:
        self.summary.outcomes.append(outcome)
        if self.progress:
            self.progress(len(self.summary.outcomes), self.queue.qsize(), outcome)

    async def _in_pipeline(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pipeline, fn, *args)

    # ------------------------------------------------------------------ one source
    async def _process(self, fetcher, item: _Item) -> Outcome:
        rec = self.known.get(item.url)
        if rec is None:
            rec = SourceRecord(url=item.url, found_via=item.found_via, found_from=item.found_from,
                               depth=item.depth, first_seen=now())
        has_graph = rec.has_graph
        try:
            resp = await fetcher.fetch(item.url, etag=rec.etag if has_graph else None,
                                       last_modified=rec.last_modified if has_graph else None)
        except FetchError as exc:
            if item.candidates:
                return await self._try_next_candidate(fetcher, item)
            return await self._in_pipeline(self._failed, rec, exc.code, exc.message)

        if resp.status == 304 and has_graph:
            if resp.url == rec.graph:
                return await self._in_pipeline(self._unchanged, rec, None)
            # Unchanged, but now reached at another URL (a redirect): fetch it whole to move the graph.
            try:
                resp = await fetcher.fetch(item.url)
            except FetchError as exc:
                return await self._in_pipeline(self._failed, rec, exc.code, exc.message)
        if resp.status == 200:
            if item.candidates and item.url.endswith("/.well-known/hubnet"):
                return await self._follow_well_known(fetcher, item, resp)
            return await self._in_pipeline(self._ingest, rec, resp)
        if item.candidates:
            return await self._try_next_candidate(fetcher, item)
        if resp.status == 410:
            return await self._in_pipeline(self._gone, rec, "the site answered 410 Gone: the group withdrew its profile")
        if resp.status == 404:
            return await self._in_pipeline(self._missing, rec)
        return await self._in_pipeline(self._failed, rec, f"http_{resp.status}",
                                       f"the site answered HTTP {resp.status} {_reason(resp.status)}")

    async def _try_next_candidate(self, fetcher, item: _Item) -> Outcome:
        nxt = _Item(item.candidates[0], item.depth, item.found_via, item.found_from, item.candidates[1:])
        try:
            nxt.url = canonical_url(nxt.url)
        except FetchError as exc:
            return Outcome(item.url, FAILURE, exc.code, exc.message)
        self.seen.add(nxt.url)
        return await self._process(fetcher, nxt)

    async def _follow_well_known(self, fetcher, item: _Item, resp) -> Outcome:
        """/.well-known/hubnet names the profile URL; crawl that instead."""
        try:
            target = json.loads(resp.body.decode("utf-8"))["profile"]
            if not isinstance(target, str):
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return await self._try_next_candidate(fetcher, item)
        nxt = _Item(target, item.depth, item.found_via, item.found_from)
        try:
            nxt.url = canonical_url(target)
        except FetchError as exc:
            return Outcome(item.url, FAILURE, exc.code, exc.message)
        if nxt.url in self.seen:
            return Outcome(nxt.url, SKIPPED, "duplicate", "already crawled")
        self.seen.add(nxt.url)
        return await self._process(fetcher, nxt)

    # ------------------------------------------------------------------ pipeline-thread steps (single writer)
    def _write(self, fn, *args) -> None:
        fn(*args)
        self.summary.writes += 1
        self._write_hook()

    def _ingest(self, rec: SourceRecord, resp) -> Outcome:
        try:
            parsed = parse_source(resp.body, resp.content_type, resp.url, self.settings)
        except HubnetError as exc:
            return self._failed(rec, exc.code, exc.message)
        except (RecursionError, MemoryError):
            return self._failed(rec, "too_deep", "the document is too complex to read")
        same_graph = rec.graph == resp.url
        if same_graph and rec.status == OK and rec.content_hash == parsed.content_hash:
            return self._unchanged(rec, parsed, resp)
        result = UPDATED if rec.has_graph else NEW
        if result == NEW:
            owner = self._described_elsewhere(parsed.groups, resp.url)
            if owner:
                # The same group at a second address (a node answers at / and at /profile.jsonld):
                # keep one source, so the directory and /sources do not show it twice.
                return Outcome(rec.url, SKIPPED, "duplicate",
                               f"describes the same group as {owner}, which is already crawled; that source is kept")
        previous_graph = rec.graph
        stamp = now()
        rec.graph = resp.url
        rec.status = OK
        rec.etag, rec.last_modified = resp.etag, resp.last_modified
        rec.content_hash = parsed.content_hash
        rec.triples, rec.dropped_foreign = len(parsed.triples), parsed.dropped_foreign
        rec.generated_at = rec.last_success = stamp
        rec.error_code = rec.error_message = rec.error_at = rec.removed_at = None
        rec.misses = 0
        self._write(lambda: self.store.replace_source(rec, parsed.triples, previous_graph=previous_graph))
        self.known[rec.url] = rec
        return Outcome(rec.url, result, triples=len(parsed.triples), dropped_foreign=parsed.dropped_foreign,
                       links=parsed.links, groups=parsed.groups)

    def _described_elsewhere(self, groups, url: str) -> str | None:
        """Another known source (on this origin) already describing every one of ``groups``, if any."""
        owners = {self.groups.get(g) for g in groups}
        if len(owners) != 1:
            return None
        owner = owners.pop()
        if owner is None or owner == url or not authorise.speaks_for(owner, groups[0]):
            return None
        return owner

    def _write_hook(self) -> None:
        """Called after each store write; the crash test overrides it to kill the process mid-crawl."""

    def _unchanged(self, rec: SourceRecord, parsed=None, resp=None) -> Outcome:
        changed_record = False
        if resp is not None and (resp.etag, resp.last_modified) != (rec.etag, rec.last_modified):
            rec.etag, rec.last_modified = resp.etag, resp.last_modified
            changed_record = True
        if rec.status != OK or rec.error_code:
            rec.status, rec.error_code, rec.error_message, rec.error_at, rec.misses = OK, None, None, None, 0
            changed_record = True
        if changed_record:
            rec.last_success = now()
            self._write(self.store.update_record, rec)
        if parsed is None:
            links, groups = link.stored_links_and_groups(self.store, rec.graph, self.settings.max_outlinks)
        else:
            links, groups = parsed.links, parsed.groups
        return Outcome(rec.url, UNCHANGED, dropped_foreign=parsed.dropped_foreign if parsed else 0,
                       links=links, groups=groups)

    def _failed(self, rec: SourceRecord, code: str, message: str) -> Outcome:
        has_graph = rec.has_graph
        status = STALE if has_graph else FAILED
        if (rec.status, rec.error_code, rec.error_message) != (status, code, message):
            rec.status, rec.error_code, rec.error_message, rec.error_at = status, code, message, now()
            self._write(self.store.update_record, rec)
            self.known[rec.url] = rec
        return Outcome(rec.url, FAILURE, code, message)

    def _gone(self, rec: SourceRecord, message: str) -> Outcome:
        had_graph = rec.has_graph
        if not had_graph and rec.url not in self.known:
            return Outcome(rec.url, FAILURE, "gone", message)
        rec.status, rec.removed_at = GONE, now()
        rec.error_code, rec.error_message, rec.error_at = "gone", message, rec.removed_at
        rec.triples = 0
        self._write(self.store.remove_source, rec)
        self.known[rec.url] = rec
        return Outcome(rec.url, DELETED, "gone", message)

    def _missing(self, rec: SourceRecord) -> Outcome:
        has_graph = rec.has_graph
        if not has_graph:
            return self._failed(rec, "not_found", "the site answered 404 Not Found: no profile at this address")
        rec.misses += 1
        limit = self.settings.misses_before_delete
        if rec.misses >= limit:
            return self._gone(rec, f"the site answered 404 Not Found {rec.misses} times in a row")
        rec.status, rec.error_code, rec.error_at = MISSING, "not_found", now()
        rec.error_message = (f"the site answered 404 Not Found ({rec.misses} of {limit} misses before "
                             "the profile is dropped); the last good version is kept meanwhile")
        self._write(self.store.update_record, rec)
        self.known[rec.url] = rec
        return Outcome(rec.url, FAILURE, "not_found", rec.error_message)


def _reason(status: int) -> str:
    from http import HTTPStatus
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
