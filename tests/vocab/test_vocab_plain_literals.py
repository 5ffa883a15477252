"""Plain dates and numbers are read without rdflib (vocab/shacl_subset.py ``Data._canonical``, issue 18).

The evaluator keeps a typed literal in the lexical form rdflib gives it, and judges it by rdflib's
reading; making that rdflib term cost ~15 us, for every date and coordinate of every crawled profile
(each one new). A date written YYYY-MM-DD that exists is kept as it is: rdflib reads it with
``date.fromisoformat`` and writes it back unchanged, well-formed. A plain number as an xsd:double
(what pyoxigraph makes of a JSON number, "5.153228E1") is kept as ``str(float(text))``, well-formed,
and compared with a numeric bound by value: what rdflib writes and compares. The families below get
exactly what rdflib gives, every other spelling still goes through rdflib, and the reports through the
editor's door (``vocab.validate``, what ``hubnet-node validate`` runs) are those read through rdflib.
"""

from __future__ import annotations

import copy
import json
import math
import re
from datetime import date, timedelta
from pathlib import Path

import pyoxigraph as ox
import pytest

from hubnet import vocab
from hubnet.vocab import shacl_subset
from hubnet.vocab.shacl_subset import Data

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "examples" / "profile.jsonld").read_text(encoding="utf-8"))
XSD_DATE = ox.NamedNode("http://www.w3.org/2001/XMLSchema#date")
XSD_DOUBLE = ox.NamedNode("http://www.w3.org/2001/XMLSchema#double")
NEVER = re.compile(r"(?!)")

FAMILY = ["1998-04-01", "2024-02-29", "2000-02-29", "0001-01-01", "9999-12-31", "0099-07-04",
          # not plain, or not a day: rdflib decides
          "1900-02-29", "2023-02-29", "2021-04-31", "2021-13-01", "2021-00-10", "2021-01-00", "0000-01-01",
          "2021-1-01", "21-01-01", "20210101", "2021-01-01Z", "2021-01-01+01:00", "-2021-01-01",
          "2021-01-01T10:00:00", " 2021-01-01", "2021-01-01 ", "２０２１-01-01", "2021-٠١-01", "soon", ""]
DAYS = [(date(y, 1, 1) + timedelta(days=d)).isoformat() for y in (1900, 2000, 2023, 2024) for d in range(366)]


def _through_rdflib(monkeypatch, lexical: str, datatype=XSD_DATE):
    """What the evaluator kept, and its reading, with the shortcut turned off."""
    with monkeypatch.context() as m:
        m.setattr(shacl_subset, "_plain_date", lambda lexical: False)
        m.setattr(shacl_subset, "_PLAIN_DOUBLE", NEVER)
        data = Data()
        kept = data._canonical(ox.Literal(lexical, datatype=datatype))
        read = data.literal(kept)
    return kept, read


@pytest.mark.parametrize("lexical", FAMILY + DAYS[::7])
def test_a_date_is_kept_as_rdflib_keeps_it(monkeypatch, lexical):
    shacl_subset._typed.cache_clear()
    expected, expected_read = _through_rdflib(monkeypatch, lexical)
    made = []
    real = shacl_subset._typed
    monkeypatch.setattr(shacl_subset, "_typed", lambda *a: made.append(a) or real(*a))
    data = Data()
    kept = data._canonical(ox.Literal(lexical, datatype=XSD_DATE))
    assert kept == expected
    assert (made == []) is (lexical in DAYS or lexical in FAMILY[:6])   # plain dates make no rdflib term
    read = data.literal(kept)   # ... until their reading is asked for
    assert (read.value, read.ill_typed, str(read)) == (expected_read.value, expected_read.ill_typed, str(expected_read))


def test_every_day_of_four_years_is_plain():
    assert all(shacl_subset._plain_date(d) for d in DAYS)
    assert not any(shacl_subset._plain_date(d) for d in FAMILY[6:])


