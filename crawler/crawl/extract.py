"""Extract stage: a fetched body -> the authorised, skolemised statements of one source, in one pass
that also collects its links, the groups it describes and its content hash.

Runs off the event loop (see crawler.py). Everything hostile about the body is
handled by ``vocab.parse`` (pinned contexts only, depth/size caps, named
graphs refused); this stage adds what is per-source: stable names for blank
nodes, the authority rule, and the checks that the source is a group profile.

The same links and groups can be read back from a STORED graph (``stored_links_and_groups``,
``known_groups``): for a 304, when the body was not fetched again, and for the groups already known
when a crawl starts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import urldefrag

import pyoxigraph as ox

from hubnet.vocab.errors import DocumentError
from hubnet.vocab.model import GROUP_TYPES, LINK_PROPERTIES
from hubnet.vocab.parse import Limits, document_rows

from hubnet.vocab.authority import authority, foreign_group, has_userinfo, id_mismatch, scope
from hubnet.crawler.crawl.consent import profile_withdraws
from hubnet.crawler.settings import Settings

LINK_PREDICATES = frozenset(str(p) for p in LINK_PROPERTIES)
GROUP_TYPE_IRIS = frozenset(str(t) for t in GROUP_TYPES)
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


@dataclass
class Parsed:
    triples: list
    groups: list
    dropped_foreign: int
    links: list
    content_hash: str
    notes: list = field(default_factory=list)   # what was read but not kept (values past the per-property cap)
    withdraws: bool = False   # the profile says "indexing": false (consent.profile_withdraws)
    # From a parser process (crawl/parsers.py; triples is then a store.shipped.NTriples):
    # crosses_paths, and the editor's rules if they were applied there.
    crosses: bool | None = None
    checked: bool = False
    problems: str | None = None
    # vocab.parse's rows, before blank nodes were named: the editor's rules read these rather than
    # parsing the body again (crawl/checks.py). Only in the process that parsed it.
    rows: list | None = None
    # The IRIs of the kept statements' subjects, as parse_source met them (for crosses_paths).
    subjects: set | None = None


def limits_from(settings: Settings) -> Limits:
    return Limits(max_json_depth=settings.max_json_depth, max_json_nodes=settings.max_json_nodes,
                  max_triples=settings.max_triples, max_literal=settings.max_literal, max_iri=settings.max_iri)


def content_hash(triples) -> str:
    """Hash of the statements, order-independent: unchanged data means an unchanged hash.

    The definition: ``parse_source`` computes the same hash from the lines it builds as it
    goes (``_digest``), and the tests and soaks use this to check a stored graph against it.
    """
    return _digest(f"{t.subject} {t.predicate} {t.object}" for t in triples)


def _digest(lines) -> str:
    return hashlib.sha256("\n".join(sorted(lines)).encode("utf-8")).hexdigest()


def parse_source(body: bytes, media_type: str, document_url: str, settings: Settings, *,
                 by_path: bool = False) -> Parsed:
    """Body as fetched -> Parsed. Raises DocumentError with a reason code on anything unusable.

    ``by_path``: the host hosts groups by path (``authority.speaks_for``), as the crawl found out."""
    try:
        rows = document_rows(body, media_type, document_url, limits_from(settings))
    except (RecursionError, MemoryError):
        raise DocumentError("the document is too complex to read", code="too_deep") from None
    kept, dropped, groups, every_group, outlinks, digest, capped, subjects = _statements(
        rows, document_url, settings.max_outlinks, settings.max_values_per_property, by_path)
    disguised = [g for g in every_group if has_userinfo(g)]
    if disguised:
        raise DocumentError(
            f"the profile names a group {disguised[0]} whose address holds a user name (the part before "
            "'@'), which shows one site and means another; name the group with a plain address of your site",
            code="userinfo_in_iri")
    if not groups:
        foreign = foreign_group(every_group, document_url, by_path)
        if foreign:
            raise id_mismatch(foreign, document_url, by_path)
        raise DocumentError("no group found: the document must describe an Organization "
                            "(or a kind of it, such as NGO)", code="no_group")
    notes = [f"{capped} statement(s) beyond {settings.max_values_per_property} values of one property "
             "of one subject were not kept"] if capped else []
    return Parsed(triples=kept, groups=groups, dropped_foreign=dropped, links=outlinks, content_hash=digest,
                  notes=notes, withdraws=profile_withdraws(kept), rows=rows, subjects=subjects)


def _statements(rows, document_url: str, max_outlinks: int, max_values: int, by_path: bool = False):
    """Name blank nodes, apply the authority rule, find groups and links, hash: in one pass.

    Blank nodes get stable IRIs under the document's URL: a blank-node group (an
    Organization with no ``@id``, common on websites) becomes ``<url>#group``
    (``#group2``...), other blank nodes ``<url>#_b1``, ``#_b2``... in order of
    first appearance, so the same document always gives the same statements and
    hash. The same answers as naming, then ``speaks_for`` per subject, then
    ``group_subjects``, ``links`` and ``content_hash`` (tests/test_parse_speedups.py
    holds it to that), at a fraction of the cost: the terms come already read
    (``hubnet.vocab.parse.document_rows``), a Quad is only built for a kept statement
    whose blank nodes were renamed, and the hash lines are built from strings in hand.
    Only the first ``max_values`` values of each (subject, property) are kept, in document
    order: the aggregator's queries and pages read every value, so a profile repeating a name
    or a description hundreds of times must not multiply their work (issue 12, finding 2).
    Returns (kept, dropped count, kept group IRIs, every group IRI, link targets, hash, capped count,
    the kept statements' subject IRIs).
    """
    base = urldefrag(document_url)[0]
    blank, named_node, quad = ox.BlankNode, ox.NamedNode, ox.Quad
    # Which blank nodes are groups: they are named #group, #group2... rather than #_bN.
    groups = {row[1] for row in rows if type(row[1]) is blank and row[5] == RDF_TYPE and row[6] in GROUP_TYPE_IRIS}
    names: dict = {}  # BlankNode -> (NamedNode, IRI), numbered in order of first appearance
    n_group = 0

    def name(b):
        nonlocal n_group
        if b in groups:
            n_group += 1
            iri = f"{base}#group" + ("" if n_group == 1 else str(n_group))
        else:
            iri = f"{base}#_b{len(names) - n_group + 1}"
        named = names[b] = (named_node(iri), iri)
        return named

    speaks = authority(document_url, by_path)
    limit = max(max_outlinks, 1)  # links() checks its limit after taking a target, so it always takes one
    kept, lines, group_iris, every_group, outlinks, seen_links = [], [], [], [], [], set()
    dropped = capped = 0
    per_property: dict = {}  # (subject IRI, predicate IRI) -> values kept: one key per kept statement's pair
    for q, s, p, o, sv, pv, ov in rows:
        renamed = False
        if type(s) is blank:
            s, sv = names.get(s) or name(s)
            renamed = True
        if type(o) is blank:
            o, ov = names.get(o) or name(o)
            renamed = True
        is_group = pv == RDF_TYPE and ov in GROUP_TYPE_IRIS and sv is not None
        if is_group and sv not in every_group:
            every_group.append(sv)
        if sv is None or not speaks(sv):  # sv is None: not an IRI, never spoken for
            dropped += 1
            continue
        seen = per_property.get((sv, pv), 0)
        if seen >= max_values:
            capped += 1
            continue
        per_property[sv, pv] = seen + 1
        # Hash lines are str() of each term, as content_hash writes them; an IRI prints as <IRI>.
        if renamed:
            # No graph argument means the default graph; passing ox.DefaultGraph() would cost
            # microseconds (pyoxigraph tries it as a NamedNode, then a BlankNode, first).
            q = quad(s, p, o)
            lines.append(f"<{sv}> <{pv}> <{ov}>" if type(o) is named_node else f"<{sv}> <{pv}> {o}")
        else:
            # str(quad) is "s p o" for a default-graph quad of IRIs and literals (triple terms are
            # refused by vocab.parse, blank nodes renamed above)
            lines.append(str(q))
        kept.append(q)
        if is_group and sv not in group_iris:
            group_iris.append(sv)
        if pv in LINK_PREDICATES and type(o) is named_node and len(outlinks) < limit:
            if ov.startswith(("http://", "https://")) and ov not in seen_links:
                seen_links.add(ov)
                outlinks.append(ov)
    subjects = {sv for sv, _ in per_property}
    return kept, dropped, group_iris, every_group, outlinks, _digest(lines), capped, subjects


def crosses_paths(parsed: Parsed, document_url: str) -> bool:
    """Does the document speak for a subject outside its own group path? Only then does it matter
    whether its host hosts groups by path (so only then is ``/.well-known/hubnet`` asked).
    Each distinct subject is looked at once: a profile's ~50 statements have a handful of subjects,
    and this runs on the event loop for every fetched profile. A subject written as the document's own
    URL up to its first ``#``, then ``#`` (the blank nodes named ``#_bN``, ``#group``) is in the document's
    own path without a look: ``urlsplit`` reads scheme, host, path and query from that same prefix in both."""
    if parsed.crosses is not None:   # worked out in a parser process already
        return parsed.crosses
    own = scope(document_url)
    same_document = document_url.split("#", 1)[0] + "#"
    subjects = parsed.subjects if parsed.subjects is not None else {t.subject.value for t in parsed.triples}
    return any(scope(s) != own for s in subjects if not s.startswith(same_document))


# ------------------------------------------------------------------ a stored graph (the 304 path)
def group_subjects(triples) -> list[str]:
    """IRIs typed as a group, in order of appearance."""
    out = []
    for t in triples:
        if t.predicate.value == RDF_TYPE and t.object.value in GROUP_TYPE_IRIS and t.subject.value not in out:
            out.append(t.subject.value)
    return out


def links(triples, limit: int) -> list[str]:
    """Groups this source links to: link-property targets (http/https IRIs), each once, at most ``limit``."""
    out: list[str] = []
    seen = set()
    for t in triples:
        if t.predicate.value not in LINK_PREDICATES or not isinstance(t.object, ox.NamedNode):
            continue
        target = t.object.value
        if not target.startswith(("http://", "https://")) or target in seen:
            continue
        seen.add(target)
        out.append(target)
        if len(out) >= limit:
            break
    return out


def stored_links_and_groups(store, graph: str, limit: int) -> tuple[list[str], list[str]]:
    """``links`` and ``group_subjects`` of a stored graph, reading only the statements they look at.

    An unchanged source (a 304) still passes its links on; its whole graph is ~50 statements,
    of which a handful are links and types.
    """
    g, read = ox.NamedNode(graph), store.oxigraph.quads_for_pattern
    quads = [q for p in (*sorted(LINK_PREDICATES), RDF_TYPE) for q in read(None, ox.NamedNode(p), None, g)]
    return links(quads, limit), group_subjects(quads)


def document_of(iri: str) -> str:
    """The document to fetch for a group IRI: the IRI without its fragment."""
    return urldefrag(iri)[0]


def known_groups(store) -> dict:
    """{group IRI: graph describing it} for every group in the store: no need to fetch their IRIs again."""
    out = {}
    for q in store.oxigraph.quads_for_pattern(None, ox.NamedNode(RDF_TYPE), None, None):
        if q.object.value in GROUP_TYPE_IRIS and isinstance(q.subject, ox.NamedNode):
            out.setdefault(q.subject.value, q.graph_name.value)
    return out
