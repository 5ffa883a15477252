"""The editor's "List us on hubs" checkbox (hubnet:indexing), as a browser submits it."""

from __future__ import annotations

import json

from hubnet import vocab

from node_helpers import edit_form, post_edit


def test_list_us_on_hubs_round_trip(editor, profile_path):
    assert "indexing" not in json.loads(profile_path.read_bytes())
    assert edit_form(editor).get("listed") == "1"                # absent means listed: ticked

    # Unticked: the browser sends no "listed" at all.
    values = edit_form(editor)
    del values["listed"]
    assert editor.post("/edit", data=values).status_code == 302
    doc = json.loads(profile_path.read_bytes())
    assert doc["indexing"] is False
    assert vocab.validate(doc).errors == []
    assert "listed" not in edit_form(editor)                     # shown unticked
    html = editor.get("/edit").get_data(as_text=True)
    assert 'name="listed" value="1" aria-describedby' in html and "List us on hubs" in html

    # Ticked again: the term is removed (absent means listed), nothing else changed.
    before = doc
    assert post_edit(editor, listed="1").status_code == 302
    doc = json.loads(profile_path.read_bytes())
    assert "indexing" not in doc and {k: v for k, v in before.items() if k != "indexing"} == doc


def test_a_form_without_the_checkbox_leaves_consent_as_it_was(editor, profile_path):
    values = edit_form(editor)
    del values["listed"]
    editor.post("/edit", data=values)
    assert json.loads(profile_path.read_bytes())["indexing"] is False
    values = edit_form(editor)
    del values["listed-shown"]                                   # an older form: no checkbox on it
    values["name"] = "Marsh Gate RA"
    assert editor.post("/edit", data=values).status_code == 302
    doc = json.loads(profile_path.read_bytes())
    assert doc["name"] == "Marsh Gate RA" and doc["indexing"] is False
