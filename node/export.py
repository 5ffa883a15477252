"""``hubnet-node export``: the profile as static files for any web host.

Writes exactly what a node would serve, so a group without a server of its
own (GitHub Pages, Netlify, a shared host's public_html) can still publish:

    index.html           the profile page, with the JSON-LD embedded
    profile.jsonld       the profile itself (the same bytes as the source file)
    profile.ttl          the same data as Turtle
    .well-known/hubnet   where the profile is, for aggregators that only know the domain
    .nojekyll            tells GitHub Pages to publish .well-known/ (it skips dot-folders otherwise)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from hubnet import vocab
from hubnet.vocab import DocumentError, HubnetError, ProfileInvalid

from .doc import group_node, iri, origin, safe_href, well_known
from .render import profile_page, turtle
from .storage import atomic_write, default_state_dir


@dataclass
class Export:
    files: list = field(default_factory=list)   # paths written
    notes: list = field(default_factory=list)   # things the volunteer should know
    report: object = None


def check_output(out: Path, profile: Path, state_dir: Path | None = None) -> None:
    """Refuse an output folder that is, holds, or lies inside the node's private state folder.

    Everything in the output folder is meant to be uploaded, and the state
    folder (``.hubnet-node/`` beside the profile, or the configured one) holds
    the editor's password hash and the key that signs logins. Checked on the
    paths, whether or not the state folder exists yet. Raises HubnetError.
    """
    target = Path(out).resolve()
    privates = {default_state_dir(Path(profile).resolve()).resolve()}
    if state_dir is not None:
        privates.add(Path(state_dir).resolve())
    for private in sorted(privates):
        if target == private:
            where = "is"
        elif private.is_relative_to(target):
            where = "contains"
        elif target.is_relative_to(private):
            where = "is inside"
        else:
            continue
        raise HubnetError(
            f"the output folder {out} {where} {private}, the node's private folder (it holds the editor's "
            "password hash and the key that signs logins). Everything in the output folder is meant to be "
            "uploaded, so nothing was written. Choose a folder of its own, e.g. --out site/",
            code="private_output", status=400)


def export(profile: Path, out: Path, base_url: str | None = None, state_dir: Path | None = None) -> Export:
    """Validate ``profile`` and write the site into ``out``.

    Raises DocumentError / ProfileInvalid, or HubnetError(code="private_output")
    when ``out`` would mix the site with the private state (see check_output).
    """
    check_output(out, profile, state_dir)
    try:
        data = Path(profile).read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read {profile}: {exc.strerror}", code="unreadable") from None
    doc = vocab.read_document(data)
    report = vocab.validate(doc)
    if not report.conforms:
        raise ProfileInvalid(f"{profile} is not valid, so nothing was exported", report=report)

    result = Export(report=report)
    group_id = iri(group_node(doc).get("@id"))
    home = origin(group_id)
    if base_url:
        if not safe_href(base_url):
            raise DocumentError(f"--base-url {base_url!r} must start with http:// or https://", code="bad_url")
        base = base_url if base_url.endswith("/") else base_url + "/"
        if origin(base) != home:
            result.notes.append(
                f"Your profile says the group lives at {group_id}, but these files are for {base}. "
                f"Aggregators will read them at {base}profile.jsonld; if the group's address has changed, "
                f"also change the @id (to {base}#group) so the two agree.")
    else:
        base = home + "/"
    if urlsplit(base).path not in ("", "/"):
        result.notes.append(
            f".well-known/hubnet only works at the top of a domain ({origin(base)}/.well-known/hubnet), "
            f"not under {urlsplit(base).path}; aggregators can still find the profile through its links.")
    profile_url = base + "profile.jsonld"

    out = Path(out)
    (out / ".well-known").mkdir(parents=True, exist_ok=True)
    files = {
        "index.html": profile_page(doc, alternate_href="profile.jsonld", turtle_href="profile.ttl").encode("utf-8"),
        "profile.jsonld": data,
        "profile.ttl": turtle(data, profile_url),
        ".well-known/hubnet": (json.dumps(well_known(doc, profile_url), indent=2, ensure_ascii=False)
                               + "\n").encode("utf-8"),
        ".nojekyll": b"",
    }
    for name, body in files.items():
        atomic_write(out / name, body, mode=0o644)
        result.files.append(out / name)
    return result
