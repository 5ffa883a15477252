"""The shape of the network: who links to whom, mutual or claimed, paths, bridges.

Built once from the store into plain Python structures (a few hundred
milliseconds at 10k groups) and reused until the store changes, so every
brokering question is answered from memory in milliseconds. Each IRI and graph
name is held once (the strings of the group's own entry, not one copy per row
read), links have slots, and the undirected neighbours are worked out from the
links when asked (issue 18: the model's Python objects at 100k groups).

Link semantics (docs/brokering.md says the same for people):

- a *statement* is one group's profile naming another with a link property
  (memberOf, member, parentOrganization, subOrganization, org:linkedTo,
  hubnet:vouchesFor). The authority rule means it is always the linking
  group's own word.
- a link between two groups is *mutual* when each states some link to the
  other (``member`` one way and ``memberOf`` back counts), *claimed* when
  only one does.
- trust is what both sides confirm: introductions, bridges and isolation use
  mutual links only. A one-sided ``vouchesFor`` (or any claimed link) is shown
  as a claim and nothing more — otherwise anyone could publish a profile that
  vouches for two groups and become the introducer between them, un-isolate an
  isolated group, or appear as a bridge (issue 12, finding 9).
"""

from __future__ import annotations

import functools
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urldefrag

from hubnet.crawler.budget import UNLIMITED, Budget
from hubnet.crawler.store import identity, profiles as P

_REL = {p: P.relation_name(p) for p in P.LINK_IRIS}

MAX_HOPS = 4


@dataclass(slots=True)
class Link:
    source: str        # the group making the statement
    target: str
    relation: str      # memberOf, member, linkedTo, vouchesFor, ...
    graph: str         # where the statement was read


