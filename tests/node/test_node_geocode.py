"""Postcode -> map and areas on the group's side: ``vocab.postcodes`` (shared with the aggregator)
and ``hubnet-node init`` against a postcodes.io-shaped geocoder on loopback."""

from __future__ import annotations

import json

import pytest

from hubnet import vocab
from hubnet.vocab import postcodes

from fake_geocoder import E10_5AA, FakeGeocoder, down_url

ONS = "http://statistics.data.gov.uk/id/statistical-geography/"
BASE = ("init", "--non-interactive", "--name", "Friends of Marsh Park", "--url", "friends-marsh.example",
        "--email", "hello@friends-marsh.example")


# ------------------------------------------------------------------ vocab.postcodes (pure)
@pytest.mark.parametrize("typed, normal", [
    ("E10 5AA", "E10 5AA"), ("e105aa", "E10 5AA"), ("  e10   5aa ", "E10 5AA"), ("SW1A1AA", "SW1A 1AA"),
    ("m1 1ae", "M1 1AE"), ("B33 8TH", "B33 8TH"), ("CR2 6XH", "CR2 6XH"), ("DN55 1PT", "DN55 1PT"),
    ("W1A 0AX", "W1A 0AX"), ("EC1A 1BB", "EC1A 1BB"),
])
def test_normalise_every_uk_postcode_format(typed, normal):
    assert postcodes.normalise(typed) == normal


@pytest.mark.parametrize("typed", ["", "   ", "E10", "5AA", "E10 5A", "E10 5AAA", "10E 5AA", "E10-5AA",
                                   "../admin", "E10 5AA; DROP", "EE100 5AA", "E10 SAA"])
def test_normalise_refuses_what_is_not_a_postcode(typed):
    with pytest.raises(ValueError, match="is not a UK postcode"):
        postcodes.normalise(typed)


def test_a_result_becomes_coordinates_and_the_groups_own_area_nodes():
    place = postcodes.place_from_result("e10 5aa", E10_5AA, "https://friends-marsh.example/#group")
    assert (place.postcode, place.latitude, place.longitude) == ("E10 5AA", 51.563126, -0.010542)
    assert place.areas == [
        {"@id": "https://friends-marsh.example/#area-ward", "@type": "AdministrativeArea", "name": "Leyton",
         "identifier": "E05013898", "sameAs": ONS + "E05013898"},
        {"@id": "https://friends-marsh.example/#area-district", "@type": "AdministrativeArea",
         "name": "Waltham Forest", "identifier": "E09000031", "sameAs": ONS + "E09000031"}]


# Each hostile or broken part of an answer is left out, the rest kept.
@pytest.mark.parametrize("change, lat_kept, areas_kept", [
    ({"latitude": 91.0}, False, 2), ({"longitude": -181}, False, 2), ({"latitude": "51.5"}, False, 2),
    ({"latitude": True}, False, 2), ({"latitude": float("nan")}, False, 2), ({"latitude": None}, False, 2),
    ({"admin_ward": ""}, True, 1), ({"admin_ward": "x" * 201}, True, 1), ({"admin_ward": ["Leyton"]}, True, 1),
    ({"codes": {"admin_ward": "E0501389", "admin_district": "E09000031"}}, True, 1),
    ({"codes": {"admin_ward": "E05013898</script>", "admin_district": "E09000031"}}, True, 1),
    ({"codes": "E05013898"}, True, 0), ({"codes": None}, True, 0),
])
def test_a_broken_answer_keeps_only_what_is_sound(change, lat_kept, areas_kept):
    place = postcodes.place_from_result("E10 5AA", {**E10_5AA, **change}, "https://x.example/#group")
    assert (place.latitude is not None) == lat_kept
    assert len(place.areas) == areas_kept
    doc = {"@context": vocab.CONTEXT_IRI, "@id": "https://x.example/#group", "@type": "Organization",
           "name": "X", "email": "a@x.example"}
    assert vocab.validate(postcodes.apply(doc, place)).conforms


