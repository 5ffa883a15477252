"""A SHACL evaluator for exactly the part of SHACL that ``shapes.ttl`` uses, compiled once.

pyshacl checked a profile in ~12 ms, most of it generic machinery (a shapes-graph cache rebuilt
per call, rdflib ``triples()`` for every value). The rules in ``shapes.ttl`` need far less: node
shapes with ``sh:targetClass`` / ``sh:targetObjectsOf``; node-level ``sh:nodeKind``,
``sh:pattern``, ``sh:or``; property shapes with a one-predicate ``sh:path`` and ``sh:minCount``,
``sh:maxCount``, ``sh:pattern``, ``sh:maxLength``, ``sh:nodeKind``, ``sh:datatype``,
``sh:minInclusive``, ``sh:maxInclusive``, ``sh:in``, ``sh:or``, ``sh:node``, ``sh:severity``,
``sh:message``. This module implements those, with pyshacl's answers where SHACL leaves room
(a blank node fails ``sh:pattern`` and ``sh:maxLength``; a typed literal is read, and judged
ill-formed, as rdflib reads it; ``sh:targetClass`` follows ``rdfs:subClassOf`` in the data), and
REFUSES at compile time a shapes graph that uses anything else (``ShapesError``): an edit to
``shapes.ttl`` that the evaluator would not understand fails loudly rather than being ignored.
``tests/vocab/test_vocab_shacl_oracle.py`` holds it to pyshacl, which stays the reference.

Data terms are pyoxigraph terms (what ``vocab.parse`` produces); predicates are IRI strings.
Shapes keep their node in the shapes graph, so a result names its source shape as pyshacl does.
"""

from __future__ import annotations

import re
import warnings
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS, SH, XSD

from .model import HUBNET

IRI, BLANK, LITERAL = ox.NamedNode, ox.BlankNode, ox.Literal
RDF_TYPE = str(RDF.type)
SUBCLASS_OF = str(RDFS.subClassOf)
XSD_STRING = str(XSD.string)
XSD_DATE = str(XSD.date)
XSD_DOUBLE = str(XSD.double)
NUMERIC_BOUND_TYPES = frozenset(str(t) for t in (XSD.integer, XSD.decimal, XSD.double, XSD.float))
LANG_STRING = str(RDF.langString)
TEXT_TYPES = (XSD_STRING, LANG_STRING)
VIOLATION = str(SH.Violation)

NODE_KINDS = {
    SH.IRI: (IRI,), SH.Literal: (LITERAL,), SH.BlankNode: (BLANK,),
    SH.BlankNodeOrIRI: (BLANK, IRI), SH.BlankNodeOrLiteral: (BLANK, LITERAL), SH.IRIOrLiteral: (IRI, LITERAL),
}
# Predicates a shape may carry that say nothing to the evaluator: names for people, and the
# conventions vocab.validate.shapes() has already turned into sh:targetClass and sh:in.
ANNOTATIONS = {RDFS.label, RDFS.comment, SH.name, SH.description, HUBNET.targetsGroups, HUBNET.inScheme}
SHAPE_TYPES = {SH.NodeShape, SH.PropertyShape}
VALUE_CONSTRAINTS = (SH.nodeKind, SH.pattern, SH.maxLength, SH.datatype, SH.minInclusive, SH.maxInclusive,
                     SH["in"], SH["or"], SH.node)
COUNT_CONSTRAINTS = (SH.minCount, SH.maxCount)
STRUCTURE = (SH.path, SH.property, SH.targetClass, SH.targetObjectsOf, SH.severity, SH.message)
KNOWN = set(VALUE_CONSTRAINTS) | set(COUNT_CONSTRAINTS) | set(STRUCTURE) | ANNOTATIONS | {RDF.type}
MANY = {SH.property, SH.targetClass, SH.targetObjectsOf}   # the only terms a shape may give more than once


class ShapesError(ValueError):
    """The shapes graph uses something this evaluator does not implement (or is malformed)."""


