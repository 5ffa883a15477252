"""Second-hand sources: groups imported from a hub's or a council's list, and the one rule that
replaces them by the group's own profile.

A group's words are the group's. An import (``hubnet-crawler import``, crawler/importer.py) gives
the directory groups that have no profile yet, from an Open Referral UK export or Murmurations
profiles, but it speaks only for itself: every imported record is a source of its own whose URL and
graph are an IRI in the ``urn:hubnet:import:`` namespace (``graph_iri``), derived from the import's
origin and the record's id, and its group is ``<graph>#group``. No crawled document can name such a
graph (the crawl fetches http(s) only), and an import can name no other: so an import can never
overwrite, claim or add to a crawled source's graph, nor make statements about a crawled group.

**Replaced by the group's own profile** (``FirstHand.owner``): an imported record is the same group
as a first-hand one (a group in a crawled source's graph that the source speaks for) when one of the
addresses the record gives (its website, its Open Referral ``uri``, its Murmurations ``profile_url``,
kept as the imported group's ``url`` and ``sameAs``) is on that group's site: the same origin as
``vocab.authority`` decides (``speaks_for``, either way round), and the same group path
(``authority.scope``: ``/`` on a single-group site, ``/<slug>/`` on a host that hosts groups by path).
A first-hand profile's own ``url``/``sameAs`` naming another site does not count: anyone can write
them, and a profile could then hide any imported group. The replaced record is dropped (its graph
removed, a tombstone kept with reason ``replaced`` naming the profile); a later import of it is
skipped while the profile is there, and imports it again once the profile is gone.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pyoxigraph as ox

from hubnet.vocab.authority import origin, scope, speaks_for
from hubnet.vocab.model import GROUP_TYPES, HUBNET, PROV, SCHEMA

from .graph import GONE, GRAPH_STATUSES, PROV_GRAPH, RDF_TYPE, SourceRecord, Store, now

IMPORT_PREFIX = "urn:hubnet:import:"
FOUND_VIA = "import"
REPLACED = "replaced"
_GROUP_TYPES = frozenset(str(t) for t in GROUP_TYPES)
_IDENTITY = (ox.NamedNode(str(SCHEMA.url)), ox.NamedNode(str(SCHEMA.sameAs)))


def _h(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def graph_iri(import_origin: str, record_id: str) -> str:
    """The source URL and graph of one imported record: the same origin and id give the same graph."""
    return f"{IMPORT_PREFIX}{_h(import_origin)}:{_h(record_id)}"


def group_iri(graph: str) -> str:
    return graph + "#group"


def is_imported(url: str | None) -> bool:
    """Is this source (or graph) second-hand? Such sources are never fetched, re-checked or expired."""
    return bool(url) and url.startswith(IMPORT_PREFIX)


def second_hand(record: SourceRecord | None) -> dict | None:
    """``{"from", "imported", "format"}`` for an imported source's record, None for a first-hand one:
    what pages, ``/api/groups`` and the exports say about a second-hand group."""
    if record is None or not is_imported(record.url):
        return None
    return {"from": record.imported_from, "imported": record.generated_at or record.first_seen,
            "format": record.import_format}


def second_hand_of(store: Store, graphs) -> dict:
    """{graph: second_hand(...)} for those of ``graphs`` that are imported (one record read each)."""
    return {g: second_hand(store.source(g)) for g in set(graphs) if is_imported(g)}


def _site(url: str):
    """(origin, group path) of an address; None for anything that is not an http(s) address."""
    o = origin(url)
    path = scope(url)
    return None if o is None or path is None else (o[1], path)


class FirstHand:
    """The groups of the crawled sources, by site: what an imported record may be replaced by."""

    def __init__(self, groups: list):
        self._by_host: dict = {}
        for iri in groups:
            site = _site(iri)
            if site is not None:
                self._by_host.setdefault(site[0], []).append((iri, site[1]))

    @classmethod
    def read(cls, store: Store) -> "FirstHand":
        """Every group a live crawled source speaks for (loaded and imported graphs are not first-hand)."""
        ox_store = store.oxigraph
        crawled = set()
        q = f"""SELECT ?g WHERE {{ GRAPH <{PROV_GRAPH.value}> {{
  ?g <{PROV}wasDerivedFrom> ?src . ?src <{HUBNET}foundVia> ?via ; <{HUBNET}status> ?status .
  FILTER(?via NOT IN ("load", "{FOUND_VIA}") && ?status IN ({", ".join(f'"{s}"' for s in GRAPH_STATUSES)}))
}} }}"""
        for sol in store.query(q):
            crawled.add(sol["g"].value)
        groups = []
        for quad in ox_store.quads_for_pattern(None, RDF_TYPE, None, None):
            graph = quad.graph_name
            if (isinstance(quad.subject, ox.NamedNode) and quad.object.value in _GROUP_TYPES
                    and isinstance(graph, ox.NamedNode) and graph.value in crawled
                    and speaks_for(graph.value, quad.subject.value)):
                groups.append(quad.subject.value)
        return cls(sorted(set(groups)))

    def owner(self, addresses) -> str | None:
        """The first-hand group whose site one of ``addresses`` is on (the rule above), or None."""
        for address in addresses:
            site = _site(address)
            if site is None:
                continue
            for iri, path in self._by_host.get(site[0], ()):
                if path == site[1] and (speaks_for(iri, address) or speaks_for(address, iri)):
                    return iri
        return None


def addresses(store: Store, graph: str) -> list:
    """The addresses an imported record gives for its group (its ``url`` and ``sameAs``)."""
    node = ox.NamedNode(group_iri(graph))
    return sorted({q.object.value for p in _IDENTITY
                   for q in store.oxigraph.quads_for_pattern(node, p, None, ox.NamedNode(graph))})


def replaced_record(record: SourceRecord, owner: str, stamp: str) -> SourceRecord:
    """The tombstone of an imported record replaced by the group's own profile ``owner``."""
    return replace(record, status=GONE, error_code=REPLACED, error_at=stamp, removed_at=stamp,
                   error_message=f"replaced by the group's own profile ({owner}); the imported record is "
                                 "not shown while that profile is listed")


def apply_replacements(store: Store, first_hand: FirstHand | None = None) -> list:
    """Drop every live imported record that a first-hand profile now replaces; the replaced URLs.

    Runs after each crawl (``Aggregator.refresh``) and each import. Costs nothing without imports;
    with them, one pass over the store's group types."""
    pred = ox.NamedNode(HUBNET + "foundVia")
    live = [q.subject.value for q in store.oxigraph.quads_for_pattern(None, pred, ox.Literal(FOUND_VIA), PROV_GRAPH)]
    records = [r for r in (store.source(u) for u in live) if r is not None and r.has_graph]
    if not records:
        return []
    first_hand = first_hand or FirstHand.read(store)
    done, stamp = [], now()
    for rec in records:
        owner = first_hand.owner(addresses(store, rec.graph))
        if owner:
            store.remove_source(replaced_record(rec, owner, stamp))
            done.append(rec.url)
    return done
