"""The crawl: seeds and known sources in, an up-to-date store out.

The stages as they run for one source: fetch (fetch.py, the only code that
talks to the network) -> extract (extract.py: statements, with the authority
rule of ../authority.py applied and the links and groups collected in the same
pass) -> de-duplicate (here) -> store (../store/graph.py) -> follow the links
(here; on a 304 they are read back from the stored graph by extract.py). After
the crawl, service.Aggregator.after_crawl() updates what readers read. This
module schedules them: an asyncio loop runs many fetches at once, taking URLs
from per-host queues in two lanes (frontier.py: pings first, and only hosts
that are ready; politeness itself is the fetcher's job) within the budgets of
frontier.py, while parsing and writing run one source at a time in a worker
thread, off the event loop, so one slow parse never stalls the fetches and the
store has a single writer. With ``Settings.parse_workers`` > 0 the parsing runs in
parser processes instead (parsers.py) and that thread only writes.

Lifecycle of a source (docs/crawler.md): 410 -> graph removed, tombstone
kept; 404 -> removed after ``misses_before_delete`` consecutive misses;
timeouts, 5xx, robots refusals, invalid documents -> last good graph kept and
marked stale, the error recorded; 304 or the same statements -> no write.
A source owns only a graph on its own site: a redirect to another site makes
the target a source of its own and counts as a miss for the redirecting one. A permanent
redirect (301, 308) whose target's profile names the old group in ``sameAs`` is a move
(store/identity.py): at the end of the crawl the old source becomes a "moved" tombstone and
the new source takes its first-seen date.
A source never read successfully is forgotten after ``failed_source_attempts``.
Consent (crawl/consent.py): robots.txt disallowing the source, ``X-Robots-Tag: noindex`` or the
profile's ``hubnet:indexing false`` -> graph removed, tombstone kept, in the crawl that sees it.
A source with no successful fetch for ``remove_after_days`` is removed the same way at the end
of a full crawl (``expired``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import random
import threading
import time
from collections import Counter
from urllib.parse import urljoin
from dataclasses import dataclass, field

from hubnet.vocab.errors import FetchError, HubnetError, StoreError

from hubnet.vocab import authority as authorise
from hubnet.crawler.crawl import checks, consent, extract as link, geocode, parsers
from .fetch import Fetcher
from .pipeline import Pipeline
from .netpolicy import canonical_url
from hubnet.crawler.crawl.extract import parse_source
from hubnet.crawler.crawl.frontier import CRAWL, OVER_QUOTA, PING, Budgets, Lanes, host_of
from hubnet.crawler.settings import Settings
from hubnet.crawler.store import identity
from hubnet.crawler.store.graph import FAILED, GONE, MISSING, OK, STALE, SourceRecord, Store, days_between, now
from hubnet.crawler.store.secondhand import is_imported

log = logging.getLogger(__name__)
NEW, UPDATED, UNCHANGED, DELETED, FAILURE, SKIPPED = "new", "updated", "unchanged", "deleted", "failed", "skipped"
FORGOTTEN = "forgotten"   # reason code: the hub's block list (blocklist.py) names the URL
WELL_KNOWN = "/.well-known/hubnet"
# Fetch failures of /.well-known/hubnet that leave its answer unknown: the stricter authority rule meanwhile.
_UNKNOWN = frozenset({"timeout", "connect_failed", "network_error", "dns_failed", "robots_unreachable",
                      "robots_disallowed", "backed_off", "crawl_delay_too_long"})


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
    recheck: list = field(default_factory=list)   # known sources to fetch again now (the same group's source)


@dataclass
class Summary:
    outcomes: list = field(default_factory=list)
    elapsed: float = 0.0
    requests: dict = field(default_factory=dict)
    writes: int = 0
    geocoded: dict = field(default_factory=dict)   # geocode.geocode's counts, when it ran

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
            "skipped_by_reason": dict(Counter(o.code for o in self.outcomes if o.result == SKIPPED)),
            "failures": [{"url": o.url, "code": o.code, "message": o.message} for o in self.failures],
            "triples_written": sum(o.triples for o in self.outcomes if o.result in (NEW, UPDATED)),
            "foreign_triples_dropped": sum(o.dropped_foreign for o in self.outcomes),
            "store_writes": self.writes,
            "geocoded": self.geocoded,
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
    root: str | None = None      # the seed, ping or re-checked source this URL was reached from
    refetch: bool = False        # a ping for a URL already fetched in this crawl: fetch it again


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

    def __init__(self, store: Store, settings: Settings | None = None, *, progress=None, fetcher=None, robots=None,
                 publish=None, clock=None):
        self.store = store
        self.settings = settings or Settings()
        self._now = clock or now            # callable() -> the record date of now (tests age sources with it)
        self.progress = progress            # callable(done, queued, outcome) or None
        # callable() run on the pipeline thread (between writes) when a pinged source changed the
        # store while the crawl has more to do: the server re-indexes, so a ping is visible before
        # a long re-crawl ends. None: nothing.
        self._publish = publish
        self._publish_pending = False
        self._fetcher = fetcher
        self._robots = robots               # a RobotsCache kept by the caller across crawls, or None
        self._pipeline = Pipeline("hubnet-pipeline")
        self._parsers = None   # parsers.ParsePool during a crawl with parse_workers > 0
        self.summary = Summary()
        self._submit_lock = threading.Lock()   # pings handed in from other threads (submit)
        # canonical_url (default settings) of the URLs queued lately: a link to a popular group comes
        # from many profiles. Bounded like the fetcher's (netpolicy.AddressPolicy); refusals are not kept.
        self._canonical_url = functools.lru_cache(maxsize=max(0, self.settings.policy_cache_size))(
            functools.partial(canonical_url, settings=Settings()))
        self._accepting = False
        self._submits = 0
        self._loop = None

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
        # group IRI -> the tombstone of the source that described it before the group withdrew
        self.withdrawn = {g: rec.url for rec in self.known.values() if rec.status == GONE and rec.about
                          for g in rec.about.split()}
        self.follow_links = follow_links
        self.seen: set = set()
        self._started: set = set()
        self._skipped: set = set()
        self._rechecked: set = set()
        self._host_urls: Counter = Counter()
        self._new_sources = 0
        self.lanes = Lanes()
        self.budgets = Budgets(self.settings, self.known)
        self._loop = asyncio.get_running_loop()
        self._hosting: dict = {}    # origin -> task: does it host groups by path (/.well-known/hubnet)?
        self._moves: dict = {}      # old source URL -> (redirect target, its groups, outcome): confirmed at the end
        with self._submit_lock:
            self._accepting = True
        for item in seed_items(seeds):
            item.found_via = found_via
            self._enqueue(item)
        if recheck_known:
            for rec in self._rechecks():
                self._enqueue(_Item(rec.url, rec.depth, rec.found_via, rec.found_from))
        own_fetcher = self._fetcher is None
        fetcher = self._fetcher or Fetcher(self.settings, robots=self._robots)
        fetcher.on_release = self.lanes.wake
        self._parsers = parsers.ParsePool(self.settings) if self.settings.parse_workers > 0 else None
        try:
            if own_fetcher:
                await fetcher.__aenter__()
            lanes = [(PING, CRAWL)] * max(1, self.settings.concurrency) + [(PING,)] * max(0, self.settings.ping_workers)
            await asyncio.gather(*(self._worker(fetcher, ls) for ls in lanes))
            await self._in_pipeline(self._confirm_moves)
            if recheck_known:
                await self._in_pipeline(self._expire)
            await self._geocode()
        finally:
            with self._submit_lock:
                self._accepting = False
            if own_fetcher:
                await fetcher.close()
            if self._parsers is not None:
                self._parsers.close()   # on the loop's thread, which reads the parsers' sockets
            self._pipeline.submit(self._write_staged)
            self._pipeline.shutdown(wait=True)
            self.store.flush()
        self.summary.requests = dict(getattr(fetcher, "stats", {}) or {})
        self.summary.elapsed = time.monotonic() - start
        return self.summary

    # ------------------------------------------------------------------ frontier
    def _rechecks(self) -> list:
        """Known sources to re-check; on a host with more than ``max_urls_per_host``, a random
        sample of that many, so that over re-crawls every source there is checked in turn."""
        by_host: dict = {}
        for rec in self.known.values():
            if rec.status != GONE and rec.url not in self.store.blocked and not is_imported(rec.url):
                by_host.setdefault(host_of(rec.url), []).append(rec)
        cap = self.settings.max_urls_per_host
        return [rec for recs in by_host.values()
                for rec in (recs if len(recs) <= cap else random.sample(recs, cap) + recs)]

    async def _geocode(self) -> None:
        """Positions for groups that give only a postcode (geocode.py); never fails the crawl."""
        if self.settings.geocoder.strip().lower() == "off":
            return
        try:
            self.summary.geocoded = await geocode.geocode(self.store, self.settings, self._in_pipeline)
        except Exception:  # a bug here must not lose the crawl that was just stored
            log.exception("geocoding after the crawl failed")

    def submit(self, urls) -> bool:
        """Hand pinged URLs to this running crawl, from any thread; they go to the ping lane.

        False if the crawl is not running or has finished (the caller queues them for the next)."""
        with self._submit_lock:
            if not self._accepting:
                return False
            self._submits += 1
        self._loop.call_soon_threadsafe(self._take_submitted, list(urls))
        return True

    def _take_submitted(self, urls) -> None:
        try:
            for url in urls:
                if self._robots is not None:
                    self._robots.forget(url)   # a ping is the site asking to be read now
                item = _Item(url, 0, "ping")
                try:
                    started = canonical_url(url) in self._started
                except FetchError:
                    started = False
                item.refetch = started         # fetched already: the site may have changed since
                self._enqueue(item)
        finally:
            with self._submit_lock:
                self._submits -= 1
            self.lanes.wake()

    def _finished(self) -> bool:
        with self._submit_lock:
            if self.lanes.idle() and self._submits == 0:
                self._accepting = False
            return not self._accepting

    def _skip(self, url: str, code: str, message: str) -> None:
        if url not in self._skipped:   # a URL linked from many sources is reported once
            self._skipped.add(url)
            self._record(Outcome(url, SKIPPED, code, message))

    def _enqueue(self, item: _Item) -> None:
        try:
            url = self._canonical_url(item.url)
        except FetchError as exc:
            if item.found_via != "link":  # a bad link in someone's profile is their problem, not a failure
                self._record(Outcome(item.url, FAILURE, exc.code, exc.message))
            return
        forgotten = self.store.blocked.get(url)
        if forgotten:
            self._skip(url, FORGOTTEN, f"not fetched: this hub forgot the address ({forgotten['reason']})")
            return
        if url in self.seen and not item.refetch:
            if item.found_via == "ping" and item.depth == 0:
                self._promote(url)
            return
        item.url = url
        self.budgets.set_root(item)
        ping = self.budgets.is_ping(item)
        # A known source is always re-checked; the ping's depth budget limits what is new.
        limit = self.settings.max_depth if url in self.known else self.budgets.max_depth(item)
        if item.depth > limit:
            if ping and item.depth <= self.settings.max_depth:
                self._skip(url, OVER_QUOTA, "not fetched: a ping reaches only the pinged page and the pages it "
                                            "links to directly")
            return
        if url not in self.seen:
            if self._host_urls[host_of(url)] >= self.settings.max_urls_per_host and not (ping and item.depth == 0):
                self._skip(url, OVER_QUOTA, f"not fetched: {self.settings.max_urls_per_host} URLs on "
                                            f"{host_of(url)} already this crawl (the per-host cap)")
                return
            is_known = url in self.known
            if not is_known and self._new_sources >= self.settings.max_sources:
                self._skip(url, "max_sources",
                           f"not fetched: the crawl reached its limit of {self.settings.max_sources} sources")
                return
            refusal = self.budgets.admit(item, url, is_known, self._new_sources)
            if refusal:
                self._skip(url, OVER_QUOTA, refusal)
                return
            self.seen.add(url)
            self._host_urls[host_of(url)] += 1
            if not is_known:
                self._new_sources += 1
        self.lanes.put(item, PING if ping else CRAWL)

    def _promote(self, url: str) -> None:
        """A ping for a URL still waiting in the crawl lane: move it to the ping lane."""
        self.lanes.move(url, CRAWL, PING)

    async def _worker(self, fetcher, lanes) -> None:
        while True:
            item = await self.lanes.next(lanes, fetcher.ready_at, self._finished)
            if item is None:
                return
            if item.url in self._started and not item.refetch:
                self.lanes.done(item)   # queued twice (a ping raced the crawl lane): fetched once
                continue
            self._started.add(item.url)
            try:
                recorded = False
                try:
                    outcome = await self._process(fetcher, item)
                except Exception as exc:  # one source's crash never stops the crawl (T22)
                    outcome = Outcome(item.url, FAILURE, "internal_error", f"unexpected error: {exc!r}")
                    if getattr(exc, "code", None) == FORGOTTEN:   # the store refused it: forgotten meanwhile
                        outcome = Outcome(item.url, SKIPPED, FORGOTTEN, exc.message)
                    # A bulk batch that failed with this source in it: its failure is recorded (_lost).
                    recorded = any(r.url == item.url for r in getattr(exc, "lost", None) or ())
                if not recorded:
                    self._record(outcome)
                if item.depth == 0 and self.budgets.is_ping(item) and outcome.result in (NEW, UPDATED, DELETED):
                    self._schedule_publish()
                for g in outcome.groups:
                    self.groups.setdefault(g, outcome.url)
                for url in outcome.recheck:   # the group's own source, reached through another address
                    # Once a crawl however many linked addresses lead to it; again for each ping (rate-limited).
                    if url not in self._rechecked or (item.found_via == "ping" and item.depth == 0):
                        self._rechecked.add(url)
                        self._enqueue(_Item(url, 0, item.found_via, item.found_from, refetch=True))
                if self.follow_links:
                    for target in outcome.links:
                        # A group already described by a source (e.g. a node's /profile.jsonld
                        # for its /#group IRI) needs no fetch of its IRI.
                        if target not in self.groups:
                            self._enqueue(_Item(link.document_of(target), item.depth + 1, "link", item.url,
                                                root=item.root))
            finally:
                # Only after the links are queued, or the crawl could look finished too early.
                self.lanes.done(item)

    def _schedule_publish(self) -> None:
        if self._publish is None or self._publish_pending or self.lanes.size() == 0:
            return   # none asked for, one already waiting, or the crawl ends now and the caller publishes
        self._publish_pending = True
        self._pipeline.submit(self._run_publish)

    def _run_publish(self) -> None:
        self._publish_pending = False
        try:
            self._write_staged()   # the pinged source may wait in a bulk batch
            self._publish()
        except Exception:  # showing a ping early is a courtesy; the crawl goes on regardless
            log.exception("publishing a ping during the crawl failed")

    def _record(self, outcome: Outcome) -> None:
        self.summary.outcomes.append(outcome)
        if self.progress:
            self.progress(len(self.summary.outcomes), self.lanes.size(), outcome)

    def _in_pipeline(self, fn, *args) -> asyncio.Future:
        """``fn(*args)`` on the pipeline thread, after the jobs handed over before it; await the answer."""
        return self._pipeline.call(fn, *args)

    # ------------------------------------------------------------------ one source
    async def _process(self, fetcher, item: _Item) -> Outcome:
        rec = self.known.get(item.url)
        if rec is None:
            rec = SourceRecord(url=item.url, found_via=item.found_via, found_from=item.found_from,
                               depth=item.depth, first_seen=self._now())
        else:
            rec = dataclasses.replace(rec)   # self.known changes only once a write succeeded
            if rec.graph and not authorise.owns_graph(rec.url, rec.graph):
                # A graph on another site, recorded by an older crawler after a redirect: it was never
                # this source's, so nothing this source answers may drop or rewrite it.
                rec.graph, rec.status = None, FAILED
        has_graph = rec.has_graph
        try:
            resp = await fetcher.fetch(item.url, etag=rec.etag if has_graph else None,
                                       last_modified=rec.last_modified if has_graph else None)
        except FetchError as exc:
            if item.candidates:
                return await self._try_next_candidate(fetcher, item)
            if exc.code == "robots_disallowed":   # the site withdrew consent (or never gave it)
                return await self._in_pipeline(self._gone, rec, exc.message, exc.code)
            return await self._in_pipeline(self._failed, rec, exc.code, exc.message)

        if _off_site(item, resp):
            if item.candidates and resp.status != 200:
                return await self._try_next_candidate(fetcher, item)
            return await self._in_pipeline(self._redirected, rec, resp)
        if resp.status in (200, 304) and consent.header_withdraws(resp.headers.get("x-robots-tag"),
                                                                  self.settings.user_agent):
            return await self._in_pipeline(self._gone, rec, "the site answered with X-Robots-Tag: noindex: the "
                                                            "group asks not to be listed", "opted_out")
        if resp.status == 304 and has_graph:
            if resp.url == rec.graph:
                return await self._in_pipeline(self._unchanged, rec, None)
            # Unchanged, but now reached at another URL (a redirect): fetch it whole to move the graph.
            try:
                resp = await fetcher.fetch(item.url)
            except FetchError as exc:
                return await self._in_pipeline(self._failed, rec, exc.code, exc.message)
            if _off_site(item, resp):
                return await self._in_pipeline(self._redirected, rec, resp)
        if resp.status == 200:
            if item.candidates and item.url.endswith("/.well-known/hubnet"):
                return await self._follow_well_known(fetcher, item, resp)
            return await self._read(fetcher, rec, resp)
        if item.candidates:
            return await self._try_next_candidate(fetcher, item)
        if resp.status in (404, 410) and item.url not in self.known and self.budgets.is_ping(item):
            # A ping for another address of a site we know (a node's /profile.jsonld for its / source):
            # the group's own source is checked now, so a withdrawal shows at once, under one source.
            same_site = self._same_site_sources(item.url)
            if same_site:
                return Outcome(item.url, SKIPPED, "gone" if resp.status == 410 else "not_found",
                               f"the site answered {resp.status} {_reason(resp.status)}; its known source(s) "
                               f"{', '.join(same_site)} checked again now", recheck=same_site)
        if resp.status == 410:
            return await self._in_pipeline(self._gone, rec, "the site answered 410 Gone: the group withdrew its profile")
        if resp.status == 404:
            return await self._in_pipeline(self._missing, rec)
        return await self._in_pipeline(self._failed, rec, f"http_{resp.status}",
                                       f"the site answered HTTP {resp.status} {_reason(resp.status)}")

    def _same_site_sources(self, url: str) -> list:
        """Live known sources on the origin of ``url`` (at most max_urls_per_host)."""
        return [rec.url for rec in self.known.values()
                if rec.status != GONE and authorise.speaks_for(rec.url, url)
                and authorise.speaks_for(url, rec.url)][:self.settings.max_urls_per_host]

    async def _try_next_candidate(self, fetcher, item: _Item) -> Outcome:
        nxt = _Item(item.candidates[0], item.depth, item.found_via, item.found_from, item.candidates[1:], item.root)
        try:
            nxt.url = canonical_url(nxt.url)
        except FetchError as exc:
            return Outcome(item.url, FAILURE, exc.code, exc.message)
        self.seen.add(nxt.url)
        self.budgets.roots.setdefault(nxt.url, item.root)
        return await self._process(fetcher, nxt)

    async def _follow_well_known(self, fetcher, item: _Item, resp) -> Outcome:
        """/.well-known/hubnet names the profile URL; crawl that instead."""
        try:
            target = json.loads(resp.body.decode("utf-8"))["profile"]
            if not isinstance(target, str):
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return await self._try_next_candidate(fetcher, item)
        nxt = _Item(target, item.depth, item.found_via, item.found_from, root=item.root)
        try:
            nxt.url = canonical_url(target)
        except FetchError as exc:
            return Outcome(item.url, FAILURE, exc.code, exc.message)
        if nxt.url in self.seen:
            return Outcome(nxt.url, SKIPPED, "duplicate", "already crawled")
        self.seen.add(nxt.url)
        self.budgets.roots.setdefault(nxt.url, item.root)
        return await self._process(fetcher, nxt)

    # ------------------------------------------------------------------ pipeline-thread steps (single writer)
    def _write(self, fn, *args) -> None:
        try:
            fn(*args)
        except StoreError as exc:
            self._lost(getattr(exc, "lost", ()), exc)
            raise
        finally:
            self._lost_behind()
        self.summary.writes += 1
        self._write_hook()

    def _write_staged(self) -> None:
        """Write the new sources waiting in the store's bulk batch (at the end, before a publish)."""
        try:
            self.store.write_staged()
        except StoreError as exc:
            self._lost(getattr(exc, "lost", ()), exc)
        finally:
            self._lost_behind()

    def _lost_behind(self) -> None:
        """Bulk batches that failed while loaded behind the crawl (``stage_new_source(behind=True)``)."""
        for exc in self.store.take_failed_batches():
            self._lost(exc.lost, exc)

    def _lost(self, records, exc: StoreError) -> None:
        """New sources of a bulk batch that failed as a whole: none is stored, so none is known. Each
        was counted as new when staged: that outcome becomes the failure, so the summary counts each
        source once (the live progress line still counted it as new)."""
        records = list(records)
        urls = {rec.url for rec in records}
        staged = {o.url: i for i, o in enumerate(self.summary.outcomes) if o.url in urls and o.result == NEW}
        for rec in records:
            self.known.pop(rec.url, None)
            failure = Outcome(rec.url, FAILURE, exc.code, f"{exc.message} (the source was not stored)")
            if rec.url in staged:
                self.summary.outcomes[staged[rec.url]] = failure
                if self.progress:
                    self.progress(len(self.summary.outcomes), self.lanes.size(), failure)
            else:
                self._record(failure)


    async def _read(self, fetcher, rec: SourceRecord, resp) -> Outcome:
        """Parse and store a fetched profile. A document speaking for subjects outside its own group
        path is parsed again under the path rule if its host hosts groups by path. Parsed on the
        pipeline thread, a document that stays in its own path is stored in the same hand-over."""
        if self._parsers is None:
            parsed = await self._in_pipeline(self._parse_then_ingest, rec, resp)
        else:
            parsed = await self._parsed(rec, resp)
        if isinstance(parsed, Outcome):
            return parsed
        if link.crosses_paths(parsed, resp.url) and await self._hosts_by_path(fetcher, resp.url):
            parsed = await self._parsed(rec, resp, True)
            if isinstance(parsed, Outcome):
                return parsed
        return await self._in_pipeline(self._ingest, rec, resp, parsed)

    async def _parsed(self, rec: SourceRecord, resp, by_path: bool = False):
        """``_parse``, in a parser process when there are any (parsers.py): the same Parsed, or the
        same failure Outcome."""
        if self._parsers is None:
            return await self._in_pipeline(self._parse, rec, resp, by_path)
        unchanged = rec.content_hash if rec.status == OK and rec.graph == resp.url else None
        try:
            return await self._parsers.parse(resp.body, resp.content_type, resp.url, by_path, unchanged)
        except HubnetError as exc:
            return await self._in_pipeline(self._failed, rec, exc.code, exc.message)

    async def _hosts_by_path(self, fetcher, url: str) -> bool:
        """Does the origin of ``url`` host groups by path? Asked once per origin per crawl."""
        key = authorise.origin(url)
        task = self._hosting.get(key)
        if task is None:
            task = self._hosting[key] = asyncio.ensure_future(self._ask_hosting(fetcher, urljoin(url, WELL_KNOWN)))
        return await task

    async def _ask_hosting(self, fetcher, url: str) -> bool:
        """Read the origin's /.well-known/hubnet. An answer we could not get (a timeout, 5xx) counts
        as hosting by path, the stricter rule; a definite "no" (4xx, not JSON, no declaration) does not."""
        try:
            resp = await fetcher.fetch(url, accept="application/json", content_types=("application/json",))
        except FetchError as exc:
            return exc.code in _UNKNOWN
        if resp.status != 200:
            return resp.status >= 500
        return authorise.owns_graph(url, resp.url) and authorise.hosting_rule(resp.body) == "path"

    def _parse_then_ingest(self, rec: SourceRecord, resp):
        """``_parse``, then at once ``_ingest`` (the Outcome) unless the document speaks outside its
        own group path: that Parsed goes back to the event loop, which asks whether the host hosts
        groups by path. One wake of the loop per document instead of two (issue 18)."""
        parsed = self._parse(rec, resp)
        if isinstance(parsed, Outcome) or link.crosses_paths(parsed, resp.url):
            return parsed
        return self._ingest(rec, resp, parsed)

    def _parse(self, rec: SourceRecord, resp, by_path: bool = False):
        """The Parsed document, or the failure Outcome (recorded) if it cannot be read."""
        try:
            return parse_source(resp.body, resp.content_type, resp.url, self.settings, by_path=by_path)
        except HubnetError as exc:
            return self._failed(rec, exc.code, exc.message)
        except (RecursionError, MemoryError):
            return self._failed(rec, "too_deep", "the document is too complex to read")

    def _ingest(self, rec: SourceRecord, resp, parsed) -> Outcome:
        if parsed.withdraws:
            return self._gone(rec, "the profile says \"indexing\": false (list us on hubs: no): the group "
                                   "asks not to be listed", "opted_out")
        same_graph = rec.graph == resp.url
        if same_graph and rec.status == OK and rec.content_hash == parsed.content_hash:
            return self._unchanged(rec, parsed, resp)
        result = UPDATED if rec.has_graph else NEW
        if result == NEW:
            owner = self._described_elsewhere(parsed.groups, resp.url) or self._withdrawn_source(parsed.groups, rec)
            if owner:
                # The same group at a second address (a node answers at / and at /profile.jsonld):
                # keep one source, so the directory and /sources do not show it twice, and read the
                # group's own source again now (a ping at the other address means it changed).
                source = self._source_of(owner)
                return Outcome(rec.url, SKIPPED, "duplicate",
                               f"describes the same group as {owner}, which is already crawled; that source is kept",
                               recheck=[source] if source and source != rec.url else [])
        held = rec.triples if rec.has_graph else 0
        over = self.budgets.statements(rec.url, resp.url, held, len(parsed.triples))
        if over:
            return self._failed(rec, OVER_QUOTA, over)
        previous_graph = rec.graph
        rec.problems = parsed.problems if parsed.checked else \
            checks.profile_problems(resp.body, resp.content_type, resp.url, self.settings, parsed.rows)
        stamp = rec.last_checked = self._now()
        rec.graph = resp.url
        rec.status = OK
        rec.etag, rec.last_modified = resp.etag, resp.last_modified
        rec.content_hash = parsed.content_hash
        rec.triples, rec.dropped_foreign = len(parsed.triples), parsed.dropped_foreign
        rec.generated_at = rec.last_success = stamp
        rec.error_code = rec.error_message = rec.error_at = rec.removed_at = rec.about = rec.moved_to = None
        rec.misses = rec.failed_attempts = 0
        if result == NEW and previous_graph is None:
            # Never held: the bulk loader takes it with the next batch (issue 18).
            batch = self.store.bulk_batch(self.settings)
            self._write(lambda: self.store.stage_new_source(rec, parsed.triples, batch=batch, behind=True))
        else:
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

    def _withdrawn_source(self, groups, rec: SourceRecord) -> str | None:
        """The tombstone of the source that described one of ``groups`` before it withdrew, if on this site."""
        for g in groups:
            url = self.withdrawn.get(g)
            if url and url != rec.url and authorise.speaks_for(url, g):
                return url
        return None

    def _source_of(self, graph_or_url: str) -> str | None:
        """The known source whose graph (or URL) this is."""
        if graph_or_url in self.known:
            return graph_or_url
        return next((r.url for r in self.known.values() if r.graph == graph_or_url and r.has_graph), None)

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
        if self._checked(rec) or changed_record:
            rec.last_success = rec.last_checked
            self._write(self.store.update_record, rec)
            self.known[rec.url] = rec
        if parsed is None:
            links, groups = link.stored_links_and_groups(self.store, rec.graph, self.settings.max_outlinks)
        else:
            links, groups = parsed.links, parsed.groups
        return Outcome(rec.url, UNCHANGED, dropped_foreign=parsed.dropped_foreign if parsed else 0,
                       links=links, groups=groups)

    def _failed(self, rec: SourceRecord, code: str, message: str) -> Outcome:
        has_graph = rec.has_graph
        if not has_graph:
            return self._failed_never_ok(rec, code, message)
        due = self._checked(rec)
        if (rec.status, rec.error_code, rec.error_message) != (STALE, code, message):
            rec.status, rec.error_code, rec.error_message, rec.error_at = STALE, code, message, rec.last_checked
            due = True
        if due:
            self._write(self.store.update_record, rec)
            self.known[rec.url] = rec
        return Outcome(rec.url, FAILURE, code, message)

    def _failed_never_ok(self, rec: SourceRecord, code: str, message: str) -> Outcome:
        """A source never read successfully: counted, and forgotten after ``failed_source_attempts``
        (a pinged or linked address that never worked is not fetched forever; a new ping or link
        brings it back)."""
        rec.failed_attempts += 1
        self._checked(rec)
        limit = self.settings.failed_source_attempts
        if rec.failed_attempts >= limit:
            if rec.url in self.known:
                self._write(self.store.forget_source, rec)
                del self.known[rec.url]
            return Outcome(rec.url, FAILURE, code, f"{message} (failed {rec.failed_attempts} times and never "
                                                   "worked: the address is forgotten until pinged or linked again)")
        rec.status, rec.error_code, rec.error_message, rec.error_at = FAILED, code, message, rec.last_checked
        self._write(self.store.update_record, rec)
        self.known[rec.url] = rec
        return Outcome(rec.url, FAILURE, code, message)

    def _gone(self, rec: SourceRecord, message: str, code: str = "gone") -> Outcome:
        had_graph = rec.has_graph
        if rec.status == GONE:
            # Still withdrawn (asked again because a profile links to it): the tombstone and
            # its removal date stay as they are, and nothing is deleted a second time. A moved
            # group's old address that no longer redirects ends the move (both sides must agree).
            if rec.error_code == identity.MOVED:
                rec.error_code, rec.error_message, rec.moved_to = code, message, None
                self._write(self.store.update_record, rec)
                self.known[rec.url] = rec
            return Outcome(rec.url, UNCHANGED, "gone", message)
        if not had_graph and rec.url not in self.known:
            return Outcome(rec.url, FAILURE, code, message)
        if had_graph:
            groups = link.stored_links_and_groups(self.store, rec.graph, self.settings.max_outlinks)[1]
            rec.about = " ".join(groups) or None
        self._checked(rec)
        rec.status, rec.removed_at = GONE, rec.last_checked
        rec.error_code, rec.error_message, rec.error_at = code, message, rec.removed_at
        rec.triples = 0
        self._write(self.store.remove_source, rec)
        self.known[rec.url] = rec
        return Outcome(rec.url, DELETED, code, message)

    def _missing(self, rec: SourceRecord, code: str = "not_found",
                 answer: str = "the site answered 404 Not Found") -> Outcome:
        has_graph = rec.has_graph
        if not has_graph:
            return self._failed(rec, code, f"{answer}: no profile at this address")
        rec.misses += 1
        limit = self.settings.misses_before_delete
        if rec.misses >= limit:
            return self._gone(rec, f"{answer} {rec.misses} times in a row", code)
        self._checked(rec)
        rec.status, rec.error_code, rec.error_at = MISSING, code, rec.last_checked
        rec.error_message = (f"{answer} ({rec.misses} of {limit} misses before "
                             "the profile is dropped); the last good version is kept meanwhile")
        self._write(self.store.update_record, rec)
        self.known[rec.url] = rec
        return Outcome(rec.url, FAILURE, code, rec.error_message)

    def _checked(self, rec: SourceRecord) -> bool:
        """Stamp ``rec`` as fetched now; True if its stored stamp is ``record_check_every`` or more away
        (so an unchanged record is worth writing for its dates alone; a stamp from a clock that ran
        ahead is corrected too)."""
        stamp = self._now()
        due = abs(days_between(rec.last_checked, stamp)) * 86400 >= self.settings.record_check_every
        rec.last_checked = stamp
        return due

    def _expire(self) -> None:
        """End of a full crawl: drop every source with no successful fetch for ``remove_after_days``."""
        limit, stamp = self.settings.remove_after_days, self._now()
        for rec in list(self.known.values()):
            if rec.has_graph and days_between(rec.last_success or rec.first_seen, stamp) >= limit \
                    and not is_imported(rec.url):   # an import is kept until its origin drops it
                self._record(self._gone(dataclasses.replace(rec), f"no successful fetch for {limit} days or more: "
                                        "the profile is dropped until the site answers again", "expired"))

    def _redirected(self, rec: SourceRecord, resp) -> Outcome:
        """``rec.url`` redirects to another site: the target becomes a source of its own (passed on
        as a link), and this source gains nothing there. Its own graph, if any, is kept for a
        while, as after a 404; a tombstone stays as it is. A permanent redirect of a source that
        described groups may be a move, confirmed or not at the end of the crawl (``_confirm_moves``)."""
        target = resp.url
        answer = f"the address redirects to another site ({target}), which is crawled as a source of its own"
        groups = self._groups_of(rec)
        if rec.has_graph:
            outcome = self._missing(rec, "redirected", answer)
        elif rec.status == GONE:
            outcome = Outcome(rec.url, UNCHANGED, rec.error_code, answer)
        elif rec.url in self.known:
            outcome = self._failed(rec, "redirected", answer)
        else:
            outcome = Outcome(rec.url, SKIPPED, "redirected", answer)
        outcome.links = [target]
        if groups and (resp.moved_permanently or rec.error_code == identity.MOVED):
            self._moves[rec.url] = (target, groups, outcome, resp.moved_permanently)
        return outcome

    def _groups_of(self, rec: SourceRecord) -> list:
        """The groups a source describes (its stored graph), or described (its tombstone)."""
        if rec.has_graph:
            return link.stored_links_and_groups(self.store, rec.graph, self.settings.max_outlinks)[1]
        return rec.about.split() if rec.status == GONE and rec.about else []

    def _confirm_moves(self) -> None:
        """End of the crawl, once the redirect targets are read: a permanent redirect whose target's
        profile claims the old group in ``sameAs`` is a move (identity.py, the one rule). The old
        source becomes a "moved" tombstone (its graph dropped: the group lives at the new address)
        and the new source takes the old first-seen date. A move its new side no longer confirms is
        a plain tombstone again (``redirected``)."""
        for url, (target, groups, outcome, permanent) in self._moves.items():
            try:
                self._confirm_move(url, target, groups, outcome, permanent)
            except StoreError as exc:   # the crawl is stored; this move is confirmed by the next one
                log.warning("recording the move of %s failed: %s", url, exc)

    def _confirm_move(self, url: str, target: str, groups, outcome: Outcome, permanent: bool) -> None:
        """One redirect seen this crawl: record the move, end one no longer confirmed, or nothing."""
        old = self.known.get(url)
        if old is None:
            return
        found = identity.confirmations(self.store, target, groups) if permanent else {}
        new_graph = min(graph for _new, graph in found.values()) if found else None
        new_url = self._source_of(new_graph) if new_graph else None
        if new_url is None or new_url == url:
            if old.status == GONE and old.error_code == identity.MOVED:
                rec = dataclasses.replace(old, error_code="redirected", moved_to=None, error_message=(
                    f"redirects to {target}, which no longer names this group in sameAs: not a move"))
                self._write(self.store.update_record, rec)
                self.known[url] = rec
            return
        if not (old.status == GONE and old.error_code == identity.MOVED and old.moved_to == new_graph):
            self._moved(dataclasses.replace(old), groups, new_graph, outcome)
        new = self.known[new_url]
        first = min(d for d in (self.known[url].first_seen, new.first_seen) if d) if new.first_seen else None
        if first and first != new.first_seen:
            new = dataclasses.replace(new, first_seen=first)
            self._write(self.store.update_record, new)
            self.known[new_url] = new

    def _moved(self, rec: SourceRecord, groups, new_graph: str, outcome: Outcome) -> None:
        """Turn the old source into a tombstone that says where the group moved."""
        self._checked(rec)
        rec.about, rec.moved_to = " ".join(groups), new_graph
        rec.status, rec.removed_at, rec.triples, rec.misses = GONE, rec.last_checked, 0, 0
        rec.error_code, rec.error_at = identity.MOVED, rec.last_checked
        rec.error_message = (f"moved permanently to {new_graph}, whose profile names this group as its former "
                             "identity (sameAs): the same group, listed there")
        self._write(self.store.remove_source, rec)
        self.known[rec.url] = rec
        outcome.result, outcome.code, outcome.message = DELETED, identity.MOVED, rec.error_message


def _off_site(item: _Item, resp) -> bool:
    """Did the fetch of ``item`` end on another site (so the answer is not the source's own)?

    A bare domain's /.well-known/hubnet may be served from elsewhere: it only names the
    profile URL, which is then crawled under its own address.
    """
    if resp.status == 200 and item.candidates and item.url.endswith("/.well-known/hubnet"):
        return False
    return not authorise.owns_graph(item.url, resp.url)


def _reason(status: int) -> str:
    from http import HTTPStatus
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
