"""When two group IRIs are one group: a move, and the one rule that decides it (issue 17, item 3).

A group hosted at ``https://hub.example.org/<slug>/`` (IRI ``…/<slug>/#group``) may move to its own
site (``https://own.example/#group``). It is the SAME group only when both sides say so:

- the old side: the old address answers with a permanent redirect (every hop 301 or 308) to the
  new document. Only the crawler writes that, from the old address's own answer, as the old
  source's tombstone: status ``gone``, ``error_code`` "moved", ``moved_to`` the new document,
  ``about`` the groups the old source described (its own, by the authority rule);
- the new side: the new document's live graph states ``<new group> schema:sameAs <old group IRI>``,
  about a group it may speak for.

Either alone is nothing: a redirect alone is a site pointing elsewhere (the target is crawled as
its own group, as before), and a ``sameAs`` alone is a claim anyone can publish (evil.example
saying it is the victim): the claim stays in the claimant's graph and changes nobody's listing,
links or history. Every reader resolves identities through ``moves`` here: the crawler when it
records a move (and carries the old first-seen date over), the text index (which keeps the map
for the group pages' links and the old addresses), and the network model (links naming the old
IRI count for the new group).
"""

from __future__ import annotations

import pyoxigraph as ox

from hubnet.vocab.authority import owns_graph, speaks_for
from hubnet.vocab.model import GROUP_TYPES, HUBNET, SCHEMA
from hubnet.crawler.store.graph import GONE, GRAPH_STATUSES, PROV_GRAPH

MOVED = "moved"             # the error_code of a moved group's tombstone
SAME_AS = ox.NamedNode(f"{SCHEMA}sameAs")
_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
_GROUP_TYPES = frozenset(str(t) for t in GROUP_TYPES)
_CODE, _GRAPH, _STATUS = (ox.NamedNode(HUBNET + p) for p in ("errorCode", "graph", "status"))
MAX_CHAIN = 8               # moves followed from one IRI (a -> b -> c ...), so a cycle cannot loop


def _value(store, subject, predicate):
    q = next(store.quads_for_pattern(subject, predicate, None, PROV_GRAPH), None)
    return None if q is None else q.object.value


def live_graph(store, document: str) -> str | None:
    """The graph of the live source whose graph (or address) is ``document``, if there is one."""
    ox_store, node = store.oxigraph, ox.NamedNode(document)
    owners = [q.subject for q in ox_store.quads_for_pattern(None, _GRAPH, node, PROV_GRAPH)]
    if next(ox_store.quads_for_pattern(node, _GRAPH, None, PROV_GRAPH), None) is not None:
        owners.append(node)
    for owner in owners:
        graph = _value(ox_store, owner, _GRAPH)
        if graph and _value(ox_store, owner, _STATUS) in GRAPH_STATUSES and owns_graph(owner.value, graph):
            return graph
    return None


def confirmations(store, document: str, old_groups) -> dict:
    """{old group IRI: (new group IRI, the live graph saying so)} for each of ``old_groups`` that a group
    at ``document`` (where the old address redirects to) claims as its former identity: ``<new>
    schema:sameAs <old>`` in the live graph of ``document``'s own source, or in another live graph of
    the same site and group path (a node answers at ``/`` and ``/profile.jsonld``), ``<new>`` a group
    that graph may speak for. Claims from anywhere else count for nothing."""
    ox_store, own, out = store.oxigraph, live_graph(store, document), {}
    for old in old_groups:
        try:
            node = ox.NamedNode(old)
        except ValueError:
            continue
        found = []
        for q in ox_store.quads_for_pattern(None, SAME_AS, node, None):
            new, graph = q.subject, q.graph_name
            if not (isinstance(new, ox.NamedNode) and isinstance(graph, ox.NamedNode)) or new.value == old:
                continue
            if graph.value != own and not (speaks_for(document, new.value, by_path=True)
                                           and live_graph(store, graph.value) == graph.value):
                continue
            if speaks_for(graph.value, new.value) and any(
                    t.object.value in _GROUP_TYPES for t in ox_store.quads_for_pattern(new, _TYPE, None, graph)):
                found.append((new.value, graph.value))
        if found:
            out[old] = min(found)
    return out


def moves(store) -> dict:
    """{old IRI: new group IRI} of every confirmed move: the old group IRIs, and the old source's
    addresses when it described one group (links often name a page, not its ``#group``). Chains
    (a moved to b, b to c) resolve to the last group."""
    ox_store, direct = store.oxigraph, {}
    for q in ox_store.quads_for_pattern(None, _CODE, ox.Literal(MOVED), PROV_GRAPH):
        rec = q.subject
        moved_to, about = _value(ox_store, rec, ox.NamedNode(HUBNET + "movedTo")), _value(
            ox_store, rec, ox.NamedNode(HUBNET + "about"))
        if _value(ox_store, rec, _STATUS) != GONE.value or not moved_to or not about:
            continue
        groups = about.split()
        found = {old: new for old, (new, _graph) in confirmations(store, moved_to, groups).items()}
        direct.update(found)
        if len(groups) == 1 and found:
            old_graph = _value(ox_store, rec, _GRAPH)
            for page in {rec.value, old_graph} - {None}:
                direct.setdefault(page, found[groups[0]])
    return {old: _last(direct, old) for old in direct}


def _last(direct: dict, iri: str) -> str:
    seen, current = {iri}, direct[iri]
    for _ in range(MAX_CHAIN):
        nxt = direct.get(current)
        if nxt is None or nxt in seen:
            break
        seen.add(current)
        current = nxt
    return current
