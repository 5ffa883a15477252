"""Statements handed to the store as N-Triples text, their terms made only if asked for.

A parser process (crawl/parsers.py) serialises a document's statements, and the writer's thread
gives that text to the bulk loader as it is (``Store.stage_new_source``). Making pyoxigraph terms on
the writer's thread instead costs far more than it should while the event-loop thread runs: reading
N-Triples with ``pyoxigraph.parse``, or making a ``Quad`` whose object is not an IRI, lets go of
Python's lock for every statement and gets it back only when the other thread next lets go (up to
``sys.getswitchinterval()``, 5 ms). A 50-statement profile took 2.6 ms of the writer's thread in a
crawl against 0.04 ms alone (bench/results.md, "Where the time goes"). Anything else that iterates the
statements (a change written in a transaction, the remote store) gets the terms, read once.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyoxigraph as ox


class NTriples(Sequence):
    """A document's statements as N-Triples ``text`` (bytes, as ``pyoxigraph.serialize`` writes
    them) and their number; indexing or iterating reads them into ``Quad``s of the default graph."""

    __slots__ = ("text", "_count", "_terms")

    def __init__(self, text: bytes, count: int):
        self.text, self._count, self._terms = text, count, None

    @classmethod
    def of(cls, triples) -> "NTriples":
        triples = list(triples)
        return cls(ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b"", len(triples))

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        return self._read()[index]

    def __iter__(self):
        return iter(self._read())

    def _read(self) -> list:
        if self._terms is None:
            self._terms = list(ox.parse(self.text, format=ox.RdfFormat.N_TRIPLES))
        return self._terms
