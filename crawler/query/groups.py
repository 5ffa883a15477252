"""Reading one group from the store: its profile, offers and needs, links and who links to it.

The index (index.py) answers "which groups?"; this module answers "what does
this group say, and who agrees?", straight from the live store, so a group
page is never staler than the last crawl.

Links: a link is *mutual* when the other group also states a link (any link
property) back to this one, so ``memberOf`` one way and ``member`` the other
way counts; otherwise it is *claimed*. Links often name a profile's page
(``https://x.org/``) instead of its group (``https://x.org/#group``); both
spellings are resolved to the group the index knows for that page. Because
the crawler keeps only what a site says about itself, "B says it links to A"
really is B's word.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urldefrag

import pyoxigraph as ox

from hubnet.vocab.model import CATEGORY, SCHEMA, categories, kinds

from hubnet.crawler.budget import UNLIMITED, Budget
from hubnet.crawler.store import profiles as P
from hubnet.crawler.store.graph import HUBNET, PROV_GRAPH
from hubnet.crawler.store.profiles import relation_name

CATEGORY_NS = CATEGORY
_LINK_VALUES = " ".join(f"<{p}>" for p in P.LINK_IRIS)
# The nodes a profile hangs off its group: where, contacts, offers and needs.
_NESTED = ("location", "address", "geo", "areaServed", "contactPoint", "makesOffer", "seeks")


def _iri(value: str) -> str:
    return str(ox.NamedNode(value))  # validates: nothing odd reaches the query text


# ------------------------------------------------------------------------- the profile
def _describe(store, iri: str, budget: Budget = UNLIMITED) -> dict:
    """{node: {predicate: [terms]}} for the group and the nodes nested under it (two levels)."""
    g = _iri(iri)
    nested = "|".join(f"<{SCHEMA}{p}>" for p in _NESTED)
    # The nodes first, each once (however many paths reach it), then their statements: rows are
    # the statements of those nodes, never paths times statements (issue 12, finding 2).
    q = f"""
