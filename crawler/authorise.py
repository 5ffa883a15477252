"""The authority rule lives in ``vocab.authority`` (one source of truth for the
aggregator and the group's own tools); the crawler imports it from here."""

from vocab.authority import authority, foreign_group, has_userinfo, id_mismatch, origin, owns_graph, speaks_for

__all__ = ["authority", "foreign_group", "has_userinfo", "id_mismatch", "origin", "owns_graph", "speaks_for"]
