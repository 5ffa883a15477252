"""Parsing in other processes (issue 18): the crawl's pipeline thread only writes.

Parsing a profile (``extract.parse_source``) and checking it against the editor's rules
(``checks.profile_problems``, ~0.3 ms a new or changed document) are pure functions of the body,
its URL and the settings, and hold the GIL: a thread would not take them off the writer. With
``Settings.parse_workers`` > 0 they run in that many processes (forkserver: no copy of the crawl's
threads or open store), started on the crawl's first parse and stopped when it ends.

Each parser process is joined to the crawl by a socket pair whose crawl end the event loop reads
itself (``loop.add_reader``): no thread of the crawling process takes part in a hand-over (a
``ProcessPoolExecutor`` ran two, whose work and GIL hand-offs cost the event loop more than the
parse cost it). A message is its length (4 bytes) and a pickle: the documents waiting when the loop
next runs go to a process in one message, which answers each document in a message of its own, in
order, as soon as it has it; one read takes in every answer that has arrived. An answer is trusted
no more than it must be: longer than ``Settings.parse_answer_max``, not a pickle of plain data (one
naming any class or function is refused unread), not of an answer's shape, or not for the document
next in line, it counts as the process dying.

What crosses the boundary is plain data: the statements as N-Triples text, which the writer hands to
the bulk loader as it is (``store.shipped.NTriples``: terms made on the writer's thread cost ~65x
more in a crawl, while the event loop runs), whether the profile withdraws,
and a refusal as its reason code and message, raised in the crawl as the same ``DocumentError``
parse_source raises.

Back-pressure: at most ``parse_workers * parse_backlog`` documents are handed to the processes at
once; a fetch worker whose document waits keeps its body and fetches nothing else, so the bodies
held are bounded by the crawl's concurrency, as without parser processes.

A parser process that dies (killed, out of memory) or answers what cannot be read is killed and
started again, and each document that was in it is parsed once more alone, in a process of its own,
so the document that kills its parser fails with ``parser_died`` and the others are read. The crawl
never hangs on it.

A document not answered within ``Settings.parse_timeout`` seconds of being handed over (a hostile
body that makes a parser or a check run for minutes: docs/threat-model.md T7) gets its process
killed, and is then parsed alone like the others: the budget counts from the hand-over, so a
document may have spent it waiting behind another, and only a document that overruns it alone fails,
with ``parse_timeout``. Such a document costs the crawl at most twice the budget of one parser's time.

A parser process ignores Ctrl-C (the crawl stops it) and dies with the fork server, which dies with
the crawl (Linux's parent-death signal), and ends when the crawl's end of its socket closes: no
parser outlives the crawler, however it ends.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import sys

from hubnet.crawler.crawl import checks
from hubnet.crawler.crawl.extract import Parsed, crosses_paths, parse_source
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.shipped import NTriples
from hubnet.vocab.errors import DocumentError, HubnetError

_settings: Settings | None = None   # in a parser process: the crawl's settings, given once at its start
_channel: socket.socket | None = None   # in a parser process: its end of the socket to the crawl


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


# The types of a "parsed" answer's fields after its tag, as ``received`` reads them.
_PARSED = (bytes, int, bool, list, int, list, str, list, bool, bool, (str, type(None)))


def _answer_shape(answer) -> bool:
    """Is ``answer`` what ``parse_shipped`` returns (or ``_serve``'s "error")?"""
    if type(answer) is not tuple or not answer:
        return False
    if answer[0] == "parsed":
        return len(answer) == 12 and all(isinstance(v, t) for v, t in zip(answer[1:], _PARSED))
    if answer[0] == "refused":
        return len(answer) == 3 and type(answer[1]) is str and type(answer[2]) is str
    return answer[0] == "error" and len(answer) == 2 and type(answer[1]) is str


def received(answer: tuple) -> Parsed:
    """A parser process's answer as the crawl's Parsed (its statements as ``NTriples``); a refusal
    raised as the DocumentError parse_source raises, a parser's own failure (a bug) as RuntimeError."""
    if answer[0] == "refused":
        raise DocumentError(answer[2], code=answer[1])
    if answer[0] == "error":
        raise RuntimeError(f"in the parser process: {answer[1]}")
    _, text, count, withdraws, groups, dropped, links, digest, notes, crosses, checked, problems = answer
    return Parsed(triples=NTriples(text, count), groups=groups, dropped_foreign=dropped, links=links,
                  content_hash=digest, notes=notes, withdraws=withdraws, crosses=crosses, checked=checked,
                  problems=problems)


# ---------------------------------------------------------------- messages
_HEADER = struct.Struct("!I")   # a message: its length, then that many bytes (a pickle)
_READY = b""                    # a parser's first message: it is up (the budget of a document starts then)
_READ = 1 << 16                 # bytes asked for per read of a parser's socket (a real answer: ~5 KB)


def _serve(channel: socket.socket, settings: Settings, parse) -> None:
    """A parser process's life: answer each document of each message from the crawl, in order, one
    message per answer, until the crawl closes its end. ``parse`` is ``parse_shipped`` as the crawl
    saw it when it started the process (a test's stand-in: tests/parser_faults.py)."""
    global _channel
    _channel = channel
    _start(settings)
    try:
        _send(channel, _READY)
        while (batch := _receive(channel)) is not None:
            for number, args in pickle.loads(batch):
                _send(channel, pickle.dumps((number, _parse(parse, args)), pickle.HIGHEST_PROTOCOL))
    except OSError:   # the crawl has gone: nothing to answer
        pass


def _parse(parse, args: tuple) -> tuple:
    try:
        return parse(*args)
    except Exception as exc:  # a bug, not the document: the crawl records internal_error and goes on
        return ("error", repr(exc))


def _send(channel: socket.socket, data: bytes) -> None:
    channel.sendall(_HEADER.pack(len(data)) + data)


def _receive(channel: socket.socket) -> bytes | None:
    """The next message from the crawl, or None once it has closed its end."""
    head = _exactly(channel, _HEADER.size)
    return None if head is None else _exactly(channel, _HEADER.unpack(head)[0])


def _exactly(channel: socket.socket, size: int) -> bytes | None:
    data, got = bytearray(size), 0
    view = memoryview(data)
    while got < size:
        n = channel.recv_into(view[got:])
        if not n:
            return None
        got += n
    return bytes(data)


class _PlainData(pickle.Unpickler):
    """Reads a pickle of plain data only: a parser's answer names no class or function, and one that
    does (a parser gone wrong) is refused before anything is called."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"a parser's answer names {module}.{name}")


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


_ENDED = "the parser process ended while reading the document (killed, or out of memory)"
_UNREADABLE = "the parser process answered with something that is not an answer to the document, and was stopped"


class _Stuck(Exception):
    """A parser process that will not answer the documents it holds: it overran ``parse_timeout``
    (``timeout``), or it died or answered what cannot be read."""

    def __init__(self, message: str, timeout: bool = False):
        super().__init__(message)
        self.timeout = timeout


class _Parser:
    """One parser process and the crawl's end of its socket, which the event loop reads and writes
    (not thread-safe: used on the loop's thread only)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, settings: Settings, on_stuck=None):
        _preload()
        self.loop, self.settings, self.on_stuck = loop, settings, on_stuck
        self.channel, theirs = socket.socketpair()
        self.process = _CONTEXT.Process(target=_serve, args=(theirs, settings, parse_shipped),
                                        name="hubnet-parser", daemon=True)
        try:
            self.process.start()
        finally:
            theirs.close()
        self.channel.setblocking(False)
        self.fd = self.channel.fileno()
        self.ready = self.stopped = self._flushing = False
        self.waiting: list = []   # (number, args, future) not sent yet
        self.handed: dict = {}    # number -> (future, deadline timer): sent, not answered yet, in order
        self._numbers = itertools.count(1)
        self._in = bytearray()    # the start of an answer not read whole yet ...
        self._needed = 0          # ... and how many bytes it needs before it can be read further
        self._out = bytearray()   # what the socket would not take yet
        loop.add_reader(self.fd, self._readable)

    def load(self) -> int:
        return len(self.waiting) + len(self.handed)

    def hand(self, args: tuple) -> asyncio.Future:
        """``parse_shipped(*args)``'s answer, or _Stuck; sent with whatever else waits when the loop
        next runs (once the process is up)."""
        future = self.loop.create_future()
        self.waiting.append((next(self._numbers), args, future))
        self._flush_soon()
        return future

    def _flush_soon(self) -> None:
        if self.ready and not self._flushing:
            self._flushing = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flushing = False
        batch, self.waiting = [w for w in self.waiting if not w[2].cancelled()], []
        if not batch or self.stopped:
            return
        budget = self.settings.parse_timeout
        for number, _, future in batch:   # handed over from now: the budget runs
            timer = self.loop.call_later(budget, self._overdue, number) if budget > 0 else None
            self.handed[number] = (future, timer)
        self._send([(number, args) for number, args, _ in batch])

    def _send(self, batch: list) -> None:
        data = pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)
        message = _HEADER.pack(len(data)) + data
        if self._out:
            self._out += message
            return
        try:
            sent = self.channel.send(message)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return self._fail(_Stuck(_ENDED))
        if sent < len(message):
            self._out += memoryview(message)[sent:]
            self.loop.add_writer(self.fd, self._writable)

    def _writable(self) -> None:
        try:
            sent = self.channel.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return self._fail(_Stuck(_ENDED))
        del self._out[:sent]
        if not self._out:
            self.loop.remove_writer(self.fd)

    def _readable(self) -> None:
        try:
            data = self.channel.recv(_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            return self._fail(_Stuck(_ENDED))
        if self._in:   # a long answer comes in many reads: gathered, then read once whole
            self._in += data
            if len(self._in) < self._needed:
                return
            data, self._in = bytes(self._in), bytearray()
        start, end, head = 0, len(data), _HEADER.size
        while True:
            if end - start < head:
                needed = head
                break
            (length,) = _HEADER.unpack_from(data, start)
            if length > self.settings.parse_answer_max:
                return self._fail(_Stuck(f"the parser process answered with {length:,} bytes, more than "
                                         f"parse_answer_max ({self.settings.parse_answer_max:,}), and was stopped"))
            if end - start - head < length:
                needed = head + length
                break
            self._answered(data[start + head:start + head + length])
            if self.stopped:
                return
            start += head + length
        if start < end:
            self._in, self._needed = bytearray(data[start:]), needed

    def _answered(self, message: bytes) -> None:
        if not self.ready:
            if message != _READY:
                return self._fail(_Stuck(_UNREADABLE))
            self.ready = True
            return self._flush_soon()
        try:
            number, answer = _PlainData(io.BytesIO(message)).load()
        except Exception:  # noqa: BLE001  whatever unreadable bytes make the unpickler raise
            number = answer = None
        if not self.handed or number != next(iter(self.handed)) or not _answer_shape(answer):
            return self._fail(_Stuck(_UNREADABLE))
        future, timer = self.handed.pop(number)
        if timer is not None:
            timer.cancel()
        if not future.done():   # not cancelled (an interrupted crawl)
            future.set_result(answer)

    def _overdue(self, number: int) -> None:
        if number in self.handed:
            self._fail(_Stuck("overran parse_timeout", timeout=True))

    def _fail(self, stuck: _Stuck) -> None:
        """Kill the process: every document it held, or was to be sent, gets ``stuck``."""
        if not self.stopped:
            self.stop(kill=True, why=stuck)
            if self.on_stuck is not None:
                self.on_stuck(self)

    def stop(self, kill: bool, why: _Stuck | None = None) -> None:
        """Stop the process: SIGKILL (nothing else stops a parser mid-document), or close the socket,
        which it reads as the end; then reap it. A document still held gets ``why``."""
        if self.stopped:
            return
        self.stopped = True
        self.loop.remove_reader(self.fd)   # nothing to remove once the loop is closed
        if self._out:
            self.loop.remove_writer(self.fd)
        if kill:
            self.process.kill()
        self.channel.close()
        self.process.join()
        self.process.close()
        why = why or _Stuck("the crawl stopped its parser processes")
        for future, timer in self.handed.values():
            if timer is not None:
                timer.cancel()
            if not future.done():
                future.set_exception(why)
        for _, _, future in self.waiting:
            if not future.done():
                future.set_exception(why)
        self.handed, self.waiting = {}, []


class ParsePool:
    """``parse_workers`` parser processes for one crawl; ``parse`` is awaited on the crawl's event loop,
    and ``close`` called on its thread (or once it has stopped)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._parsers: list[_Parser] = []
        self._slots: asyncio.Semaphore | None = None   # made on the loop that awaits parse
        self._alone: asyncio.Lock | None = None
        self.restarts = 0

    async def parse(self, body: bytes, media_type: str, url: str, by_path: bool = False,
                    unchanged_hash: str | None = None) -> Parsed:
        """As ``parse_source`` (raising its DocumentError), with the editor's rules applied as well."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(max(1, self.settings.parse_workers * self.settings.parse_backlog))
            self._alone = asyncio.Lock()
        args = (body, media_type, url, by_path, unchanged_hash)
        async with self._slots:
            try:
                answer = await self._least_busy().hand(args)
            except _Stuck:
                answer = await self._parse_alone(args)
        return received(answer)

    def _least_busy(self) -> _Parser:
        """The parser holding the fewest documents; a new one while there are fewer than parse_workers
        (on the crawl's first parses, and in place of one that was killed)."""
        if len(self._parsers) < max(1, self.settings.parse_workers):
            parser = _Parser(asyncio.get_running_loop(), self.settings, self._killed)
            self._parsers.append(parser)
            return parser
        return min(self._parsers, key=_Parser.load) if len(self._parsers) > 1 else self._parsers[0]

    def _killed(self, parser: _Parser) -> None:
        self._parsers.remove(parser)
        self.restarts += 1

    async def _parse_alone(self, args: tuple) -> tuple:
        """One document in a process of its own, one at a time: if that process dies, answers what
        cannot be read or overruns the budget, this document did it."""
        async with self._alone:
            solo = _Parser(asyncio.get_running_loop(), self.settings)
            try:
                return await solo.hand(args)
            except _Stuck as stuck:
                if stuck.timeout:
                    raise DocumentError(f"reading the document took longer than {self.settings.parse_timeout:g} s "
                                        "(parse_timeout) and was stopped; the document is not stored",
                                        code="parse_timeout") from None
                raise DocumentError(f"{stuck}; the document is not stored", code="parser_died") from None
            finally:
                solo.stop(kill=True)   # answered, or not: nothing is left running

    def close(self) -> None:
        """Stop the parser processes: at once if one is still reading (the crawl was interrupted),
        else once each has read that the crawl is done."""
        parsers, self._parsers = self._parsers, []
        for parser in parsers:
            parser.stop(kill=bool(parser.load()))
