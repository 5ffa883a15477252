"""Time budgets for the aggregator's own queries (issue 12, finding 2).

Every internal query is written so that its rows grow linearly with the data
(one value per row, never the product of two multi-valued properties), and
``parse.py`` caps the values of each property, so no profile can make one
query large. A budget is the second line: a query reads its rows through
``Budget.rows``, which stops it with ``OverBudget`` (503, ``server_busy``)
once the deadline has passed, so no page and no model build can be held for
longer than its budget whatever the data holds.
"""

from __future__ import annotations

import time

from hubnet.vocab.errors import HubnetError

_CHECK_EVERY = 256   # rows between clock reads: a row is microseconds, a clock read ~50 ns


class OverBudget(HubnetError):
    """An internal query or model build ran past its time budget; the caller may retry later."""

    code = "server_busy"
    status = 503

    def __init__(self, message: str, *, retry_after: int = 5, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Budget:
    """A deadline shared by the queries of one task (a request, a model build). None: no limit."""

    def __init__(self, seconds: float | None, what: str = "the request", clock=time.monotonic):
        self.seconds = seconds
        self.what = what
        self.clock = clock
        self.deadline = None if seconds is None else clock() + float(seconds)

    def check(self) -> None:
        if self.deadline is not None and self.clock() > self.deadline:
            raise OverBudget(f"{self.what} took longer than its budget of {self.seconds:g} s; try again shortly")

    def rows(self, store, sparql: str, **options):
        """The solutions of ``sparql`` (``store.query`` options, e.g. ``named_graphs``), read under this budget."""
        self.check()
        for n, row in enumerate(store.query(sparql, **options), 1):
            if n % _CHECK_EVERY == 0:
                self.check()
            yield row


UNLIMITED = Budget(None)
