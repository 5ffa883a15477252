"""Parsers that fail on a marked document, for the parser processes (crawl/parsers.py) to run.

A test puts one in place of ``parsers.parse_shipped``; the crawl hands the function to its parser
processes by name, so a process imports this module and does what it says. It imports only what the
processes' fork server has loaded already, so that a fresh process starts it in milliseconds: the
time budget (``parse_timeout``) of a document counts from its hand-over.
"""

from __future__ import annotations

import os
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