class Result(NamedTuple):
    """One validation result, as pyshacl reports it (sh:focusNode, sh:resultPath, sh:value,
    sh:sourceShape, sh:resultSeverity, sh:resultMessage)."""

    focus: object          # pyoxigraph term
    path: str | None       # the property IRI; None for a node shape's own constraint
    value: object          # pyoxigraph term; None for sh:minCount / sh:maxCount
    shape: object          # the shape's node in the shapes graph (rdflib term)
    severity: str          # sh:Violation, sh:Warning or sh:Info (IRI)
    message: str


# ------------------------------------------------------------------ the data
_NO_EDGES: dict = {}   # a subject's edges when it has none (shared: never added to)


class Data:
    """A document's statements as the evaluator (and vocab.validate's wording) reads them.

    ``edges``: subject -> {predicate IRI: {object: None}} (dicts as ordered sets: the document's
    order, each statement once, as in an RDF graph); ``pairs``: predicate IRI -> [(subject, object)].
    A typed literal (a number, a date, a boolean) is kept in the lexical form rdflib gives it
    ("5.15E1" -> "51.5"), so that patterns, lengths, counts and the values shown are those pyshacl
    saw through rdflib; ``literal`` gives rdflib's reading of it (its value, or that it is ill-formed:
    "no"^^xsd:boolean reads as "false", ill-formed). A plain date or number (``_plain_date``,
    ``_PLAIN_DOUBLE``), as every profile holds, is read without rdflib (~15 us a term, and each one
    is new): ``doubles`` holds the float rdflib would read such an xsd:double as.
    """

    __slots__ = ("edges", "pairs", "originals", "doubles")

    def __init__(self):
        self.edges: dict = {}
        self.pairs: dict = {}
        self.originals: dict = {}   # a typed literal whose lexical form rdflib changed -> rdflib's Literal
        self.doubles: dict = {}     # a plain xsd:double, as kept here -> its value (what rdflib reads)

    def add(self, s, p: str, o) -> None:
        if type(o) is LITERAL:
            o = self._canonical(o)
        by_predicate = self.edges.get(s)
        if by_predicate is None:
            by_predicate = self.edges[s] = {}
        objects = by_predicate.get(p)
        if objects is None:
            by_predicate[p] = {o: None}
        elif o in objects:
            return
        else:
            objects[o] = None
        pairs = self.pairs.get(p)
        if pairs is None:
            self.pairs[p] = [(s, o)]
        else:
            pairs.append((s, o))

    def _canonical(self, lit, read: Literal | None = None):
        datatype = lit.datatype
        dt = datatype.value
        if dt in TEXT_TYPES:
            return lit
        if read is None:
            if dt == XSD_DATE and _plain_date(lit.value):
                return lit   # rdflib reads it as it is, well-formed
            if dt == XSD_DOUBLE and _PLAIN_DOUBLE.fullmatch(lit.value):
                # rdflib reads float(text), well-formed, and writes str() of that float
                value = float(lit.value)
                text = str(value)
                if text != lit.value:
                    lit = LITERAL(text, datatype=datatype)
                self.doubles[lit] = value
                return lit
            read = _typed(lit.value, dt)
        text = str(read)
        if text == lit.value and read.ill_typed is not True:
            return lit
        lit = LITERAL(text, datatype=datatype)
        self.originals.setdefault(lit, read)
        return lit

    def literal(self, lit) -> Literal:
        """rdflib's reading of a typed literal held here."""
        read = self.originals.get(lit)
        return _typed(lit.value, lit.datatype.value) if read is None else read

    @classmethod
    def from_rows(cls, rows) -> Data:
        """From ``vocab.parse.document_rows`` rows (terms already read, predicate IRIs in hand)."""
        data = cls()
        add = data.add
        for row in rows:
            add(row[1], row[5], row[3])
        return data

    @classmethod
    def from_quads(cls, quads) -> Data:
        """From pyoxigraph triples (``vocab.triples``)."""
        data = cls()
        for q in quads:
            data.add(q.subject, q.predicate.value, q.object)
        return data

    @classmethod
    def from_graph(cls, graph: Graph) -> Data:
        """From an rdflib Graph (its blank-node ids kept, so results name the graph's own nodes)."""
        data = cls()
        for s, p, o in graph:
            term = to_ox(o)
            if isinstance(o, Literal) and type(term) is LITERAL and term.datatype.value not in TEXT_TYPES:
                term = data._canonical(term, o)
            data.add(to_ox(s), str(p), term)
        return data

    def values(self, s, p: str):
        return self.edges.get(s, _NO_EDGES).get(p, ())

    def subjects_by_object(self, p: str) -> dict:
        out: dict = {}
        for s, o in self.pairs.get(p, ()):
            out.setdefault(o, []).append(s)
        return out


