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

from .doc import dump, group_node, iri, origin, safe_href, well_known
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


def rebased(doc, old_origin: str, base: str, *, prefix: str | None = None):
    """A copy of ``doc`` with every ``@id`` and ``url`` on ``old_origin`` moved onto ``base``.

    Only the group's own addresses move: links to other sites are left alone.
    ``https://old.example/#group`` -> ``https://ours.github.io/site/#group``.
    ``prefix`` (a group hosted by path, ``https://hub.example/ours/``): only addresses under it move.
    """
    def move(value):
        if isinstance(value, str) and origin(value) == old_origin and value.startswith(prefix or old_origin):
            rest = value[len(prefix or old_origin):]
            return base + rest.removeprefix("/")
        return value

    def walk(node):
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key in ("@id", "url"):
                out[key] = [move(v) for v in value] if isinstance(value, list) else move(value)
            else:
                out[key] = walk(value)
        return out

    return walk(doc)


def export(profile: Path, out: Path, base_url: str | None = None, state_dir: Path | None = None,
           rebase: bool = False) -> Export:
    """Validate ``profile`` and write the site into ``out``.

    The profile is checked as an aggregator will read it, at ``base_url``: a
    group that is not on that site is refused (``id_mismatch``) unless
    ``rebase`` rewrites the addresses of the group and its own nodes onto it
    (in the exported copy; the profile file itself is left as it is).
    Raises DocumentError / ProfileInvalid, or HubnetError(code="private_output")
    when ``out`` would mix the site with the private state (see check_output).
    """
    check_output(out, profile, state_dir)
    try:
        data = Path(profile).read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read {profile}: {exc.strerror}", code="unreadable") from None
    doc = vocab.read_document(data)
    group_id = iri(group_node(doc).get("@id"))
    home = origin(group_id)
    if base_url and not safe_href(base_url):
        raise DocumentError(f"--base-url {base_url!r} must start with http:// or https://", code="bad_url")
    base = (base_url if base_url.endswith("/") else base_url + "/") if base_url else (home or "") + "/"
    if rebase and home and origin(base) != home:
        doc = rebased(doc, home, base)
        data = dump(doc)
    profile_url = base + "profile.jsonld"
    report = vocab.validate(doc, published_at=profile_url if base_url else None)
    mismatch = [i for i in report.errors if i.code == "id_mismatch"]
    if mismatch:
        raise HubnetError(f"aggregators would refuse these files ({mismatch[0].code}): "
                          f"{mismatch[0].message.removeprefix('@id: ')}. "
                          f"Or export again with --rebase to rewrite the profile's addresses onto {base}",
                          code="id_mismatch", status=422)
    if not report.conforms:
        raise ProfileInvalid(f"{profile} is not valid, so nothing was exported", report=report)

    result = Export(report=report)
    if rebase and home and origin(base) != home:
        result.notes.append(f"The exported profile's addresses were moved from {home}/ to {base} (the group is "
                            f"now {iri(group_node(doc).get('@id'))}); {profile} itself is unchanged.")
    if urlsplit(base).path not in ("", "/"):
        result.notes.append(
            f".well-known/hubnet only works at the top of a domain ({origin(base)}/.well-known/hubnet), "
            f"not under {urlsplit(base).path}; aggregators can still find the profile through its links.")

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
