"""A plain xsd:date is read without rdflib (vocab/shacl_subset.py ``Data._canonical``, issue 18).

The evaluator keeps a typed literal in the lexical form rdflib gives it, and remembers rdflib's reading;
making that rdflib term cost ~15 us, for every date of every crawled profile (each one new). A date
written YYYY-MM-DD that exists is kept as it is: rdflib reads it with ``date.fromisoformat`` and writes
it back unchanged, well-formed. The family below (and every day of four years) gets exactly what
rdflib gives, and every other spelling still goes through rdflib; the reports through the editor's
door (``vocab.validate``, what ``hubnet-node validate`` runs) are those of the rule read through rdflib.
"""

from __future__ import annotations

import copy
import json
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

FAMILY = ["1998-04-01", "2024-02-29", "2000-02-29", "0001-01-01", "9999-12-31", "0099-07-04",
          # not plain, or not a day: rdflib decides
          "1900-02-29", "2023-02-29", "2021-04-31", "2021-13-01", "2021-00-10", "2021-01-00", "0000-01-01",
          "2021-1-01", "21-01-01", "20210101", "2021-01-01Z", "2021-01-01+01:00", "-2021-01-01",
          "2021-01-01T10:00:00", " 2021-01-01", "2021-01-01 ", "２０２１-01-01", "2021-٠١-01", "soon", ""]
DAYS = [(date(y, 1, 1) + timedelta(days=d)).isoformat() for y in (1900, 2000, 2023, 2024) for d in range(366)]


def _through_rdflib(monkeypatch, lexical: str):
    """What the evaluator kept, and its reading, with the shortcut turned off."""
    with monkeypatch.context() as m:
        m.setattr(shacl_subset, "_plain_date", lambda lexical: False)
        data = Data()
        kept = data._canonical(ox.Literal(lexical, datatype=XSD_DATE))
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
        expected = vocab.validate(body, base_iri="https://marshgate-ra.example.org/profile.jsonld")
    assert report.to_dict() == expected.to_dict()
