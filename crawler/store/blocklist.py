"""The hub's block list: sources the operator has forgotten (``hubnet-crawler forget URL --reason``).

A mistyped seed or a junk ping would otherwise be fetched on every crawl. Forgetting
a URL drops the source's graph and record and writes an entry, with the reason and
when, to its own named graph in the store (so it is in every backup and needs no
second file). The crawler skips a forgotten URL (``forgotten``), ``POST /ping`` of
one is refused (403 ``forgotten``), and the store refuses any write for one, so a
crawl that fetched the source just before the ``forget`` cannot bring it back.
``unforget`` removes the entry; the next crawl, link or ping may fetch it again.

Entries are exact URLs after canonicalisation (``crawl.netpolicy.canonical_url``, which the
caller applies: the store knows nothing of fetching); forgetting
a URL also forgets the address its record was fetched from and the graph it
redirected to, so neither way back is open.
"""

from __future__ import annotations

import pyoxigraph as ox

from hubnet.vocab.errors import HubnetError

from hubnet.crawler.store.graph import HUBNET, RDF_TYPE, XSD, Store, now

BLOCK_GRAPH = ox.NamedNode("https://w3id.org/hubnet/graph/blocklist")
_TYPE = ox.NamedNode(HUBNET + "ForgottenSource")
_REASON = ox.NamedNode(HUBNET + "forgetReason")
_AT = ox.NamedNode(HUBNET + "forgottenAt")
MAX_REASON = 500   # characters kept of a reason: a note for people, not a document


def read_entries(store: Store) -> dict:
    """{url: {"url", "reason", "forgotten_at"}} from the store's block-list graph."""
    out: dict = {}
    for q in store.oxigraph.quads_for_pattern(None, None, None, BLOCK_GRAPH):
        entry = out.setdefault(q.subject.value, {"url": q.subject.value, "reason": "", "forgotten_at": None})
        if q.predicate == _REASON:
            entry["reason"] = q.object.value
        elif q.predicate == _AT:
            entry["forgotten_at"] = q.object.value
    return out


def entries(store: Store) -> list:
    return sorted(store.blocked.values(), key=lambda e: e["url"])


def forget(store: Store, url: str, reason: str) -> dict:
    """Block ``url`` (canonical) and the addresses its records hold, then drop those sources. Returns what was done."""
    reason = " ".join((reason or "").split())[:MAX_REASON]
    if not reason:
        raise HubnetError("give a --reason: the block list says why each address is not fetched",
                          code="bad_parameter", status=400)
    with store._write_lock:   # no crawl write between the entry and the removals (store.py re-checks it)
        records = [r for r in store.sources().values() if url in (r.url, r.graph)]
        urls = sorted({url, *(r.url for r in records), *(r.graph for r in records if r.graph)})
        stamp = now()
        lines = []
        for u in urls:
            s = ox.NamedNode(u)
            lines += [f"{s} {RDF_TYPE} {_TYPE} .", f"{s} {_REASON} {ox.Literal(reason)} .",
                      f"{s} {_AT} {ox.Literal(stamp, datatype=ox.NamedNode(XSD + 'dateTime'))} ."]
        # Replace any earlier entry (a new reason), then add: one update, one transaction.
        store.oxigraph.update("".join(f"DELETE WHERE {{ GRAPH {BLOCK_GRAPH} {{ {ox.NamedNode(u)} ?p ?o }} }};\n"
                                      for u in urls)
                              + f"INSERT DATA {{ GRAPH {BLOCK_GRAPH} {{\n" + "\n".join(lines) + "\n} }")
        store.flush()
        store._blocked = read_entries(store)
        for rec in records:
            store.drop_source(rec)
    return {"forgotten": urls, "removed_sources": sorted(r.url for r in records), "reason": reason}


def unforget(store: Store, url: str) -> dict:
    """Remove ``url`` (canonical) from the block list; ``not_forgotten`` when it is not there."""
    with store._write_lock:
        if url not in store.blocked:
            raise HubnetError(f"{url} is not on the block list (see `hubnet-crawler sources`)",
                              code="not_forgotten", status=404)
        store.oxigraph.update(f"DELETE WHERE {{ GRAPH {BLOCK_GRAPH} {{ {ox.NamedNode(url)} ?p ?o }} }}")
        store.flush()
        store._blocked = read_entries(store)
    return {"unforgotten": url}
