"""The editor at /edit: change the profile, undo, unpublish and republish.

A submitted form becomes a profile dict (``forms.build``), which is validated
with the same rules aggregators use. Only a profile that passes replaces the
live file; otherwise the form comes back with each message beside its field
and the file on disk is not touched. Every change is followed by a ping to
the configured hubs (waited for briefly, so the page can say per hub whether
it was told). A new postcode (or the "Look up" button) is looked up first and
what it gives (map position, ward and council area) is shown in the form;
nothing is saved until the volunteer presses Save on what they have seen.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from hubnet import vocab
from hubnet.vocab import DocumentError, ProfileInvalid

from . import forms
from .auth import login_required
from .doc import dump, is_simple
from .geocode import GeocodeError
from .services import public_profile_url, services
from .storage import ChangedMeanwhile

log = logging.getLogger(__name__)

bp = Blueprint("editor", __name__, url_prefix="/edit")

CHANGED_MEANWHILE = ("The profile was changed (in another window, or by someone else) after you opened this "
                     "form, so your changes have not been saved yet. Check the form below and save again to "
                     "replace that change with yours.")


def _current():
    """(bytes or None, dict or None, problem message or None) of the live profile."""
    store = services().store
    if not store.exists():
        return None, None, None
    data = store.read_bytes()
    try:
        doc = vocab.read_document(data)
    except DocumentError as exc:
        return data, None, f"The profile file cannot be read ({exc.message}). Fix it by hand, or use Undo."
    if not is_simple(doc):
        return data, None, ("This profile holds several objects (an @graph or a list), which the editor "
                            "cannot change without losing some of them. Edit the file by hand.")
    return data, doc, None


def _page(form, *, errors=None, general=None, status=200, suggestions=(), found=None, lookup_problem=None):
    store = services().store
    return render_template(
        "edit.html", form=form, errors=errors or {}, general=general or [], suggestions=suggestions,
        found=found, lookup_problem=lookup_problem, geocoder=services().geocoder.enabled,
        hubs=services().pinger.status(),
        kinds=vocab.kinds(), categories=vocab.categories(), type_choices=forms.TYPE_CHOICES,
        published=store.is_published(), undo_count=len(store.versions()), exists=store.exists(),
    ), status


def _ping(doc) -> None:
    """Tell the hubs, waiting (a little) for their answers so the page shows whether they were told."""
    thread = services().pinger.ping(public_profile_url(doc))
    if thread is not None:
        thread.join(current_app.config["PING_TIMEOUT"] + 1)


@bp.get("")
@login_required
def edit():
    data, doc, problem = _current()
    if problem:
        return render_template("edit_blocked.html", message=problem,
                               undo_count=len(services().store.versions()),
                               published=services().store.is_published())
    public = current_app.config.get("PUBLIC_URL")
    report = vocab.validate(doc, published_at=public and public + "/profile.jsonld") if doc else None
    suggestions = [f"aggregators will refuse the profile at {public}/ ({i.code}): {i.message}" if i.code
                   else i.message for i in report.issues if i.code or i.severity == "warning"] if report else []
    return _page(forms.from_profile(doc, data), suggestions=suggestions)


@bp.post("")
@login_required
def save():
    data, doc, problem = _current()
    if problem:
        flash(problem, "error")
        return redirect(url_for("editor.edit"))
    form = forms.from_request(request.form)
    if form.base != forms.fingerprint(data):
        return _changed_meanwhile(form)
    built = forms.build(form, doc)
    place, problem = _postcode(form, doc, built)
    if place is not None and not _confirmed(form, place):
        return _found(form, built, place)  # shown first: saved only when the volunteer presses Save
    if request.form.get("action") == "lookup":
        return _page(form, lookup_problem=problem or "there is no postcode to look up")
    if place is not None:  # confirmed: the areas found join what the form says (its map position included)
        built.doc = vocab.postcodes.apply(built.doc, replace(place, latitude=None, longitude=None))
    try:
        report = vocab.validate(built.doc)
    except DocumentError as exc:
        return _page(form, general=[exc.message], status=422)
    if not report.conforms:
        by_field, general = forms.errors_for_form(report, built)
        return _page(form, errors=by_field, general=general, status=422)
    # Compare values, not bytes: an untouched form must not reformat a hand-written file.
    try:
        saved = built.doc != doc and services().store.save(dump(built.doc), if_current=data)
    except ChangedMeanwhile:  # another save won the race since the check above
        return _changed_meanwhile(form)
    if problem:
        flash(f"The postcode was not looked up: {problem}. The profile keeps the postcode, without a position "
              "on the map from it.", "error")
    if saved:
        flash("Saved. Your public profile now shows these details.", "info")
        for w in report.warnings:
            flash(w.message, "warning")
        _ping(built.doc)
    else:
        flash("Nothing was changed, so nothing was saved.", "info")
    return redirect(url_for("editor.edit"))


def _postcode(form, doc, built) -> tuple:
    """(Place or None, problem or None): the form's postcode looked up, when asked or newly typed."""
    geocoder = services().geocoder
    postcode = form.values.get("postcode", "").strip()
    typed = postcode != forms.from_profile(doc).values.get("postcode", "") if doc else bool(postcode)
    wanted = request.form.get("action") == "lookup" or typed or form.values.get("place_postcode")
    if not (geocoder.enabled and postcode and wanted):
        return None, None
    try:
        return geocoder.lookup(postcode, str(built.doc.get("@id", ""))), None
    except ValueError as exc:
        return None, str(exc)
    except GeocodeError as exc:
        return None, exc.message


def _confirmed(form, place) -> bool:
    """Was this place already shown (and Save pressed), for this very postcode?"""
    return request.form.get("action") != "lookup" and form.values.get("place_postcode") == place.postcode


def _found(form, built, place):
    """The form again, filled in with what the postcode gave, for the volunteer to check and save."""
    shown = forms.from_profile(vocab.postcodes.apply(built.doc, place))
    shown.base = form.base
    shown.values["place_postcode"] = place.postcode
    return _page(shown, found=place)


def _changed_meanwhile(form):
    """The submitted form again, as typed, now based on the live version: saving it again replaces that."""
    form.base = forms.fingerprint(_current()[0])
    return _page(form, general=[CHANGED_MEANWHILE], status=409)


def _check_restorable(data: bytes) -> None:
    report = vocab.validate(vocab.read_document(data))
    if not report.conforms:
        raise ProfileInvalid("; ".join(i.message for i in report.errors), report=report)


@bp.post("/undo")
@login_required
def undo():
    store = services().store
    try:
        restored = store.undo(check=_check_restorable)
    except (DocumentError, ProfileInvalid) as exc:
        flash(f"The previous version was not restored because it is not valid: {exc.message}", "error")
        return redirect(url_for("editor.edit"))
    if restored is None:
        flash("There is no earlier version to go back to.", "info")
    else:
        flash("The previous version is back.", "info")
        _ping(vocab.read_document(restored))
    return redirect(url_for("editor.edit"))


@bp.post("/unpublish")
@login_required
def unpublish():
    services().store.set_published(False)
    flash("Your profile is withdrawn: its public address now answers that it is gone. "
          "Nothing is deleted; press Republish to bring it back.", "info")
    _ping(_current()[1])
    return redirect(url_for("editor.edit"))


@bp.post("/publish")
@login_required
def publish():
    services().store.set_published(True)
    flash("Your profile is published again.", "info")
    _ping(_current()[1])
    return redirect(url_for("editor.edit"))