@dataclass
class Network:
    groups: dict = field(default_factory=dict)          # iri -> {"name", "graph"}
    out: dict = field(default_factory=lambda: defaultdict(list))   # iri -> [Link] it states
    inc: dict = field(default_factory=lambda: defaultdict(list))   # iri -> [Link] stated about it
    trust: dict = field(default_factory=lambda: defaultdict(set))  # undirected: mutual links only

    # ------------------------------------------------------------------ building
    @classmethod
    def from_store(cls, store, budget: Budget = UNLIMITED) -> "Network":
        net = cls()
        # Groups, then their names: two queries, so a group's types and names are never multiplied.
        q_groups = f"SELECT DISTINCT ?g ?src {{ GRAPH ?src {{ ?g a ?t }} VALUES ?t {{ {P.GROUP_TYPE_VALUES} }} }}"
        graphs: dict = {}   # one string per graph name, shared by its group and its links
        for r in budget.rows(store, q_groups):
            src = r["src"].value
            net.groups.setdefault(r["g"].value, {"name": None, "graph": graphs.setdefault(src, src)})
        q_names = f"SELECT ?g ?src ?n {{ GRAPH ?src {{ ?g <{P.NAME}> ?n {P.is_group('?g')} }} }}"
        for r in budget.rows(store, q_names):
            g = net.groups.get(r["g"].value)
            if g is not None and g["graph"] == r["src"].value and (g["name"] is None or r["n"].value < g["name"]):
                g["name"] = r["n"].value
        for iri, g in net.groups.items():
            g["name"] = g["name"] or iri
        # Links often name a group's page (https://x.org/) rather than the group (https://x.org/#group):
        # a page whose source describes exactly one group stands for that group.
        by_page: dict = defaultdict(set)
        for iri, g in net.groups.items():
            by_page[g["graph"]].add(iri)
            by_page[urldefrag(iri)[0]].add(iri)
        pages = {page: next(iter(found)) for page, found in by_page.items() if len(found) == 1}
        # A link naming a group's old IRI (or old page) counts for the group it moved to (identity.py).
        moved = identity.moves(store)
        preds = " ".join(f"<{p}>" for p in _REL)
        q_links = f"SELECT ?src ?a ?p ?b {{ GRAPH ?src {{ ?a ?p ?b }} VALUES ?p {{ {preds} }} }}"
        iris = {iri: iri for iri in net.groups}   # the group's own key string, for every link to it
        for r in budget.rows(store, q_links):
            a, b = r["a"].value, r["b"].value
            b = moved.get(b, b)
            if b not in net.groups:
                b = pages.get(b) or pages.get(urldefrag(b)[0]) or b
            if a in net.groups and b in net.groups and a != b:
                src = r["src"].value
                net.add(Link(iris[a], iris[b], _REL[r["p"].value], graphs.setdefault(src, src)))
        net.finish()
        return net

    def add(self, link: Link) -> None:
        self.out[link.source].append(link)
        self.inc[link.target].append(link)

    def neighbours(self, iri: str) -> set:
        """The groups ``iri`` has any link with, either way (undirected)."""
        return {l.target for l in self.out.get(iri, ())} | {l.source for l in self.inc.get(iri, ())}

    def finish(self) -> None:
        """Trust: the pairs where each side states a link to the other (a vouch only counts once confirmed)."""
        for a, links in self.out.items():
            for l in links:
                if self.mutual(a, l.target):
                    self.trust[a].add(l.target)
                    self.trust[l.target].add(a)

    # ------------------------------------------------------------------ questions
    def states_link(self, a: str, b: str) -> bool:
        return any(l.target == b for l in self.out.get(a, ()))

    def mutual(self, a: str, b: str) -> bool:
        return self.states_link(a, b) and self.states_link(b, a)

    def links_of(self, iri: str) -> list[dict]:
        """What a group states, each marked mutual or claimed."""
        return [{"target": l.target, "name": self.name(l.target), "relation": l.relation,
                 "mutual": self.mutual(iri, l.target)} for l in self.out.get(iri, ())]

    def linked_from(self, iri: str) -> list[dict]:
        return [{"source": l.source, "name": self.name(l.source), "relation": l.relation,
                 "mutual": self.mutual(iri, l.source)} for l in self.inc.get(iri, ())]

    def claims(self, iri: str) -> list[dict]:
        """The links stated by or about a group that the other side does not confirm, one per other group."""
        others = {l.target for l in self.out.get(iri, ())} | {l.source for l in self.inc.get(iri, ())}
        out = []
        for other in sorted(others - self.trust.get(iri, set())):
            by = iri if self.states_link(iri, other) else other
            to = other if by == iri else iri
            rels = sorted({l.relation for l in self.out.get(by, ()) if l.target == to})
            out.append({"claimed_by": by, "about": to, "relations": rels})
        return out

    def name(self, iri: str) -> str:
        g = self.groups.get(iri)
        return g["name"] if g else iri

    # The network does not change once built (a change in the store builds a new one), so the
    # whole-network answers are worked out once, on first use.
    @functools.cached_property
    def _links(self) -> list[tuple]:
        return list(self._pairs_among(self.groups))

    def all_links(self) -> Sequence[dict]:
        """Every link between two groups, once per pair, classified mutual or claimed."""
        return _Edges(self._links)

    @functools.cached_property
    def _mutual_links(self) -> list[tuple]:
        return [l for l in self._links if l[3]]

    @functools.cached_property
    def _claimed_links(self) -> list[tuple]:
        return [l for l in self._links if not l[3]]

    def mutual_links(self) -> Sequence[dict]:
        return _Edges(self._mutual_links)

    def claimed_links(self) -> Sequence[dict]:
        return _Edges(self._claimed_links)

    def introductions(self, src: str, dst: str, max_hops: int = MAX_HOPS, limit: int = 10) -> list[list[str]]:
        """Every shortest chain of trust from ``src`` to ``dst`` (at most ``max_hops`` links), up to ``limit``."""
        if src == dst or src not in self.groups or dst not in self.groups:
            return []
        # BFS from src recording all shortest-path parents, stopping at dst's depth.
        depth = {src: 0}
        parents: dict = defaultdict(list)
        frontier = [src]
        while frontier and dst not in depth:
            nxt = []
            for u in frontier:
                if depth[u] >= max_hops:
                    continue
                for v in sorted(self.trust.get(u, ())):
                    if v not in depth:
                        depth[v] = depth[u] + 1
                        nxt.append(v)
                    if depth[v] == depth[u] + 1:
                        parents[v].append(u)
            frontier = nxt
        if dst not in depth:
            return []
        paths: list = []

        def walk(node, tail):
            if len(paths) >= limit:
                return
            if node == src:
                paths.append([src] + tail)
                return
            for p in parents[node]:
                walk(p, [node] + tail)

        walk(dst, [])
        return paths

    def ego(self, iri: str, depth: int = 2) -> dict:
        """Nodes within ``depth`` links of a group (any link), and the links among them."""
        seen = {iri: 0}
        queue = deque([iri])
        while queue:
            u = queue.popleft()
            if seen[u] >= depth:
                continue
            for v in self.neighbours(u):
                if v not in seen:
                    seen[v] = seen[u] + 1
                    queue.append(v)
        nodes = [{"id": n, "name": self.name(n), "distance": d} for n, d in sorted(seen.items(), key=lambda x: (x[1], x[0]))]
        return {"center": iri, "depth": depth, "nodes": nodes, "edges": self._edges_among(seen)}

    def _edges_among(self, members) -> list[dict]:
        return [_edge(p) for p in self._pairs_among(members)]

    def _pairs_among(self, members):
        """(a, b, relations, mutual, claimed_by) per linked pair among ``members``, a < b; the
        relation tuples are shared between the pairs that have the same ones."""
        seen, shared_rels = set(), {}
        for a in sorted(members):
            for l in self.out.get(a, ()):
                if l.target not in members:
                    continue
                pair = tuple(sorted((a, l.target)))
                if pair in seen:
                    continue
                seen.add(pair)
                mutual = self.mutual(a, l.target)
                rels = tuple(sorted({x.relation for x in self.out.get(a, ()) if x.target == l.target}
                                    | {x.relation for x in self.out.get(l.target, ()) if x.target == a}))
                yield pair[0], pair[1], shared_rels.setdefault(rels, rels), mutual, None if mutual else a

    def isolated(self) -> list[str]:
        """Groups with no confirmed (mutual) link; claims by or about them do not count."""
        return self._isolated

    @functools.cached_property
    def _isolated(self) -> list[str]:
        return sorted(g for g in self.groups if not self.trust.get(g))

    def bridges(self) -> list[str]:
        """Articulation points of the graph of confirmed (mutual) links."""
        return self._bridges

    @functools.cached_property
    def _bridges(self) -> list[str]:
        """Iterative Tarjan: no recursion limit on a long chain of groups."""
        index: dict = {}
        low: dict = {}
        result = set()
        counter = 0
        for root in sorted(self.groups):
            if root in index:
                continue
            index[root] = low[root] = counter
            counter += 1
            children = 0
            stack = [(root, None, iter(sorted(self.trust.get(root, ()))))]
            while stack:
                node, parent, it = stack[-1]
                advanced = False
                for nb in it:
                    if nb == parent:
                        continue
                    if nb in index:
                        low[node] = min(low[node], index[nb])
                    else:
                        index[nb] = low[nb] = counter
                        counter += 1
                        if node == root:
                            children += 1
                        stack.append((nb, node, iter(sorted(self.trust.get(nb, ())))))
                        advanced = True
                        break
                if not advanced:
                    stack.pop()
                    if parent is not None:
                        low[parent] = min(low[parent], low[node])
                        if parent != root and low[node] >= index[parent]:
                            result.add(parent)
            if children > 1:
                result.add(root)
        return sorted(result)


def _edge(pair: tuple) -> dict:
    a, b, rels, mutual, claimed_by = pair
    return {"a": a, "b": b, "relations": list(rels), "mutual": mutual, "claimed_by": claimed_by}


class _Edges(Sequence):
    """Links held as tuples (a dict each cost ~300 bytes more: ~100 MB at 100k groups), read as
    dicts: ``len`` and slices as a list of them."""

    def __init__(self, pairs: list):
        self._pairs = pairs

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, i):
        return [_edge(p) for p in self._pairs[i]] if isinstance(i, slice) else _edge(self._pairs[i])


__all__ = ["Network", "Link", "MAX_HOPS"]
