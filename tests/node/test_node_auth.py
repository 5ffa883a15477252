"""Logging in and out: password, rate limit, CSRF, cookie flags, revocation."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from hubnet.node import state
from hubnet.node.auth import WRONG_PASSWORD
from hubnet.node.services import services

from node_helpers import COOKIE, PASSWORD, button, csrf_from, login, make_app


def _wrong(client, password="wrong password here"):
    return login(client, password)


def _set_cookie(resp) -> str:
    cookies = [v for v in resp.headers.getlist("Set-Cookie") if v.startswith(COOKIE + "=")]
    assert cookies, "no session cookie set"
    return cookies[-1]


def test_right_password_opens_the_editor(client):
    resp = login(client)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/edit")
    assert client.get("/edit").status_code == 200


def test_wrong_password_gets_one_plain_message_whatever_the_cause(tmp_path, client):
    resp = _wrong(client)
    assert resp.status_code == 403
    assert WRONG_PASSWORD in resp.get_data(as_text=True)
    assert client.get("/edit").status_code == 302
    empty = _wrong(client, "")
    assert empty.status_code == 403 and WRONG_PASSWORD in empty.get_data(as_text=True)
    # No password set at all: the same answer, not a different one.
    (tmp_path / "unset").mkdir()
    other = make_app(tmp_path / "unset", password=None).test_client()
    resp = _wrong(other, PASSWORD)
    assert resp.status_code == 403 and WRONG_PASSWORD in resp.get_data(as_text=True)
    assert "switched off" in other.get("/login").get_data(as_text=True)


def test_login_is_rate_limited(client):
    bodies = set()
    for _ in range(5):
        resp = _wrong(client)
        assert resp.status_code == 403
        bodies.add(re.sub(r'value="[^"]+"', "", resp.get_data(as_text=True)))  # ignore the CSRF token
    assert len(bodies) == 1, "every refusal looks the same"
    limited = _wrong(client)
    assert limited.status_code == 429
    assert "Too many attempts" in limited.get_data(as_text=True)
    assert login(client).status_code == 429  # even the right password, until the window passes
    assert client.get("/login").status_code == 200  # the page itself still loads


def test_login_without_csrf_token_is_refused(client):
    resp = client.post("/login", data={"password": PASSWORD})
    assert resp.status_code == 400
    assert client.get("/edit").status_code == 302


def test_session_cookie_flags(tmp_path):
    strict = make_app(tmp_path, INSECURE_LOCALHOST_COOKIES=False).test_client()
    cookie = _set_cookie(login(strict))
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    assert timedelta(minutes=25) < expires - datetime.now(timezone.utc) <= timedelta(minutes=31)


def test_insecure_cookie_only_when_asked_and_never_with_https_public_url(tmp_path, client):
    cookie = _set_cookie(login(client))  # fixture app: INSECURE_LOCALHOST_COOKIES=True
    assert "Secure" not in cookie and "HttpOnly" in cookie
    (tmp_path / "b").mkdir()
    https = make_app(tmp_path / "b", INSECURE_LOCALHOST_COOKIES=True, PUBLIC_URL="https://ourgroup.org")
    assert "; Secure" in _set_cookie(login(https.test_client()))


def test_login_starts_a_fresh_session(client):
    client.get("/login")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    login(client)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["editor"] is True


def test_copied_cookie_is_rejected_after_logout(editor):
    copied = editor.get_cookie(COOKIE).value
    assert button(editor, "/logout").headers["Location"].endswith("/login")
    assert editor.get("/edit").status_code == 302
    editor.set_cookie(COOKIE, copied)  # replay the cookie taken before logout
    resp = editor.get("/edit")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")


def test_changing_the_password_logs_everyone_out(app, editor):
    assert editor.get("/edit").status_code == 200
    state.set_password(services(app).state_dir, "another long password")
    assert editor.get("/edit").status_code == 302


def test_logout_by_someone_not_logged_in_does_not_end_the_editors_session(app, editor):
    stranger = app.test_client()
    token = csrf_from(stranger.get("/login").get_data(as_text=True))
    stranger.post("/logout", data={"csrf_token": token})
    assert editor.get("/edit").status_code == 200


def test_password_is_stored_only_as_a_scrypt_hash(app):
    stored = state.password_file(services(app).state_dir).read_text()
    assert stored.startswith("scrypt:") and PASSWORD not in stored
    assert oct(state.password_file(services(app).state_dir).stat().st_mode & 0o777) == "0o600"