@pytest.mark.parametrize("field", ["foundingDate", "makesOffer.validThrough"])
@pytest.mark.parametrize("lexical", FAMILY)
def test_the_editors_report_is_the_same(monkeypatch, field, lexical):
    doc = copy.deepcopy(EXAMPLE)
    node = doc
    *parents, last = field.split(".")
    for key in parents:
        node = node[key][0] if isinstance(node[key], list) else node[key]
    node[last] = lexical
    body = json.dumps(doc).encode()
    report = vocab.validate(body, base_iri="https://marshgate-ra.example.org/profile.jsonld")
    with monkeypatch.context() as m:
        m.setattr(shacl_subset, "_plain_date", lambda lexical: False)
        m.setattr(shacl_subset, "_PLAIN_DOUBLE", NEVER)
        expected = vocab.validate(body, base_iri="https://marshgate-ra.example.org/profile.jsonld")
    assert report.to_dict() == expected.to_dict()


DOUBLES = ["5.153228E1", "-3.917E-2", "-1.794E-1", "9.0E1", "-9.0E1", "9.0000001E1", "1.8E2", "-1.80000001E2",
           "0.0E0", "-0.0E0", "1.0E-320", "1.7976931348623157E308", "1E999", "-1E999", "51.5", "51", "+51.5",
           "051.50", "1e2", "1.5e-3",
           # not plain: rdflib decides
           "NaN", "INF", "-INF", "inf", " 51.5", "51.5 ", "5_1.5", ".5", "5.", "1e", "0x1p3", "north", "", "٥١.٥"]


@pytest.mark.parametrize("lexical", DOUBLES)
def test_a_number_is_kept_and_judged_as_rdflib_does(monkeypatch, lexical):
    shacl_subset._typed.cache_clear()
    expected, expected_read = _through_rdflib(monkeypatch, lexical, XSD_DOUBLE)
    data = Data()
    kept = data._canonical(ox.Literal(lexical, datatype=XSD_DOUBLE))
    assert kept == expected
    plain = shacl_subset._PLAIN_DOUBLE.fullmatch(lexical) is not None
    assert (kept in data.doubles) is plain and plain is (DOUBLES.index(lexical) < 20)
    if plain:   # well-formed, the value rdflib reads
        assert (data.doubles[kept], expected_read.ill_typed) == (expected_read.value, False)
    # and every constraint on a number says what it says of rdflib's reading
    for check in _number_checks():
        with monkeypatch.context() as m:
            m.setattr(shacl_subset, "_PLAIN_DOUBLE", NEVER)
            slow = Data()
            kept_slow = slow._canonical(ox.Literal(lexical, datatype=XSD_DOUBLE))
            expected_ok = _outcome(check, kept_slow, slow)
        assert _outcome(check, kept, data) == expected_ok, check


def _outcome(check, value, data):
    try:
        return check(value, data)
    except Exception as exc:   # rdflib comparing NaN with a decimal raises: so must the shortcut
        return type(exc)


def _number_checks():
    """The value checks shapes.ttl puts on numbers (sh:datatype in an sh:or, the coordinates' bounds),
    and bounds of each numeric kind, compiled by the evaluator."""
    from decimal import Decimal

    from rdflib import Literal
    from rdflib.namespace import SH, XSD

    checks = [shacl_subset._datatype(dt) for dt in (XSD.double, XSD.decimal, XSD.integer, XSD.float)]
    for bound in (Literal(-90), Literal(90), Literal(180), Literal(Decimal("51.5")), Literal(51.5),
                  Literal("51.5", datatype=XSD.float), Literal(0)):
        checks.append(shacl_subset._bound(bound, SH.minInclusive, lambda c: c >= 0))
        checks.append(shacl_subset._bound(bound, SH.maxInclusive, lambda c: c <= 0))
    return checks


@pytest.mark.parametrize("lexical", DOUBLES)
def test_the_editors_report_on_a_coordinate_is_the_same(monkeypatch, lexical):
    doc = copy.deepcopy(EXAMPLE)
    doc["location"]["geo"]["latitude"] = {"@value": lexical, "@type": "http://www.w3.org/2001/XMLSchema#double"}
    number = float(lexical) if shacl_subset._PLAIN_DOUBLE.fullmatch(lexical) else None
    doc["location"]["geo"]["longitude"] = number if number is not None and math.isfinite(number) else lexical
    body = json.dumps(doc).encode()
    report = vocab.validate(body, base_iri="https://marshgate-ra.example.org/profile.jsonld")
    with monkeypatch.context() as m:
        m.setattr(shacl_subset, "_PLAIN_DOUBLE", NEVER)
        expected = vocab.validate(body, base_iri="https://marshgate-ra.example.org/profile.jsonld")
    assert report.to_dict() == expected.to_dict()