SELECT ?s ?p ?o WHERE {{
  {{ SELECT DISTINCT ?s WHERE {{
      {{ BIND({g} AS ?s) }}
      UNION {{ {g} ({nested}) ?s . FILTER(isIRI(?s)) }}
      UNION {{ {g} ({nested})/({nested}) ?s . FILTER(isIRI(?s)) }} }} }}
  ?s ?p ?o
}}"""
    nodes: dict = {}
    for sol in budget.rows(store, q):
        s, p, o = sol["s"].value, sol["p"].value, sol["o"]
        values = nodes.setdefault(s, {}).setdefault(p, [])
        if o not in values:
            values.append(o)
    return nodes


def _texts(node: dict, prop: str) -> list:
    """Literal values of a property, English or untagged first."""
    vals = [t for t in node.get(SCHEMA + prop, []) if isinstance(t, ox.Literal)]
    vals.sort(key=lambda t: (t.language not in (None, "en"), t.value))
    out = []
    for t in vals:
        if t.value.strip() and t.value not in out:
            out.append(t.value.strip())
    return out


def _text(node: dict, prop: str):
    vals = _texts(node, prop)
    return vals[0] if vals else None


def _values(node: dict, prop: str) -> list:
    """Every value as a string (IRIs and literals alike), sorted for stable output."""
    return sorted({t.value for t in node.get(SCHEMA + prop, [])})


def _children(nodes: dict, node: dict, prop: str) -> list:
    return [nodes.get(t.value, {}) for t in node.get(SCHEMA + prop, []) if isinstance(t, ox.NamedNode)]


def _date(value: str | None):
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _items(nodes: dict, group: dict, prop: str, today: dt.date) -> list:
    """Offers or needs; ``expired`` when validThrough is before today (never shown as current)."""
    labels = {c.slug: c.label for c in categories()}
    out = []
    for node in _children(nodes, group, prop):
        if not node:
            continue
        cats = [t.value for t in node.get(HUBNET + "category", [])]
        slugs = [c[len(CATEGORY_NS):] if c.startswith(CATEGORY_NS) else c for c in cats]
        valid = _text(node, "validThrough")
        until = _date(valid)
        starts = _date(_text(node, "validFrom"))
        out.append({
            "name": _text(node, "name"), "description": _text(node, "description"),
            "category": sorted(slugs), "category_label": [labels.get(s, s) for s in sorted(slugs)],
            "valid_from": _text(node, "validFrom"), "valid_through": valid,
            "expired": bool(until and until < today),
            "current": not (until and until < today) and not (starts and starts > today),
        })
    out.sort(key=lambda d: (d["expired"], (d["name"] or "").lower()))
    return out


def _contacts(nodes: dict, group: dict) -> list:
    out = []
    for node in _children(nodes, group, "contactPoint"):
        if not node:
            continue
        out.append({"type": _text(node, "contactType"), "name": _text(node, "name"),
                    "email": _text(node, "email"), "telephone": _text(node, "telephone"),
                    "url": (_values(node, "url") or [None])[0], "languages": _texts(node, "availableLanguage")})
    # The "first point of contact" first: that is who a newcomer should write to.
    out.sort(key=lambda c: (not P.is_first_contact(c["type"]), c["name"] or ""))  # as contacts.py orders them
    return out


def _location(nodes: dict, group: dict) -> dict | None:
    """The group's place: the one its coordinates come from (as the index and matching choose
    them, ``profiles.located``), else its first place by IRI."""
    places = sorted(t.value for t in group.get(P.LOCATION, []) if isinstance(t, ox.NamedNode) and nodes.get(t.value))
    if not places:
        return None
    found = P.located({iri: _lat_lon(nodes.get(iri, {})) for place in places for iri in _place_nodes(nodes, place)})
    lat, lon = found[1:] if found else (None, None)
    chosen = next((p for p in places if found and found[0] in _place_nodes(nodes, p)), places[0])
    place = nodes[chosen]
    addr = (_children(nodes, place, "address") or [{}])[0]
    parts = [_text(addr, p) for p in ("streetAddress", "addressLocality", "addressRegion", "postalCode")]
    return {"name": _text(place, "name"), "address": ", ".join(p for p in parts if p) or None,
            "lat": lat, "lon": lon}


def _place_nodes(nodes: dict, place: str) -> list:
    """The place and its ``geo`` nodes: where ``profiles.PLACE_PATH`` reads coordinates."""
    return [place, *(t.value for t in nodes.get(place, {}).get(P.GEO, []) if isinstance(t, ox.NamedNode))]


def _lat_lon(node: dict) -> tuple[list, list]:
    return ([t.value for t in node.get(P.LATITUDE, []) if isinstance(t, ox.Literal)],
            [t.value for t in node.get(P.LONGITUDE, []) if isinstance(t, ox.Literal)])


def _areas(nodes: dict, group: dict) -> list:
    out = []
    for t in group.get(SCHEMA + "areaServed", []):
        if isinstance(t, ox.Literal):
            out.append(t.value)
        else:
            name = _text(nodes.get(t.value, {}), "name")
            if name:
                out.append(name)
    return sorted(set(out))


# ------------------------------------------------------------------------- links
def _resolver(index):
    """iri -> the IRI of the group it names (itself, or the one group on that page)."""
    cache: dict = {}

    def resolve_many(iris) -> dict:
        todo = [i for i in set(iris) if i not in cache]
        if todo:
            moved = index.moved_to(todo)   # an old IRI names the group it moved to (store/identity.py)
            known = index.by_iris(todo + list(moved.values()))
            known.update({old: known[new] for old, new in moved.items() if new in known})
            pages = index.by_sources({urldefrag(i)[0] for i in todo if i not in known})
            for i in todo:
                if i in known:
                    cache[i] = known[i]
                else:
                    on_page = pages.get(urldefrag(i)[0], [])
                    cache[i] = on_page[0] if len(on_page) == 1 else None
        return {i: cache[i] for i in iris}

    return resolve_many


def _link_rows(store, iri: str, aliases: list) -> tuple[list, list]:
    """(outgoing (target, predicate), incoming (subject, predicate)) link statements."""
    out = [(sol["t"].value, sol["p"].value) for sol in store.query(
        f"SELECT DISTINCT ?t ?p ?g WHERE {{ VALUES ?p {{ {_LINK_VALUES} }} ?g ?p ?t . FILTER(isIRI(?t)) }}",
        substitutions={ox.Variable("g"): ox.NamedNode(iri)})]
    targets = " ".join(_iri(a) for a in aliases)
    inc = [(sol["s"].value, sol["p"].value) for sol in store.query(
        f"SELECT DISTINCT ?s ?p WHERE {{ VALUES ?p {{ {_LINK_VALUES} }} VALUES ?o {{ {targets} }} ?s ?p ?o . "
        f"FILTER(isIRI(?s)) }}")]
    return out, inc


def links_of(store, index, row: dict) -> tuple[list, list]:
    """(links, linked_from) of an indexed group, each entry marked mutual or claimed."""
    iri = row["id"]
    aliases = [iri] + ([row["source"]] if row.get("source") and row["source"] != iri else [])
    aliases += index.moved_from(iri)   # links naming the group's old IRI still count
    out, inc = _link_rows(store, iri, aliases)
    resolve = _resolver(index)
    resolved = resolve([t for t, _ in out] + [s for s, _ in inc])
    # Who states a link to this group (by group IRI), for the "mutual" test.
    says_back = {resolved[s]["id"] if resolved.get(s) else s for s, _ in inc}

    links = []
    for target, pred in sorted(out, key=lambda x: (relation_name(x[1]), x[0])):
        base, frag = urldefrag(target)
        if base == row.get("source") and frag.startswith("_b"):
            continue  # a node nested in the profile (a person as member), not another group
        hit = resolved.get(target)
        target_id = hit["id"] if hit else target
        if target_id == iri:
            continue
        links.append({"target": target, "relation": relation_name(pred), "mutual": target_id in says_back,
                      "key": hit["key"] if hit else None, "name": hit["name"] if hit else None,
                      "group": target_id if hit else None})

    # Groups this one states a link to (by group IRI), for the other direction.
    says_to = {(resolved[t]["id"] if resolved.get(t) else t) for t, _ in out}
    linked_from = []
    for subject, pred in sorted(inc, key=lambda x: (relation_name(x[1]), x[0])):
        hit = resolved.get(subject)
        if not hit or hit["id"] == iri:
            continue  # only groups the directory knows; never the group itself
        linked_from.append({"source": hit["id"], "relation": relation_name(pred), "mutual": hit["id"] in says_to,
                            "key": hit["key"], "name": hit["name"]})
    return links, linked_from


# ------------------------------------------------------------------------- source health
def source_record(store, graph: str):
    """The provenance record of the source whose graph is ``graph`` (None if there is none)."""
    subjects = [q.subject.value for q in store.oxigraph.quads_for_pattern(
        None, ox.NamedNode(HUBNET + "graph"), ox.NamedNode(graph), PROV_GRAPH)]
    records = [r for r in (store.source(s) for s in sorted(subjects)) if r]
    records.sort(key=lambda r: (r.status != "ok", r.url != graph))
    return records[0] if records else None


# ------------------------------------------------------------------------- the whole page
def read_group(store, index, row: dict, today: dt.date | None = None, budget: Budget = UNLIMITED) -> dict:
    """Everything the group page and /api/groups/<key> show, as plain JSON-ready data."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    nodes = _describe(store, row["id"], budget)
    group = nodes.get(row["id"], {})
    kind_labels = {c.slug: c.label for c in kinds()}
    kind_slugs = P.kind_slugs(t.value for t in group.get(P.KINDS, []))
    links, linked_from = links_of(store, index, row)
    record = source_record(store, row["source"])
    return {
        "id": row["id"], "key": row["key"],
        "name": _text(group, "name") or row["name"],
        "description": _text(group, "description"),
        "url": (_values(group, "url") or [None])[0],
        "email": _text(group, "email"), "telephone": _text(group, "telephone"),
        "kind": kind_slugs, "kind_labels": [kind_labels.get(k, k) for k in kind_slugs],
        "topics": row["topics"],
        "area": _areas(nodes, group),
        "location": _location(nodes, group),
        "lat": row["lat"], "lon": row["lon"],
        "contacts": _contacts(nodes, group),
        "same_as": _values(group, "sameAs"),
        "moved_from": index.moved_from(row["id"]),   # its old IRI and addresses, when it moved here
        "founded": _text(group, "foundingDate"),
        "offers": _items(nodes, group, "makesOffer", today),
        "needs": _items(nodes, group, "seeks", today),
        "links": links,
        "linked_from": linked_from,
        "source": record.to_dict() if record else {"url": row["source"], "graph": row["source"]},
    }
