"""The editor: every field, validation beside the field, atomic saves, undo, publish."""

from __future__ import annotations

import json

import pytest

from hubnet import vocab
from hubnet.node import forms

from node_helpers import (EXAMPLE, button, csrf_from, edit_form, example, field_error, login, make_app, modified,
                          post_edit, versions)

EVERY_FIELD = (
    "name", "description", "url", "email", "telephone", "logo", "image", "sameAs", "foundingDate", "identifier",
    "kind", "knowsAbout", "place_name", "street", "locality", "postcode", "latitude", "longitude",
    "area_name", "area_code", "contact-0-name", "contact-0-email", "contact-0-telephone",
    "contact-0-availableLanguage", "contact-0-contactType", "memberOf", "member", "linkedTo", "vouchesFor",
    "parentOrganization", "subOrganization", "offer-0-name", "offer-0-description", "offer-0-category",
    "offer-0-area", "offer-0-validThrough", "need-0-name", "need-0-category", "license", "id", "type",
)


def test_editor_needs_login(client, profile_path):
    before = profile_path.read_bytes()
    assert client.get("/edit").headers["Location"].endswith("/login")
    for path in ("/edit/undo", "/edit/unpublish", "/edit/publish"):
        client.get("/login")  # a session with a CSRF token, but not logged in
        assert client.post(path).status_code in (302, 400)
    assert profile_path.read_bytes() == before


def test_form_covers_every_field_filled_from_the_profile(editor):
    values = edit_form(editor)
    for name in EVERY_FIELD:
        assert name in values, name
    assert values["name"] == "Marsh Gate Residents' Association"
    assert values["kind"] == "residents-association"
    assert values["knowsAbout"] == "housing repairs\ncommunity lunch\ngreen spaces"
    assert values["latitude"] == "51.5631" and values["postcode"] == "E10 5AA"
    assert values["area_code"] == "E05000000"
    assert values["contact-0-availableLanguage"] == "English\nBengali"
    assert values["offer-0-category"] == "meeting-space" and values["offer-0-validThrough"] == "2027-06-30"
    assert values["offer-count"] == "3" and values["need-count"] == "3"  # existing + 2 blank
    assert values["id"] == "https://marshgate-ra.example.org/#group"
    html = editor.get("/edit").get_data(as_text=True)
    assert 'id="latitude" name="latitude" value="51.5631" aria-describedby="latitude-hint" inputmode="decimal">' in html
    assert '<label for="postcode">Postcode</label>' in html


def test_untouched_form_changes_nothing(editor, profile_path, app):
    before = profile_path.read_bytes()
    resp = post_edit(editor)
    assert resp.status_code == 302
    assert profile_path.read_bytes() == before  # not even reformatted
    assert versions(app) == []
    assert "Nothing was changed" in editor.get("/edit").get_data(as_text=True)


@pytest.mark.parametrize("changes, field, message", [
    ({"name": ""}, "name", "every group needs a name"),
    ({"latitude": "123"}, "latitude", "123 is not a latitude (must be between -90 and 90)"),
    ({"longitude": "east"}, "longitude", "is not a longitude"),
    ({"url": "javascript:alert(1)"}, "url", "javascript:alert(1) is not a web address"),
    ({"memberOf": "javascript:alert(1)"}, "memberOf", "must be a link"),
    ({"sameAs": "https://ok.example/\njavascript:x"}, "sameAs", "is not a web address"),
    ({"email": "not an email"}, "email", "is not an email address"),
    ({"foundingDate": "last year"}, "foundingDate", "is not a date"),
    ({"id": "javascript:x"}, "id", "must be the web address"),
    ({"offer-0-validThrough": "soon"}, "offer-0-validThrough", "is not a date"),
    ({"need-0-name": ""}, "need-0-name", "needs a short name"),
    ({"contact-0-email": "nope"}, "contact-0-email", "is not an email address"),
    ({"area_name": "", "area_code": "E05000000"}, "area_name", "is not an area"),
])
def test_invalid_edit_is_refused_beside_the_field_and_the_file_is_untouched(
        editor, profile_path, app, changes, field, message):
    before = profile_path.read_bytes()
    resp = post_edit(editor, **changes)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    shown = field_error(html, field)
    assert shown and message in shown, (field, shown)
    assert f'id="{field}"' in html and 'aria-invalid="true"' in html
    assert "Nothing was saved" in html
    assert profile_path.read_bytes() == before
    assert versions(app) == []


