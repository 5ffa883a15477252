"""One set of rules at every door: ``hubnet-node validate FILE`` (.jsonld and .html), ``validate URL``
(JSON-LD and a web page) and the editor refuse the same profiles, naming the same field.

The family: every link term (a string that is not a web address would become a
relative IRI, which vanishes without a base and resolves against the page's
address with one, so the shapes alone never see it) and every required name
(an empty or blank text). Before, only the editor refused these.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner
from rdflib import Graph
from rdflib.collection import Collection
from rdflib.namespace import SH

from hubnet.node.cli import main
from hubnet.vocab.validate import URL_TERMS, shapes

from node_helpers import edit_form, example, field_error  # noqa: F401

PROFILE_URL = "https://marshgate-ra.example.org/profile.jsonld"
PAGE_URL = "https://marshgate-ra.example.org/"

# (field in the profile, the name the error starts with, the editor's input, value)
LINK_CASES = [(term, term, term, words) for term in URL_TERMS for words in ("just some words", "other-group")]
NAME_CASES = [("name", "name", "name", blank) for blank in ("", "   ")] + [
    ("makesOffer.name", "makesOffer.name", "offer-0-name", ""),
    ("seeks.name", "seeks.name", "need-0-name", "  "),
    ("areaServed.name", "areaServed", "area_name", ""),
]
CASES = LINK_CASES + NAME_CASES
IDS = [f"{field}={value!r}" for field, _, _, value in CASES]


def test_every_link_property_of_the_shapes_is_checked_as_json_too():
    """URL_TERMS is a hand list: every property the shapes require to be an IRI (alone or as one
    choice of an sh:or) must be on it, or a value written as words would slip past every door."""
    g: Graph = shapes()

    def wants_iri(node) -> bool:
        return (node, SH.nodeKind, SH.IRI) in g or any(
            wants_iri(m) for members in g.objects(node, SH["or"]) for m in Collection(g, members))
    iri_terms = {str(path).rsplit("/", 1)[-1].rsplit("#", 1)[-1]
                 for prop, path in g.subject_objects(SH.path) if wants_iri(prop)}
    assert "logo" in iri_terms and "vouchesFor" in iri_terms
    assert iri_terms <= set(URL_TERMS), iri_terms - set(URL_TERMS)


def _profile_with(field: str, value) -> dict:
    doc = example()
    *parents, last = field.split(".")
    node = doc
    for key in parents:
        node = node[key][0] if isinstance(node[key], list) else node[key]
    node[last] = value
    return doc


def _page(doc) -> str:
    return (f'<!doctype html><title>Us</title><script type="application/ld+json">{json.dumps(doc)}</script>'
            "<p>Welcome</p>")


def _cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, prog_name="hubnet-node")


def _door_file_jsonld(tmp_path: Path, doc):
    (tmp_path / "profile.jsonld").write_text(json.dumps(doc), encoding="utf-8")
    return _cli("validate", str(tmp_path / "profile.jsonld"))


def _door_file_html(tmp_path: Path, doc):
    (tmp_path / "index.html").write_text(_page(doc), encoding="utf-8")
    return _cli("validate", str(tmp_path / "index.html"))


@responses.activate
def _door_url_jsonld(tmp_path: Path, doc):
    responses.get(PROFILE_URL, body=json.dumps(doc), content_type="application/ld+json")
    return _cli("validate", PROFILE_URL)


@responses.activate
def _door_url_page(tmp_path: Path, doc):
    responses.get(PAGE_URL, body=_page(doc), content_type="text/html; charset=utf-8")
    return _cli("validate", PAGE_URL)


DOORS = {"FILE.jsonld": _door_file_jsonld, "FILE.html": _door_file_html, "URL (JSON-LD)": _door_url_jsonld,
         "URL (web page)": _door_url_page}


@pytest.mark.parametrize("door", DOORS)
def test_the_example_passes_every_door(tmp_path, door):
    result = DOORS[door](tmp_path, example())
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("field, named, _input, value", CASES, ids=IDS)
def test_validate_refuses_what_the_editor_refuses(tmp_path, door, field, named, _input, value):
    result = DOORS[door](tmp_path, _profile_with(field, value))
    assert result.exit_code == 1, result.output
    assert f"error:   {named}: " in result.output, result.output


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("term", URL_TERMS)
def test_a_link_written_as_an_object_is_checked_too(tmp_path, door, term):
    result = DOORS[door](tmp_path, _profile_with(term, {"@id": "just some words"}))
    assert result.exit_code == 1 and f"error:   {term}: " in result.output, result.output


@pytest.mark.parametrize("field, named, form_input, value", CASES, ids=IDS)
def test_the_editor_refuses_the_same(editor, profile_path, field, named, form_input, value):  # noqa: F811
    """The other side of the agreement: the same value typed into the editor is refused beside its input."""
    before = profile_path.read_bytes()
    values = edit_form(editor)
    values[form_input] = value
    resp = editor.post("/edit", data=values)
    assert resp.status_code == 422
    assert field_error(resp.get_data(as_text=True), form_input)
    assert profile_path.read_bytes() == before
