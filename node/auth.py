"""Logging the editor in and out.

One password per node (``hubnet-node passwd``), checked against a scrypt
hash. A wrong password always gets the same message and status whatever the
cause (no password set, empty field, wrong text), and POST /login is
rate-limited per client address in ``app.py``. A session is valid only while
its epoch matches the one in the state directory; logging out moves the epoch
on, so a copy of the cookie taken earlier stops working everywhere.
"""

from __future__ import annotations

import logging
from functools import wraps

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from . import state
from .services import services

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

WRONG_PASSWORD = "That password is not right. Check it and try again."


def is_logged_in() -> bool:
    return (session.get("editor") is True
            and session.get("epoch") == state.session_epoch(services().state_dir))


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not is_logged_in():
            session.pop("editor", None)
            return redirect(url_for("auth.login"))
        return view(*args, **kwargs)
    return wrapper


@bp.route("/login", methods=["GET", "POST"])
def login():
    state_dir = services().state_dir
    if request.method == "POST":
        if state.check_password(state_dir, request.form.get("password", "")):
            session.clear()  # no value from before login survives into the editor session
            session.permanent = True
            session["editor"] = True
            session["epoch"] = state.session_epoch(state_dir)
            return redirect(url_for("editor.edit"))
        log.warning("refused editor login from %s", request.remote_addr)
        return render_template("login.html", error=WRONG_PASSWORD, configured=True), 403
    if is_logged_in():
        return redirect(url_for("editor.edit"))
    return render_template("login.html", error=None, configured=state.has_password(state_dir))


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    if request.method != "POST":  # GET and HEAD: a page with a button (any link could trigger a GET/HEAD)
        return render_template("logout.html", logged_in=is_logged_in())
    if is_logged_in():  # only a real session may move the epoch on (else anyone could log the editor out)
        state.bump_session_epoch(services().state_dir)
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