def to_ox(term):
    """An rdflib term as a pyoxigraph term (a literal in rdflib's lexical form)."""
    if isinstance(term, URIRef):
        return IRI(str(term))
    if isinstance(term, BNode):
        return BLANK(str(term))
    if term.language:
        return LITERAL(str(term), language=term.language)
    return LITERAL(str(term), datatype=IRI(str(term.datatype or XSD.string)))


_PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A number as pyoxigraph writes a JSON number's xsd:double ("5.153228E1"), and its plainer spellings.
_PLAIN_DOUBLE = re.compile(r"[-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def _plain_date(lexical: str) -> bool:
    """Is ``lexical`` a YYYY-MM-DD date that exists? rdflib reads such an xsd:date with
    ``date.fromisoformat`` and writes it back with ``isoformat()``: the same text, well-formed."""
    if _PLAIN_DATE.fullmatch(lexical) is None:
        return False
    try:
        date.fromisoformat(lexical)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=4096)
def _typed(lexical: str, datatype: str) -> Literal:
    with warnings.catch_warnings():   # rdflib warns about e.g. "yes"^^xsd:boolean; it is judged, not logged
        warnings.simplefilter("ignore")
        return Literal(lexical, datatype=URIRef(datatype))


# ------------------------------------------------------------------ constraint components
# Each value constraint compiles to ok(value, data) -> bool; pyshacl's semantics are noted where
# SHACL leaves room.
def _node_kind(kind):
    allowed = NODE_KINDS.get(kind)
    if allowed is None:
        raise ShapesError(f"sh:nodeKind {kind} is not a node kind")
    return lambda v, data: type(v) in allowed


def _pattern(param):
    if not isinstance(param, Literal) or not isinstance(param.value, str):
        raise ShapesError(f"sh:pattern {param!r} is not a string")
    search = re.compile(str(param)).search   # Python's re, as pyshacl (no sh:flags: refused)
    return lambda v, data: type(v) is not BLANK and search(v.value) is not None


def _max_length(param):
    limit = _count(param, SH.maxLength)
    return lambda v, data: type(v) is not BLANK and len(v.value) <= limit


def _count(param, name) -> int:
    if not isinstance(param, Literal) or type(param.value) is not int or param.value < 0:
        raise ShapesError(f"{name} {param!r} is not a non-negative integer")
    return param.value


_PYTHON_TYPES = {str(XSD.integer): int, str(XSD.float): float, str(XSD.decimal): Decimal, str(XSD.boolean): bool,
                 str(XSD.date): date, str(XSD.time): time, str(XSD.dateTime): datetime}


def _actual(value, datatype: str) -> bool:
    """pyshacl's check that a well-formed literal's value is of its datatype's Python type."""
    expected = _PYTHON_TYPES.get(datatype)
    return expected is None or isinstance(value, expected)


def _datatype(param):
    if not isinstance(param, URIRef) or param in (RDFS.Literal, RDFS.Datatype):
        raise ShapesError(f"sh:datatype {param} is not implemented (a plain datatype IRI is)")
    wanted = str(param)
    if wanted in TEXT_TYPES:   # a string (or a tagged string) is never ill-formed
        return lambda v, data: type(v) is LITERAL and v.datatype.value == wanted

    def ok(v, data):
        if type(v) is not LITERAL or v.datatype.value != wanted:
            return False
        if v in data.doubles:
            return True   # a plain xsd:double: well-formed, a float
        lit = data.literal(v)
        return lit.ill_typed is not True and _actual(lit.value, wanted)
    return ok


def _compare(value: Literal, bound: Literal) -> int:
    """pyshacl's compare_literal: -1, 0 or 1; raises TypeError when the two cannot be ordered."""
    if value.eq(bound):
        return 0
    if value.value.__class__ in (datetime, time):
        if value.value == bound.value:
            return 0
        if value.value > bound.value:
            return 1
    elif value > bound:
        return 1
    return -1


