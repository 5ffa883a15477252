"""Parsers that fail on a marked document, for the parser processes (crawl/parsers.py) to run.

A test puts one in place of ``parsers.parse_shipped``; the crawl hands the function to its parser
processes by name when it starts them, so a process imports this module and does what it says. It
imports only what the processes' fork server has loaded already, so that a fresh process starts it
in milliseconds: the time budget (``parse_timeout``) of a document counts from its hand-over.
"""

from __future__ import annotations

import os
import pickle
import signal
import time

from hubnet.crawler.crawl import parsers


def dying_parser(body, media_type, url, by_path, unchanged_hash):
    """A parser process killed (as by the kernel's OOM killer) while reading a marked document."""
    if b"kill-the-parser" in body:
        os.kill(os.getpid(), signal.SIGKILL)
    return parsers.parse_shipped(body, media_type, url, by_path, unchanged_hash)


def hanging_parser(body, media_type, url, by_path, unchanged_hash):
    """A parser process caught for ever (as in a loop) on a marked document."""
    if b"hang-the-parser" in body:
        time.sleep(3600)
    return parsers.parse_shipped(body, media_type, url, by_path, unchanged_hash)


def buggy_parser(body, media_type, url, by_path, unchanged_hash):
    """A parser with a bug that raises on a marked document."""
    if b"bug-in-the-parser" in body:
        raise ValueError("a bug")
    return parsers.parse_shipped(body, media_type, url, by_path, unchanged_hash)


PWNED = False   # set by ``pwned``: only if a process unpickled an answer that names it


def pwned():
    """What a parser gone wrong might ask the crawl to call, in an answer that names it."""
    global PWNED
    PWNED = True


class _Calls:
    def __reduce__(self):
        return (pwned, ())


def _message(data: bytes) -> bytes:
    return parsers._HEADER.pack(len(data)) + data


def _answer(number: int, answer) -> bytes:
    return _message(pickle.dumps((number, answer)))


# What a parser process might write to the crawl that is not an answer, by the mark that makes
# ``lying_parser`` write it. A lone document is the first (number 1) its process reads.
LIES = {
    "lie-too-long": lambda: (_send(parsers._HEADER.pack(parsers._settings.parse_answer_max + 1)), time.sleep(3600)),
    "lie-not-a-pickle": lambda: _send(_message(b"\x80\x05not a pickle at all")),
    "lie-names-a-function": lambda: _send(_answer(1, ("refused", "x", _Calls()))),
    "lie-wrong-shape": lambda: _send(_answer(1, ("parsed", "text, not bytes", 1))),
    "lie-not-the-next-document": lambda: _send(_answer(99, ("refused", "no_group", "no group found"))),
    "lie-empty": lambda: _send(_message(b"")),
    "lie-cut-short-then-ends": lambda: (_send(_message(b"x" * 100)[:20]), os._exit(0)),
    "lie-cut-short-then-hangs": lambda: (_send(_message(b"x" * 100)[:20]), time.sleep(3600)),
}


def _send(data: bytes) -> None:
    parsers._channel.sendall(data)


def lying_parser(body, media_type, url, by_path, unchanged_hash):
    """A parser process that writes to the crawl what is not an answer (LIES) on a marked document,
    then answers as usual if it still can."""
    for mark, lie in LIES.items():
        if mark.encode() in body:
            lie()
    return parsers.parse_shipped(body, media_type, url, by_path, unchanged_hash)


def injecting_parser(body, media_type, url, by_path, unchanged_hash):
    """A parser process gone wrong on a document whose name is "inject-into <graph>": its answer is
    well formed, and its statements' text tries to end its own graph's block and put a statement in
    that other graph (the bulk loader reads a batch as TriG blocks, crawler/store/graph.py)."""
    answer = parsers.parse_shipped(body, media_type, url, by_path, unchanged_hash)
    words = body.decode("utf-8", "replace").split("inject-into ", 1)
    if answer[0] != "parsed" or len(words) < 2:
        return answer
    victim = words[1].split('"', 1)[0]
    evil = f'}} <{victim}> {{ <{victim}#group> <http://schema.org/name> "pwned" .\n'.encode()
    return (answer[0], answer[1] + evil, *answer[2:])