def test_refused_form_keeps_what_was_typed(editor):
    html = post_edit(editor, latitude="123", description="Our new description").get_data(as_text=True)
    assert 'value="123"' in html
    assert "Our new description</textarea>" in html


def test_several_offers_errors_land_on_the_right_block(editor, profile_path):
    before = profile_path.read_bytes()
    html = post_edit(editor, **{"offer-1-name": "Hall", "offer-1-validThrough": "never",
                                "offer-2-description": "no name given"}).get_data(as_text=True)
    assert "is not a date" in field_error(html, "offer-1-validThrough")
    assert "needs a short name" in field_error(html, "offer-2-name")
    assert field_error(html, "offer-0-validThrough") is None
    assert profile_path.read_bytes() == before


def test_valid_edit_saves_keeps_a_version_and_shows_on_the_page(editor, client, profile_path, app):
    before = profile_path.read_bytes()
    resp = post_edit(editor, description="Repairs, green spaces and lunch.", latitude="51.57",
                     knowsAbout="housing\nlunch", **{"offer-1-name": "Tea urn", "offer-1-category": "equipment",
                                                     "need-0-remove": "1"})
    assert resp.status_code == 302
    saved = json.loads(profile_path.read_bytes())
    assert saved["description"] == "Repairs, green spaces and lunch."
    assert saved["location"]["geo"] == {"@type": "GeoCoordinates", "latitude": 51.57, "longitude": -0.0105}
    assert saved["knowsAbout"] == ["housing", "lunch"]
    assert [o["name"] for o in saved["makesOffer"]] == ["Community room for hire", "Tea urn"]
    assert "seeks" not in saved
    assert vocab.validate(saved).conforms
    kept = versions(app)
    assert len(kept) == 1 and kept[0].read_bytes() == before
    assert "Saved" in editor.get("/edit").get_data(as_text=True)
    assert "Repairs, green spaces and lunch." in client.get("/").get_data(as_text=True)


def test_fields_the_form_does_not_show_survive(tmp_path):
    doc = example()
    doc["location"]["address"]["addressRegion"] = "London"
    doc["makesOffer"][0]["price"] = "0"
    doc["name"] = {"@value": "Marsh Gate RA", "@language": "en"}
    app = make_app(tmp_path, doc)
    c = app.test_client()
    login(c)
    assert post_edit(c, postcode="E10 5AB", **{"offer-0-description": "Seats 40"}).status_code == 302
    saved = json.loads((tmp_path / "profile.jsonld").read_bytes())
    assert saved["location"]["address"] == {"@type": "PostalAddress", "streetAddress": "1 Marsh Gate Lane",
                                            "addressLocality": "Leyton", "postalCode": "E10 5AB",
                                            "addressRegion": "London"}
    assert saved["makesOffer"][0]["price"] == "0" and saved["makesOffer"][0]["description"] == "Seats 40"
    assert saved["name"] == {"@value": "Marsh Gate RA", "@language": "en"}  # untouched field kept as written


def test_undo_restores_the_previous_bytes(editor, profile_path, app):
    original = profile_path.read_bytes()
    post_edit(editor, description="First change")
    first = profile_path.read_bytes()
    post_edit(editor, description="Second change")
    assert len(versions(app)) == 2
    assert button(editor, "/edit/undo").status_code == 302
    assert profile_path.read_bytes() == first
    button(editor, "/edit/undo")
    assert profile_path.read_bytes() == original
    button(editor, "/edit/undo")
    assert profile_path.read_bytes() == original
    assert "no earlier version" in editor.get("/edit").get_data(as_text=True)


def test_undo_refuses_an_invalid_previous_version(editor, profile_path, app):
    post_edit(editor, description="Good")
    versions(app)[0].write_bytes(json.dumps(modified(name=None)).encode())
    current = profile_path.read_bytes()
    button(editor, "/edit/undo")
    assert profile_path.read_bytes() == current
    assert "not restored" in editor.get("/edit").get_data(as_text=True)


