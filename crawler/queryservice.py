"""Placeholder: the killable worker-pool query service is being written (see crawler/web/sparql.py)."""

from __future__ import annotations


class QueryService:
    def __init__(self, store, workdir=None, timeout: float = 10.0, row_cap: int = 10_000, workers: int = 2):
        self.store, self.workdir, self.timeout, self.row_cap, self.workers = store, workdir, timeout, row_cap, workers

    def refresh(self) -> None:
        """Take a new consistent checkpoint after the data changed."""

    def close(self) -> None:
        """Stop the workers and remove checkpoints."""