def _bound(param, name, holds):
    if not isinstance(param, Literal) or not isinstance(param.value, (int, float, Decimal)) \
            or isinstance(param.value, bool):
        raise ShapesError(f"{name} {param!r} is not implemented (a numeric bound is)")
    # rdflib compares two well-formed numbers by their values (Literal.eq, Literal.__gt__)
    bound = param.value if str(param.datatype) in NUMERIC_BOUND_TYPES and param.ill_typed is not True else None

    def ok(v, data):
        if type(v) is not LITERAL or v.datatype.value in TEXT_TYPES:
            return False   # an IRI, a blank node or a text is never in range of a number
        if bound is not None:
            value = data.doubles.get(v)
            if value is not None:
                return holds(0 if value == bound else 1 if value > bound else -1)
        lit = data.literal(v)
        if isinstance(lit.value, str):
            return False
        try:
            return holds(_compare(lit, param))
        except (TypeError, NotImplementedError):
            return False
    return ok


class Shape:
    """A compiled shape: what it targets, its path, its constraints, and what its results say."""

    def __init__(self, node, path: str | None):
        self.node = node
        self.path = path
        self.severity = VIOLATION
        self.message: str | None = None
        self.label: str | None = None
        self.min_count: int | None = None
        self.max_count: int | None = None
        self.checks: list = []        # ok(value, data) -> bool
        self.properties: list = []    # property Shapes
        self.target_classes: list = []
        self.target_objects_of: list = []

    def value_nodes(self, focus, data):
        return (focus,) if self.path is None else data.values(focus, self.path)

    def conforms(self, focus, data) -> bool:
        """Does ``focus`` conform (for sh:or and sh:node: no results, just yes or no)?"""
        values = self.value_nodes(focus, data)
        if self.min_count is not None and len(values) < self.min_count:
            return False
        if self.max_count is not None and len(values) > self.max_count:
            return False
        for ok in self.checks:
            for v in values:
                if not ok(v, data):
                    return False
        return all(p.conforms(focus, data) for p in self.properties)

    def report(self, focus, data, out: list) -> None:
        """Append every result of ``focus`` against this shape (and its property shapes) to ``out``."""
        self._report(focus, self.value_nodes(focus, data), data, out)
        if self.properties:
            # a property shape has one predicate and no property shapes of its own (compile_shapes)
            by_predicate = data.edges.get(focus, _NO_EDGES)
            for p in self.properties:
                p._report(focus, by_predicate.get(p.path, ()), data, out)

    def _report(self, focus, values, data, out: list) -> None:
        """This shape's own results for ``focus``, whose value nodes are ``values``."""
        if (self.min_count is not None and len(values) < self.min_count) or \
                (self.max_count is not None and len(values) > self.max_count):
            out.append(Result(focus, self.path, None, self.node, self.severity, self.message))
        if values:
            for ok in self.checks:
                for v in values:
                    if not ok(v, data):
                        out.append(Result(focus, self.path, v, self.node, self.severity, self.message))

    def focus_nodes(self, data, typed: dict) -> dict:
        """The shape's targets in ``data`` (each once): instances of each target class (``typed``:
        class -> its instances, subclasses in the data included), and every object of each
        targetObjectsOf property, literals included."""
        found: dict = {}
        for cls in self.target_classes:
            instances = typed.get(cls)
            if instances:
                found.update(instances)
        for p in self.target_objects_of:
            pairs = data.pairs.get(p)
            if pairs:
                found.update(dict.fromkeys(o for _, o in pairs))
        return found


def _instances(data: Data, classes) -> dict:
    """class -> {instance: None} for the target ``classes``, counting an instance of a subclass as one
    of the class when the data says so (pyshacl reads rdfs:subClassOf, transitively, in the data
    graph for sh:targetClass). One walk per target class: the work is bounded by the number of
    target classes times the statements, whatever subclass tangle a document draws."""
    typed: dict = {}
    for s, o in data.pairs.get(RDF_TYPE, ()):
        instances = typed.get(o)
        if instances is None:
            typed[o] = {s: None}
        else:
            instances[s] = None
    if SUBCLASS_OF not in data.pairs:
        return typed
    subclasses = data.subjects_by_object(SUBCLASS_OF)
    out = {}
    for cls in classes:
        found: dict = {}
        for c in _with_subclasses(cls, subclasses):
            found.update(typed.get(c, {}))
        out[cls] = found
    return out