def test_apply_replaces_its_own_areas_and_keeps_the_groups():
    place = postcodes.place_from_result("E10 5AA", E10_5AA, "https://x.example/#group")
    doc = {"@id": "https://x.example/#group", "areaServed": "Marsh Gate estate",
           "location": {"@type": "Place", "name": "The hall", "address": {"@type": "PostalAddress",
                                                                          "streetAddress": "1 Lane"}}}
    once = postcodes.apply(doc, place)
    twice = postcodes.apply(once, place)
    assert once == twice
    assert [a if isinstance(a, str) else a["name"] for a in twice["areaServed"]] == \
        ["Leyton", "Waltham Forest", "Marsh Gate estate"]
    assert twice["location"]["name"] == "The hall"
    assert twice["location"]["address"] == {"@type": "PostalAddress", "streetAddress": "1 Lane",
                                            "postalCode": "E10 5AA"}


# ------------------------------------------------------------------ hubnet-node init
def _written(tmp_path):
    return json.loads((tmp_path / "profile.jsonld").read_text())


def test_init_puts_the_group_on_the_map_and_in_its_areas(run, tmp_path):
    with FakeGeocoder() as geo:
        result = run(*BASE, "--postcode", "e10 5aa", geocoder=geo.url)
    assert result.exit_code == 0, result.output
    assert geo.requests == ["/postcodes/E10%205AA"]
    assert "Found for E10 5AA:" in result.output
    assert "Leyton (E05013898)" in result.output and "Waltham Forest (E09000031)" in result.output
    doc = _written(tmp_path)
    assert doc["location"]["geo"] == {"@type": "GeoCoordinates", "latitude": 51.563126, "longitude": -0.010542}
    assert doc["location"]["address"]["postalCode"] == "E10 5AA"
    ward = doc["areaServed"][0]
    assert ward["@id"] == "https://friends-marsh.example/#area-ward"
    assert (ward["identifier"], ward["sameAs"]) == ("E05013898", ONS + "E05013898")
    assert vocab.validate(doc).conforms


@pytest.mark.parametrize("answer, applied", [("y", True), ("n", False), ("", True)])
def test_init_shows_what_it_found_and_asks_first(run, tmp_path, answer, applied):
    questions = "\n".join(["Friends of Marsh Park", "We look after Marsh Park.", "friends-marsh.example",
                           "hello@friends-marsh.example", "0", "E10 5AA", "Leyton", "", "parks",
                           "", "", answer]) + "\n"
    with FakeGeocoder() as geo:
        result = run("init", input=questions, geocoder=geo.url)
    assert result.exit_code == 0, result.output
    assert result.output.index("Found for E10 5AA") < result.output.index("Put these in the profile?")
    doc = _written(tmp_path)
    assert ("geo" in doc["location"]) == applied
    assert ("areaServed" in doc) == applied
    assert doc["location"]["address"]["postalCode"] == "E10 5AA"  # the postcode is kept either way


# (geocoder, postcode, what init says) — the profile is written either way, without a map position
FAILURES = [
    ("fake", "E10 9ZZ", "E10 9ZZ is not a postcode the postcode lookup at"),
    ("down", "SW1A 1AA", "could not reach the postcode lookup at"),
    ("fake", "not a postcode", "is not a UK postcode"),
]


@pytest.mark.parametrize("which, postcode, says", FAILURES)
def test_init_without_a_lookup_still_writes_the_profile(run, tmp_path, which, postcode, says):
    with FakeGeocoder() as geo:
        result = run(*BASE, "--postcode", postcode, geocoder=geo.url if which == "fake" else down_url())
    assert result.exit_code == 0, result.output
    assert says in result.output and "Traceback" not in result.output
    doc = _written(tmp_path)
    assert "geo" not in doc["location"] and "areaServed" not in doc
    assert vocab.validate(doc).conforms


def test_geocoder_off_asks_nobody(run, tmp_path):
    with FakeGeocoder() as geo:
        result = run(*BASE, "--postcode", "E10 5AA", "--geocoder", "off")
        assert geo.requests == []
    assert result.exit_code == 0 and "Found for" not in result.output
    assert "geo" not in _written(tmp_path)["location"]


# ------------------------------------------------------------------ the editor
from node_helpers import edit_form, example, form_values, login, make_app  # noqa: E402


def _editor(tmp_path, geocoder):
    doc = example()
    doc["location"].pop("geo")
    doc.pop("areaServed")
    app = make_app(tmp_path, doc, GEOCODER=geocoder)
    client = app.test_client()
    login(client)
    return app, client


