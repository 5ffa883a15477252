"""Check a profile against ``shapes.ttl`` and say what is wrong in plain English.

pyshacl does the checking; this module turns its results into messages that
name the field the way the profile writes it (``location.geo.latitude``),
show the offending value, and say what to do.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from urllib.parse import urlsplit

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import RDF, RDFS, SH

from .authority import foreign_group, id_mismatch
from .model import GROUP_TYPES, HUBNET, LINK_PROPERTIES, concepts, find_groups, slug_of

VIOLATION = "violation"
WARNING = "warning"


@dataclass
class Issue:
    severity: str      # "violation" blocks publishing; "warning" only advises
    field: str         # e.g. "location.geo.latitude", "@id", "contact"
    message: str       # the whole sentence, field first
    value: str | None = None
    code: str | None = None  # the aggregator's reason code, for a rule it refuses by (e.g. "id_mismatch")

    def to_dict(self) -> dict:
        out = {"severity": self.severity, "field": self.field, "message": self.message, "value": self.value}
        if self.code:
            out["code"] = self.code
        return out

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


@dataclass
class Report:
    issues: list = field(default_factory=list)
    groups: list = field(default_factory=list)   # IRIs (or blank-node ids) of the groups found

    @property
    def errors(self) -> list:
        return [i for i in self.issues if i.severity == VIOLATION]

    @property
    def warnings(self) -> list:
        return [i for i in self.issues if i.severity == WARNING]

    @property
    def conforms(self) -> bool:
        return not self.errors

    def errors_by_field(self) -> dict:
        """{field: [message, ...]} for showing errors next to form fields."""
        out: dict = {}
        for i in self.errors:
            out.setdefault(i.field, []).append(i.message)
        return out

    def to_dict(self) -> dict:
        return {"valid": self.conforms, "groups": self.groups,
                "errors": [i.to_dict() for i in self.errors],
                "warnings": [i.to_dict() for i in self.warnings]}

    def __str__(self) -> str:
        if not self.issues:
            return "valid: no problems found"
        lines = [("valid" if self.conforms else "invalid")
                 + f": {len(self.errors)} error(s), {len(self.warnings)} warning(s)"]
        lines += [f"  error:   {i}" for i in self.errors]
        lines += [f"  warning: {i}" for i in self.warnings]
        return "\n".join(lines)


@lru_cache(maxsize=1)
def shapes() -> Graph:
    """shapes.ttl with its conventions applied (see the file's header)."""
    g = Graph()
    g.parse(data=resources.files(__package__).joinpath("shapes.ttl").read_text(encoding="utf-8"), format="turtle")
    for shape in list(g.subjects(HUBNET.targetsGroups, Literal(True))):
        for t in GROUP_TYPES:
            g.add((shape, SH.targetClass, t))
    for shape, scheme in list(g.subject_objects(HUBNET.inScheme)):
        members = concepts(scheme)
        head = BNode()
        Collection(g, head, [URIRef(c.iri) for c in members])
        g.add((shape, SH["in"], head))
        for msg in list(g.objects(shape, SH.message)):
            if "{choices}" in str(msg):
                g.remove((shape, SH.message, msg))
                g.add((shape, SH.message, Literal(str(msg).replace("{choices}", ", ".join(c.slug for c in members)))))
    return g


# Reverse map for field names: predicate IRI -> the term a profile writes.
def _term(pred) -> str:
    s = str(pred)
    for sep in ("#", "/"):
        if sep in s:
            s = s.rsplit(sep, 1)[-1]
    return s


def profile_groups(graph: Graph) -> list:
    """The groups a profile is about: group nodes that no other group's description leads to.

    A group met inside another group's description (a link target, or an
    embedded ``funder``, ``sponsor``, ``memberOf`` object, at any depth) is a
    neighbour, not a second subject of the profile. If every group is reached
    from another one (a cycle), all of them are returned.
    """
    groups = find_groups(graph)
    is_group = set(groups)
    reached = set()
    for g in groups:  # walk each group's own description, stopping at other groups
        seen, queue = {g}, deque([g])
        while queue:
            for p, o in graph.predicate_objects(queue.popleft()):
                if p == RDF.type or isinstance(o, Literal) or o in seen:
                    continue
                seen.add(o)
                if o in is_group:
                    reached.add(o)
                else:
                    queue.append(o)
    return [g for g in groups if g not in reached] or groups


def _paths_from_groups(graph: Graph, groups) -> dict:
    """node -> dotted path from the nearest group (BFS), e.g. offer node -> 'makesOffer[Hall]'.

    Link properties and other group nodes are not followed: what they point at
    is another group's profile.
    """
    paths = {g: "" for g in groups}
    others = set(find_groups(graph)).difference(groups)
    queue = deque(groups)
    while queue:
        node = queue.popleft()
        for p, o in graph.predicate_objects(node):
            if p == RDF.type or p in LINK_PROPERTIES or isinstance(o, Literal) or o in paths or o in others:
                continue
            step = _term(p)
            if len(list(graph.objects(node, p))) > 1:
                label = graph.value(o, URIRef("http://schema.org/name"))
                step += f"[{label}]" if label is not None else "[]"
            paths[o] = f"{paths[node]}.{step}" if paths[node] else step
            queue.append(o)
    return paths


def _show(value) -> str:
    if isinstance(value, Literal):
        text = str(value)
        if _numeric(value) and float(text).is_integer() and "e" not in text.lower():
            text = str(int(float(text)))
        return repr(text[:60] + "…") if len(text) > 60 else (text if _numeric(value) else repr(text))
    if isinstance(value, BNode):
        return "(an embedded object)"
    return slug_of(str(value))


def _numeric(lit: Literal) -> bool:
    try:
        float(str(lit))
        return True
    except ValueError:
        return False


def validate_graph(graph: Graph) -> Report:
    """Run the shapes over an rdflib graph and return a plain-English report."""
    from pyshacl import validate as shacl_validate  # imported lazily: it is slow to import

    report = Report()
    groups = profile_groups(graph)
    report.groups = [str(g) for g in groups]
    if not groups:
        types = sorted({_term(t) for t in graph.objects(None, RDF.type)})
        found = f" (found: {', '.join(types)})" if types else ""
        report.issues.append(Issue(VIOLATION, "@type",
                                   "@type: no group found — the profile must describe an Organization "
                                   f"(or a kind of it, such as NGO or LocalBusiness){found}"))
        return report

    sg = shapes()
    conforms, results, _text = shacl_validate(graph, shacl_graph=sg, inference="none",
                                              allow_warnings=True, advanced=False)
    paths = _paths_from_groups(graph, groups)
    seen = set()
    for res in results.subjects(RDF.type, SH.ValidationResult):
        focus = results.value(res, SH.focusNode)
        path = results.value(res, SH.resultPath)
        value = results.value(res, SH.value)
        source = results.value(res, SH.sourceShape)
        severity = VIOLATION if results.value(res, SH.resultSeverity) == SH.Violation else WARNING
        message = str(results.value(res, SH.resultMessage) or "is not valid")
        base = paths.get(focus)
        if base is None:  # not part of the group's own profile (an embedded link target, a WebPage...)
            continue
        if path is not None:
            fld = f"{base}.{_term(path)}" if base else _term(path)
        else:
            label = sg.value(source, RDFS.label)
            fld = base or (str(label) if label is not None else "group")
            if label is not None and base == "":
                fld = str(label)
        if path is None and value == focus:
            value = None if fld != "@id" else value
        if fld == "@id" and isinstance(value, BNode):
            text = ("@id: missing: give the group a web address (http or https) on its own website, "
                    "e.g. https://example.org/#group")
        elif value is not None and message.startswith(("is ", "must ")):
            text = f"{fld}: {_show(value)} {message}"
        else:
            text = f"{fld}: {message}"
        key = (severity, text)
        if key in seen:
            continue
        seen.add(key)
        report.issues.append(Issue(severity, fld, text, None if value is None else str(value)))
    report.issues.sort(key=lambda i: (i.severity != VIOLATION, i.field))
    return report


def check_published_at(graph: Graph, document_url: str) -> list:
    """The aggregator's authority rule as a violation: is the profile's group on the site it is read from?"""
    groups = [str(g) if isinstance(g, URIRef) else None for g in find_groups(graph)]
    foreign = foreign_group(groups, document_url)
    if foreign is None:
        return []
    refusal = id_mismatch(foreign, document_url)
    return [Issue(VIOLATION, "@id", f"@id: {refusal.message}", foreign, code=refusal.code)]


# Terms whose values must be web addresses. JSON-LD turns a string that is not
# an absolute IRI into a relative one, which without a base simply vanishes: so
# these are checked on the JSON itself, before RDF can lose them.
URL_TERMS = ("url", "sameAs", "logo", "license", "memberOf", "member", "parentOrganization",
             "subOrganization", "linkedTo", "vouchesFor")


_BAD_IRI_CHARS = re.compile(r'[\s<>"{}|\\^`]')


def _is_web_address(value: str) -> bool:
    if not value.lower().startswith(("http://", "https://")) or _BAD_IRI_CHARS.search(value):
        return False
    try:
        return bool(urlsplit(value).hostname)
    except ValueError:
        return False


def check_url_strings(document) -> list:
    """Violations for link-valued terms whose string values are not absolute http(s) URLs."""
    issues = []
    stack = [(document, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack.extend((v, path) for v in node)
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key.startswith("@"):
                continue
            where = f"{path}.{key}" if path else key
            values = value if isinstance(value, list) else [value]
            if key in URL_TERMS:
                for v in values:
                    if isinstance(v, dict) and not str(v.get("@id", "_:")).startswith("_:"):
                        v = v["@id"]  # {"@id": "words"} vanishes just the same (a blank node is the shapes' call)
                    if isinstance(v, str) and not _is_web_address(v):
                        issues.append(Issue(VIOLATION, where, f"{where}: {v!r} is not a web address "
                                                              "(must start with http:// or https:// and have "
                                                              "no spaces)", v))
            stack.extend((v, where) for v in values if isinstance(v, (dict, list)))
    return issues
