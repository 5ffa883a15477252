"""Check a profile against ``shapes.ttl`` and say what is wrong in plain English.

The rules are SHACL shapes; ``shacl_subset`` checks them (pyshacl, the reference, in ~1/50 of
its time: tests/vocab/test_vocab_shacl_oracle.py holds the two to the same answers). This module
turns the results into messages that name the field the way the profile writes it
(``location.geo.latitude``), show the offending value, and say what to do.
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
from rdflib.namespace import SH

from .authority import foreign_group, id_mismatch
from .model import GROUP_TYPES, HUBNET, LINK_PROPERTIES, SCHEMA, concepts, slug_of
from .shacl_subset import BLANK, IRI, LITERAL, RDF_TYPE, Data, Rules, compile_shapes
from .shacl_subset import VIOLATION as SHACL_VIOLATION

VIOLATION = "violation"
WARNING = "warning"

_GROUP_TYPES = frozenset(str(t) for t in GROUP_TYPES)
_LINKS = frozenset(str(p) for p in LINK_PROPERTIES)
_NAME = str(SCHEMA.name)


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


@lru_cache(maxsize=1)
def rules() -> Rules:
    """shapes() compiled once for the evaluator (raises ShapesError if it uses SHACL the evaluator lacks)."""
    return compile_shapes(shapes())


@lru_cache(maxsize=None)
def group_pattern(term: str) -> re.Pattern:
    """The ``sh:pattern`` shapes.ttl gives a group's ``term`` (e.g. "email"), compiled.

    For a door that checks one answer before it builds a profile (``hubnet-node init``), so the
    rule stays written once, in shapes.ttl.
    """
    shape = URIRef("https://w3id.org/hubnet/shapes#Group")
    g = shapes()
    for prop in g.objects(shape, SH.property):
        pattern = g.value(prop, SH.pattern)
        if g.value(prop, SH.path) == SCHEMA[term] and pattern is not None:
            return re.compile(str(pattern))
    raise KeyError(f"shapes.ttl gives the group's {term!r} no pattern")


# Reverse map for field names: predicate IRI -> the term a profile writes.
def _term(pred: str) -> str:
    for sep in ("#", "/"):
        if sep in pred:
            pred = pred.rsplit(sep, 1)[-1]
    return pred


def find_groups(data: Data) -> list:
    """Subjects typed as a group (by a type in GROUP_TYPES itself), IRIs first then blank nodes, each once."""
    found = dict.fromkeys(s for s, o in data.pairs.get(RDF_TYPE, ()) if type(o) is IRI and o.value in _GROUP_TYPES)
    return sorted(found, key=lambda s: (type(s) is not IRI, s.value))


def profile_groups(data: Data) -> list:
    """The groups a profile is about: group nodes that no other group's description leads to.

    A group met inside another group's description (a link target, or an
    embedded ``funder``, ``sponsor``, ``memberOf`` object, at any depth) is a
    neighbour, not a second subject of the profile. If every group is reached
    from another one (a cycle), all of them are returned.
    """
    groups = find_groups(data)
    is_group = set(groups)
    reached = set()
    # Walk all groups' descriptions at once, each node carrying (at most two of) the groups whose
    # descriptions lead to it: a group is reached if one of them is another group. Two suffice to
    # know that, so each node is walked at most twice: linear in the statements, however many
    # groups a hostile document lists (a walk per group would be quadratic).
    sources: dict = {g: (g,) for g in groups}
    queue = deque(groups)
    while queue:
        node = queue.popleft()
        came_from = sources[node]
        for p, objects in data.edges.get(node, {}).items():
            if p == RDF_TYPE:
                continue
            for o in objects:
                if type(o) is LITERAL:
                    continue
                if o in is_group:
                    if any(g != o for g in came_from):
                        reached.add(o)
                    continue
                known = sources.get(o, ())
                if known == came_from:
                    continue   # nothing new (most nodes: reached from the one group there is)
                new = tuple(dict.fromkeys(known + came_from))[:2] if known else came_from
                if new != known:
                    sources[o] = new
                    queue.append(o)
    return [g for g in groups if g not in reached] or groups


def _paths_from_groups(data: Data, groups) -> dict:
    """node -> dotted path from the nearest group (BFS, in document order), e.g. offer node -> 'makesOffer[Hall]'.

    Link properties and other group nodes are not followed: what they point at
    is another group's profile.
    """
    paths = {g: "" for g in groups}
    others = set(find_groups(data)).difference(groups)
    queue = deque(groups)
    while queue:
        node = queue.popleft()
        for p, objects in data.edges.get(node, {}).items():
            if p == RDF_TYPE or p in _LINKS:
                continue
            for o in objects:
                if type(o) is LITERAL or o in paths or o in others:
                    continue
                step = _term(p)
                if len(objects) > 1:
                    label = next(iter(data.values(o, _NAME)), None)
                    step += f"[{label.value}]" if label is not None else "[]"
                paths[o] = f"{paths[node]}.{step}" if paths[node] else step
                queue.append(o)
    return paths


def _show(value) -> str:
    if type(value) is LITERAL:
        text = value.value
        if _numeric(text) and float(text).is_integer() and "e" not in text.lower():
            text = str(int(float(text)))
        return repr(text[:60] + "…") if len(text) > 60 else (text if _numeric(text) else repr(text))
    if type(value) is BLANK:
        return "(an embedded object)"
    return slug_of(value.value)


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def validate_graph(graph: Graph) -> Report:
    """Run the shapes over an rdflib graph and return a plain-English report."""
    return validate_data(Data.from_graph(graph))


def validate_data(data: Data) -> Report:
    """Run the shapes over a document's statements and return a plain-English report."""
    return judge(data, rules().validate)