def _saved(tmp_path):
    return json.loads((tmp_path / "profile.jsonld").read_text())


def test_editor_lookup_shows_the_place_before_saving_then_save_keeps_it(tmp_path):
    with FakeGeocoder() as geo:
        _app, client = _editor(tmp_path, geo.url)
        before = (tmp_path / "profile.jsonld").read_bytes()
        values = edit_form(client)
        values.update(postcode="e10 5aa", action="lookup")
        shown = client.post("/edit", data=values)
        assert shown.status_code == 200
        html = shown.get_data(as_text=True)
        assert "Found for E10 5AA" in html and "Leyton (E05013898)" in html and "Waltham Forest (E09000031)" in html
        assert (tmp_path / "profile.jsonld").read_bytes() == before, "a lookup saves nothing"
        filled = form_values(html)
        assert (filled["latitude"], filled["longitude"]) == ("51.563126", "-0.010542")
        assert filled["area_code"] == "E05013898" and filled["place_postcode"] == "E10 5AA"
        saved = client.post("/edit", data=filled)
        assert saved.status_code == 302
        assert geo.requests == ["/postcodes/E10%205AA"], "Save uses the answer already shown"
    doc = _saved(tmp_path)
    assert doc["location"]["geo"]["latitude"] == 51.563126
    assert [(a["@id"], a["identifier"], a["sameAs"]) for a in doc["areaServed"]] == [
        ("https://marshgate-ra.example.org/#area-ward", "E05013898", ONS + "E05013898"),
        ("https://marshgate-ra.example.org/#area-district", "E09000031", ONS + "E09000031")]
    assert vocab.validate(doc).conforms


def test_editor_a_new_postcode_on_save_is_shown_first(tmp_path):
    with FakeGeocoder() as geo:
        _app, client = _editor(tmp_path, geo.url)
        before = (tmp_path / "profile.jsonld").read_bytes()
        values = edit_form(client)
        values.update(postcode="SW1A 1AA")
        shown = client.post("/edit", data=values)
        assert shown.status_code == 200 and "St James&#39;s (E05013806)" in shown.get_data(as_text=True)
        assert (tmp_path / "profile.jsonld").read_bytes() == before
        assert client.post("/edit", data=form_values(shown.get_data(as_text=True))).status_code == 302
    assert _saved(tmp_path)["areaServed"][0]["name"] == "St James's"


# (geocoder, postcode, what the editor says): the profile is saved, without a map position
@pytest.mark.parametrize("which, postcode, says", FAILURES)
def test_editor_save_without_a_lookup_still_saves(tmp_path, which, postcode, says):
    with FakeGeocoder() as geo:
        _app, client = _editor(tmp_path, geo.url if which == "fake" else down_url())
        values = edit_form(client)
        values.update(postcode=postcode)
        resp = client.post("/edit", data=values, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "The postcode was not looked up" in html
    assert says.replace("'", "&#39;") in html
    doc = _saved(tmp_path)
    assert doc["location"]["address"]["postalCode"] == postcode
    assert "geo" not in doc["location"] and "areaServed" not in doc


@pytest.mark.parametrize("which, postcode, says", FAILURES)
def test_editor_lookup_button_says_why_nothing_was_found(tmp_path, which, postcode, says):
    with FakeGeocoder() as geo:
        _app, client = _editor(tmp_path, geo.url if which == "fake" else down_url())
        before = (tmp_path / "profile.jsonld").read_bytes()
        values = edit_form(client)
        values.update(postcode=postcode, action="lookup")
        resp = client.post("/edit", data=values)
    assert resp.status_code == 200
    assert "The postcode was not looked up" in resp.get_data(as_text=True)
    assert (tmp_path / "profile.jsonld").read_bytes() == before


def test_editor_with_the_geocoder_off_has_no_lookup(tmp_path):
    with FakeGeocoder() as geo:
        _app, client = _editor(tmp_path, "off")
        assert 'value="lookup"' not in client.get("/edit").get_data(as_text=True)
        values = edit_form(client)
        values.update(postcode="E10 5AA")
        assert client.post("/edit", data=values).status_code == 302
        assert geo.requests == []
