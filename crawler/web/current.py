"""The aggregator serving the current request, the one way every blueprint reaches it.

``create_app`` keeps its ``service.Aggregator`` (store, index, scheduler, query workers,
models) as ``app.extensions[EXTENSION]``; views call ``hub()``.
"""

from __future__ import annotations

from flask import current_app

EXTENSION = "hubnet"


def hub():
    """The ``Aggregator`` of the app handling this request."""
    return current_app.extensions[EXTENSION]