def judge(data: Data, engine) -> Report:
    """The report on ``data`` from the SHACL results ``engine(data)`` gives (the evaluator here;
    pyshacl in the oracle test), worded for people: fields named as the profile writes them."""
    report = Report()
    groups = profile_groups(data)
    report.groups = [g.value for g in groups]
    if not groups:
        types = sorted({_term(o.value) for _, o in data.pairs.get(RDF_TYPE, ())})
        found = f" (found: {', '.join(types)})" if types else ""
        report.issues.append(Issue(VIOLATION, "@type",
                                   "@type: no group found — the profile must describe an Organization "
                                   f"(or a kind of it, such as NGO or LocalBusiness){found}"))
        return report
    results = engine(data)
    if not results:
        return report
    paths = _paths_from_groups(data, groups)
    labels = rules().labels
    issues = [issue for r in results if (issue := _issue(r, paths, labels)) is not None]
    # One issue per sentence: the same words about the same field (two empty names, a focus node
    # targeted twice) are said once. Sorted first, so which one is kept never depends on order.
    issues.sort(key=lambda i: (i.severity != VIOLATION, i.field, i.message, i.value is not None, i.value or ""))
    seen = set()
    for issue in issues:
        if (issue.severity, issue.message) not in seen:
            seen.add((issue.severity, issue.message))
            report.issues.append(issue)
    return report


def _issue(result, paths: dict, labels: dict) -> Issue | None:
    focus, path, value, source, severity, message = result
    base = paths.get(focus)
    if base is None:  # not part of the group's own profile (an embedded link target, a WebPage...)
        return None
    severity = VIOLATION if severity == SHACL_VIOLATION else WARNING
    if path is not None:
        fld = f"{base}.{_term(path)}" if base else _term(path)
    else:
        fld = base or labels.get(source) or "group"
    if path is None and value == focus and fld != "@id":
        value = None
    if fld == "@id" and type(value) is BLANK:
        text = ("@id: missing: give the group a web address (http or https) on its own website, "
                "e.g. https://example.org/#group")
    elif value is not None and message.startswith(("is ", "must ")):
        text = f"{fld}: {_show(value)} {message}"
    else:
        text = f"{fld}: {message}"
    return Issue(severity, fld, text, None if value is None else value.value)


def check_published_at(data: Data, document_url: str) -> list:
    """The aggregator's authority rule as a violation: is the profile's group on the site it is read from?"""
    groups = [g.value if type(g) is IRI else None for g in find_groups(data)]
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
_URL_TERM_SET = frozenset(URL_TERMS)


_BAD_IRI_CHARS = re.compile(r'[\s<>"{}|\\^`]')
# A plain web address: http:// or https:// (ASCII letters in any case), a host of ASCII letters, digits,
# dots and hyphens, an optional port of digits, then the end or one of / ? #. urlsplit finds that host
# (not empty), so such an address needs no urlsplit; anything else is asked of urlsplit.
_PLAIN_WEB_ADDRESS = re.compile(r"[hH][tT][tT][pP][sS]?://[A-Za-z0-9.\-]+(?::[0-9]*)?(?:[/?#]|\Z)")


def _is_web_address(value: str) -> bool:
    if _BAD_IRI_CHARS.search(value):
        return False
    if _PLAIN_WEB_ADDRESS.match(value):
        return True
    if not value.lower().startswith(("http://", "https://")):
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
            if key.startswith("@") or (key not in _URL_TERM_SET and not isinstance(value, (dict, list))):
                continue   # a keyword, or a value with nothing to check or walk into (most of them)
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