def _with_subclasses(cls, subclasses: dict) -> dict:
    seen = {cls: None}
    todo = [cls]
    while todo:
        for sub in subclasses.get(todo.pop(), ()):
            if sub not in seen:
                seen[sub] = None
                todo.append(sub)
    return seen


# ------------------------------------------------------------------ compiling
class Rules:
    """Every shape of a shapes graph, compiled; ``validate(data)`` gives pyshacl's results."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self._shapes: dict = {}
        self._compiling: set = set()
        self._nested: set = set()    # shapes met inside sh:or / sh:node: they report nothing
        self._shapes_with_node: set = set()
        for node in _shape_nodes(graph):
            self._shape(node)
        self.targeted = [s for s in self._shapes.values() if s.target_classes or s.target_objects_of]
        self.target_classes = list(dict.fromkeys(c for s in self.targeted for c in s.target_classes))
        for shape in self.targeted:
            self._check_reporting(shape)
        self.labels = {s.node: s.label for s in self._shapes.values() if s.label is not None}

    def validate(self, data: Data) -> list:
        out: list = []
        typed = _instances(data, self.target_classes)
        for shape in self.targeted:
            for focus in shape.focus_nodes(data, typed):
                shape.report(focus, data, out)
        return out

    def _shape(self, node) -> Shape:
        shape = self._shapes.get(node)
        if shape is not None:
            return shape
        if node in self._compiling:
            raise ShapesError(f"{node}: a shape that refers to itself (recursive shapes are not implemented)")
        self._compiling.add(node)
        shape = self._compile(node)
        self._compiling.discard(node)
        self._shapes[node] = shape
        return shape

    def _one(self, node, pred):
        values = list(self.graph.objects(node, pred))
        if len(values) > 1 and pred not in MANY:
            raise ShapesError(f"{node}: more than one {pred} (not implemented)")
        return values[0] if values else None

    def _compile(self, node) -> Shape:
        g = self.graph
        for pred, obj in g.predicate_objects(node):
            if pred not in KNOWN:
                raise ShapesError(f"{node}: {pred} is not implemented by vocab/shacl_subset.py; "
                                  "implement it (and hold it to pyshacl in the oracle test) before using it")
            if pred == RDF.type and obj not in SHAPE_TYPES:
                raise ShapesError(f"{node}: rdf:type {obj} is not implemented (implicit class targets)")
            self._one(node, pred)
        path = self._one(node, SH.path)
        if path is not None and not isinstance(path, URIRef):
            raise ShapesError(f"{node}: sh:path {path} is not one predicate (property paths are not implemented)")
        shape = Shape(node, None if path is None else str(path))
        targets = list(g.objects(node, SH.targetClass)) + list(g.objects(node, SH.targetObjectsOf))
        if targets and path is not None:
            raise ShapesError(f"{node}: a property shape with targets is not implemented")
        if not all(isinstance(t, URIRef) for t in targets):
            raise ShapesError(f"{node}: a target that is not an IRI")
        shape.target_classes = [IRI(str(c)) for c in g.objects(node, SH.targetClass)]
        shape.target_objects_of = [str(p) for p in g.objects(node, SH.targetObjectsOf)]
        severity = self._one(node, SH.severity)
        if severity is not None:
            if severity not in (SH.Violation, SH.Warning, SH.Info):
                raise ShapesError(f"{node}: sh:severity {severity} is not a severity")
            shape.severity = str(severity)
        message = self._one(node, SH.message)
        shape.message = None if message is None else str(message)
        label = self._one(node, RDFS.label)
        shape.label = None if label is None else str(label)
        for pred in COUNT_CONSTRAINTS:
            param = self._one(node, pred)
            if param is not None and path is None:
                raise ShapesError(f"{node}: {pred} on a node shape is not implemented")
            if param is not None:
                setattr(shape, "min_count" if pred == SH.minCount else "max_count", _count(param, pred))
        if shape.min_count == 0:
            shape.min_count = None   # sh:minCount 0 always holds
        for pred in VALUE_CONSTRAINTS:
            param = self._one(node, pred)
            if param is not None:
                shape.checks.append(self._value_check(node, pred, param))
        for prop in g.objects(node, SH.property):
            if path is not None:
                raise ShapesError(f"{node}: sh:property on a property shape is not implemented")
            member = self._shape(prop)
            if member.path is None:
                raise ShapesError(f"{prop}: a sh:property shape without a sh:path")
            shape.properties.append(member)
        return shape

    def _value_check(self, node, pred, param):
        if pred == SH.nodeKind:
            return _node_kind(param)
        if pred == SH.pattern:
            return _pattern(param)
        if pred == SH.maxLength:
            return _max_length(param)
        if pred == SH.datatype:
            return _datatype(param)
        if pred == SH.minInclusive:
            return _bound(param, pred, lambda c: c >= 0)
        if pred == SH.maxInclusive:
            return _bound(param, pred, lambda c: c <= 0)
        if pred == SH["in"]:
            members = self._list(node, param)
            if not all(isinstance(m, URIRef) for m in members):
                raise ShapesError(f"{node}: sh:in with members other than IRIs is not implemented")
            allowed = frozenset(str(m) for m in members)
            return lambda v, data: type(v) is IRI and v.value in allowed
        if pred == SH["or"]:
            shapes = [self._nested_shape(m) for m in self._list(node, param)]
            return lambda v, data: any(s.conforms(v, data) for s in shapes)
        # sh:node
        self._shapes_with_node.add(node)
        shape = self._nested_shape(param)
        if shape.path is not None:
            raise ShapesError(f"{node}: sh:node {param} is a property shape")
        return shape.conforms

    def _nested_shape(self, node) -> Shape:
        shape = self._shape(node)
        self._mark_nested(shape)
        return shape

    def _mark_nested(self, shape: Shape) -> None:
        """A shape used by sh:or / sh:node only says yes or no: a severity there would change the
        answer under pyshacl's allow_warnings (not implemented), targets would make it report."""
        if shape.severity != VIOLATION or shape.target_classes or shape.target_objects_of:
            raise ShapesError(f"{shape.node}: sh:severity or a target on a shape inside sh:or / sh:node "
                              "is not implemented")
        self._nested.add(shape.node)
        for p in shape.properties:
            self._mark_nested(p)

    def _check_reporting(self, shape: Shape) -> None:
        """Every shape whose results are reported says what is wrong in its own words: pyshacl's
        generic messages ("Less than 1 values on ...") are not implemented."""
        reports = shape.checks or shape.min_count is not None or shape.max_count is not None
        if reports and shape.message is None:
            raise ShapesError(f"{shape.node}: a shape that reports results needs a sh:message")
        if shape.node in self._shapes_with_node:
            raise ShapesError(f"{shape.node}: sh:node on a shape that reports is not implemented (pyshacl then "
                              "also reports the nested shape's own results, as sh:detail); use it inside sh:or")
        if shape.node in self._nested and shape.path is not None:
            raise ShapesError(f"{shape.node}: a property shape used both inside sh:or / sh:node and to report "
                              "is not implemented")
        for p in shape.properties:
            self._check_reporting(p)

    def _list(self, node, head) -> list:
        try:
            members = list(self.graph.items(head))
        except (ValueError, TypeError):
            members = []
        if not members:
            raise ShapesError(f"{node}: the list {head} is empty or not an RDF list")
        return members


def _shape_nodes(graph: Graph) -> list:
    """Every subject of the shapes graph but the cells of its RDF lists: all of them must be shapes
    this module understands (a stray SHACL term anywhere is refused, not ignored)."""
    cells = set(graph.subjects(RDF.first, None))
    return [s for s in dict.fromkeys(graph.subjects()) if s not in cells]


def compile_shapes(graph: Graph) -> Rules:
    """Compile a shapes graph; raises ShapesError if it uses anything not implemented here."""
    return Rules(graph)