def test_unpublish_and_republish_buttons(editor, client):
    assert client.get("/profile.jsonld").status_code == 200
    assert button(editor, "/edit/unpublish").status_code == 302
    for path in ("/", "/profile.jsonld", "/profile.ttl", "/.well-known/hubnet"):
        assert client.get(path).status_code == 410
    page = editor.get("/edit").get_data(as_text=True)
    assert "Republish" in page and "unpublished" in page
    button(editor, "/edit/publish")
    for path in ("/", "/profile.jsonld", "/profile.ttl", "/.well-known/hubnet"):
        assert client.get(path).status_code == 200


def test_oversize_body_is_413_and_changes_nothing(editor, profile_path, app):
    before = profile_path.read_bytes()
    values = edit_form(editor)
    values["description"] = "x" * (300 * 1024)
    resp = editor.post("/edit", data=values)
    assert resp.status_code == 413
    assert "larger than 256 KiB" in resp.get_data(as_text=True)
    assert profile_path.read_bytes() == before
    assert versions(app) == []


def test_form_without_csrf_token_is_refused(editor, profile_path):
    before = profile_path.read_bytes()
    values = edit_form(editor)
    values.pop("csrf_token")
    values["name"] = "Hijacked"
    resp = editor.post("/edit", data=values)
    assert resp.status_code == 400
    assert "expired" in resp.get_data(as_text=True)
    values["csrf_token"] = "forged"
    assert editor.post("/edit", data=values).status_code == 400
    assert editor.post("/edit/unpublish", data={"csrf_token": "forged"}).status_code == 400
    assert profile_path.read_bytes() == before


def test_change_made_meanwhile_is_not_overwritten_silently(editor, profile_path):
    values = edit_form(editor)
    post_edit(editor, description="Changed in another window")
    changed = profile_path.read_bytes()
    values["name"] = "Stale form"
    resp = editor.post("/edit", data=values)
    assert resp.status_code == 409
    assert "changed" in resp.get_data(as_text=True)
    assert profile_path.read_bytes() == changed


def test_editor_can_write_the_first_profile(tmp_path):
    app = make_app(tmp_path, False)
    c = app.test_client()
    login(c)
    values = edit_form(c)
    assert values["license"] == "https://creativecommons.org/publicdomain/zero/1.0/"
    values.update({"name": "New Group", "id": "https://new.example/#group", "email": "hi@new.example"})
    assert c.post("/edit", data=values).status_code == 302
    saved = json.loads((tmp_path / "profile.jsonld").read_bytes())
    assert list(saved)[:3] == ["@context", "@id", "@type"]
    assert saved["@context"] == vocab.CONTEXT_IRI and saved["@type"] == "Organization"
    assert vocab.validate(saved).conforms


def test_error_paths_map_to_form_fields():
    built = forms.Built({}, {"offer": [(0, "Hall"), (2, "Tea urn")], "need": [(1, "")], "contact": [(0, "")]})
    report = vocab.Report([
        vocab.Issue("violation", "makesOffer[Tea urn].category", "makesOffer[Tea urn].category: bogus is not..."),
        vocab.Issue("violation", "seeks.name", "seeks.name: missing: x"),
        vocab.Issue("violation", "contactPoint.email", "contactPoint.email: 'a' is not an email address"),
        vocab.Issue("violation", "location.address.postalCode", "location.address.postalCode: too long"),
        vocab.Issue("violation", "contact", "contact: there is no way to contact the group"),
        vocab.Issue("violation", "group", "group: something odd"),
    ])
    by_field, general = forms.errors_for_form(report, built)
    assert by_field == {"offer-2-category": ["bogus is not..."], "need-1-name": ["missing: x"],
                        "contact-0-email": ["'a' is not an email address"], "postcode": ["too long"],
                        "email": ["there is no way to contact the group"]}
    assert general == ["group: something odd"]


def test_unreadable_profile_blocks_the_form_but_undo_still_works(editor, profile_path, app):
    post_edit(editor, description="A good version")
    profile_path.write_text("{ broken", encoding="utf-8")  # a bad hand edit
    page = editor.get("/edit").get_data(as_text=True)
    assert "cannot be read" in page and "Undo last change" in page
    resp = editor.post("/edit", data={"csrf_token": csrf_from(page), "name": "Overwrite attempt"})
    assert resp.status_code == 302
    assert profile_path.read_text() == "{ broken"
    button(editor, "/edit/undo")  # back to the version kept at the last save
    assert profile_path.read_bytes() == EXAMPLE.read_bytes()
