"""``hubnet-node site ...``: what a hub administrator runs to host groups (docs/hosting.md).

The administrator creates drafts (``add``, ``import``), sends invites, suspends,
moves and lists; the group sets its own password through its invite and from
then on is the only one who edits its words: no command here changes an
accepted group's profile. Every action is appended to ``DIR/log.jsonl``.
Exit codes: 0 done, 1 refused (the message says why; nothing was changed), 2 bad usage.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import click

from hubnet.vocab import DocumentError, HubnetError, ProfileInvalid
from hubnet.vocab.spreadsheet import cell

from ..cli import Fail
from ..doc import dump, safe_href
from ..storage import atomic_write
from . import drafts, importer
from .registry import INVITE_DAYS, Site, SiteError, check_slug, stamp, utcnow

site_option = click.option("--site", "site_dir", required=True, metavar="DIR", type=click.Path(file_okay=False),
                           help="The hosting site's folder (made by: hubnet-node site init DIR).")


def _open(site_dir) -> Site:
    try:
        return Site.open(site_dir)
    except SiteError as exc:
        raise Fail(exc.message) from None


def _refuse(exc: HubnetError):
    raise Fail(exc.message) from None


class _SiteCommands(click.Group):
    """A refusal no command caught (a bad slug, a damaged site.json) becomes its message and exit 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SiteError as exc:
            raise Fail(exc.message) from None


@click.group(cls=_SiteCommands)
def site():
    """Host many groups' pages on one node (for a hub; see docs/hosting.md).

    \b
      hubnet-node site init hub/ --public-url https://hub.example.org
      hubnet-node site add "Marsh Gate RA" --site hub/ --email hello@marshgate.org
      hubnet-node site invite marsh-gate-ra --site hub/
      hubnet-node site import groups.csv --site hub/ --out invites.csv
      hubnet-node site list --site hub/
      hubnet-node serve --site hub/
    """


@site.command()
@click.argument("site_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--public-url", required=True, metavar="URL",
              help="Where the site is published, e.g. https://hub.example.org (groups get <URL>/<slug>/).")
@click.option("--invite-days", default=INVITE_DAYS, show_default=True, type=click.IntRange(1, 365),
              help="How long an invite link works.")
@click.option("--geocoder", default=None, metavar="URL|off",
              help="The postcode lookup the groups' editors use (default: the node's, https://api.postcodes.io).")
@click.option("--hub", "hubs", multiple=True, metavar="URL",
              help="An aggregator to tell (POST /ping) whenever a group saves its page. Repeat for several.")
def init(site_dir, public_url, invite_days, geocoder, hubs):
    """Create a hosting site folder.

    \b
    Example:
      hubnet-node site init hub/ --public-url https://hub.example.org
    """
    url = public_url.strip().rstrip("/")
    if not safe_href(url) or urlpath(url):
        raise Fail(f"--public-url {public_url!r} must be the top of a web site, like https://hub.example.org "
                   "(aggregators read /.well-known/hubnet there)")
    bad = [h for h in hubs if not safe_href(h)]
    if bad:
        raise Fail(f"--hub {bad[0]!r} is not an aggregator's web address (https://hub.example.org)")
    try:
        s = Site.init(site_dir, url, invite_days, geocoder, aggregators=[h.rstrip("/") for h in hubs])
    except SiteError as exc:
        _refuse(exc)
    click.echo(f"Created the hosting site {s.root} for {url}/.\nNext: hubnet-node site add NAME --site {site_dir}"
               f"   or   hubnet-node site import groups.csv --site {site_dir}")


def urlpath(url: str) -> str:
    from urllib.parse import urlsplit
    return urlsplit(url).path.strip("/")


def _write_draft(s: Site, slug: str, doc: dict) -> None:
    s.group_dir(slug).mkdir(parents=True, exist_ok=True)
    atomic_write(s.profile(slug), dump(doc))


@site.command()
@click.argument("name")
@site_option
@click.option("--slug", default=None, help="The group's path on the site (default: made from the name).")
@click.option("--description", default="")
@click.option("--email", default="")
@click.option("--phone", default="")
@click.option("--website", default="", help="The group's own website, if it has one.")
@click.option("--postcode", default="")
@click.option("--kind", default="", help="One of hubnet's kinds of group, e.g. residents-association.")
@click.option("--topic", "topics", multiple=True, help="A topic; repeat for several.")
@click.option("--umbrella", default="", metavar="URL", help="The network the group belongs to.")
@click.option("--invite", "and_invite", is_flag=True, help="Also make its invite link now.")
def add(name, site_dir, slug, description, email, phone, website, postcode, kind, topics, umbrella, and_invite):
    """Create a draft page for a group (not published until the group accepts its invite).

    \b
    Example:
      hubnet-node site add "Marsh Gate RA" --site hub/ --email hello@marshgate.org --postcode "E10 5AA"
    """
    s = _open(site_dir)
    data = s.read()
    slug = slug or drafts.slug_for(name)
    try:
        check_slug(slug)
    except SiteError as exc:
        _refuse(exc)
    if slug in data["groups"]:
        raise Fail(f"there is already a group at /{slug}/ on this site; choose another with --slug")
    values = dict(name=name, description=description, email=email, phone=phone, website=website,
                  postcode=postcode, kind=kind, topics=";".join(topics), umbrella=umbrella)
    try:
        doc = drafts.build(values, s.url(slug, data))
    except drafts.Problems as exc:
        raise Fail("the draft was not created: " + "; ".join(f"--{c}: {m}" for c, m in exc.problems)) from None
    with s.change() as data:
        if slug in data["groups"]:
            raise Fail(f"there is already a group at /{slug}/ on this site; choose another with --slug")
        _write_draft(s, slug, doc)
        record = data["groups"][slug] = {"name": name.strip(), "state": "draft", "created": stamp(utcnow()),
                                         "email": email.strip() or None}
        token = s.new_invite(record, data, utcnow()) if and_invite else None
    s.log("add", slug)
    click.echo(f"Added a draft for {name} at {s.url(slug, data)} (not published until the group accepts).")
    if token:
        s.log("invite", slug)
        click.echo(f"Invite link (send it to the group; it works once, until {record['invite']['expires']}):\n"
                   f"  {s.invite_url(token, data)}")


@site.command()
@click.argument("slug")
@site_option
@click.option("--days", default=None, type=click.IntRange(0, 365),
              help="How long this link works (default: the site's invite_days).")
def invite(slug, site_dir, days):
    """Print a new invite link for a draft group (single use; an older link stops working).

    \b
    Example:
      hubnet-node site invite marsh-gate-ra --site hub/
    """
    s = _open(site_dir)
    try:
        with s.change() as data:
            record = s.group(slug, data)
            if record["state"] not in ("draft", "invited"):
                raise SiteError(f"{slug} is {record['state']}: only a draft or invited group gets an invite (an "
                                "active group already holds its own password, and keeps it)")
            token = s.new_invite(record, data, utcnow(), days)
    except SiteError as exc:
        _refuse(exc)
    s.log("invite", slug, expires=record["invite"]["expires"])
    click.echo(f"Invite link for {record['name']} (works once, until {record['invite']['expires']}):\n"
               f"  {s.invite_url(token, data)}")


def _transition(site_dir, slug, allowed: tuple, new_state: str, action: str, **extra) -> tuple[Site, dict]:
    s = _open(site_dir)
    try:
        with s.change() as data:
            record = s.group(slug, data)
            if record["state"] not in allowed:
                raise SiteError(f"{slug} is {record['state']}, so it cannot be {action} "
                                f"(only a group that is {' or '.join(allowed)})")
            record["state"] = new_state
            record.update(extra)
    except SiteError as exc:
        _refuse(exc)
    s.log(action, slug, **extra)
    return s, record


@site.command()
@click.argument("slug")
@site_option
def suspend(slug, site_dir):
    """Hide a group's page (it answers 410 and leaves the index); its profile is kept as the group wrote it."""
    s, record = _transition(site_dir, slug, ("active",), "suspended", "suspended")
    click.echo(f"Suspended {record['name']}: {s.url(slug)} now answers 410 Gone. Undo with: "
               f"hubnet-node site unsuspend {slug} --site {site_dir}")


@site.command()
@click.argument("slug")
@site_option
def unsuspend(slug, site_dir):
    """Publish a suspended group's page again."""
    s, record = _transition(site_dir, slug, ("suspended",), "active", "unsuspended")
    click.echo(f"{record['name']} is published again at {s.url(slug)}.")


@site.command()
@click.argument("slug")
@click.option("--to", "to", required=True, metavar="URL", help="The group's new profile address.")
@site_option
def move(slug, to, site_dir):
    """Answer a group's old address with a permanent redirect (301) to its new one, when it leaves.

    Aggregators treat the new profile as the same group when it says so itself
    (sameAs the old group address): see docs/hosting.md.

    \b
    Example:
      hubnet-node site move marsh-gate-ra --to https://marshgate.org/ --site hub/
    """
    s = _open(site_dir)
    if not safe_href(to) or to.strip().startswith(s.url(check_slug(slug))):
        raise Fail(f"--to {to!r} must be the group's new web address (http:// or https://, not its page on "
                   "this hub)")
    s, record = _transition(site_dir, slug, ("active", "suspended"), "moved", "moved", moved_to=to.strip())
    click.echo(f"{record['name']} has moved: {s.url(slug)} now answers 301 to {to.strip()}")


@site.command("list")
@site_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
def list_(site_dir, as_json):
    """Every group on the site and its state: draft, invited, active, suspended or moved."""
    s = _open(site_dir)
    data = s.read()
    rows = []
    for slug, r in sorted(data["groups"].items()):
        detail = {"invited": f"invite expires {(r.get('invite') or {}).get('expires', '?')}",
                  "moved": f"moved to {r.get('moved_to')}", "active": f"accepted {r.get('accepted', '?')}"}
        rows.append({"slug": slug, "name": r.get("name"), "state": r["state"], "url": s.url(slug, data),
                     "detail": detail.get(r["state"], f"created {r.get('created', '?')}")})
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("No groups yet. Add one with: hubnet-node site add NAME --site " + site_dir)
    for row in rows:
        click.echo(f"{row['state']:<10} {row['slug']:<30} {row['name']}  ({row['detail']})")


@site.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(dir_okay=False))
@site_option
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Write the invite links to this CSV (slug, name, email, invite, expires) instead of printing them.")
@click.option("--dry-run", is_flag=True, help="Only check the file and say what would be imported.")
@click.option("--max-rows", default=importer.MAX_ROWS, show_default=True, type=click.IntRange(1))
@click.option("--max-bytes", default=importer.MAX_BYTES, show_default=True, type=click.IntRange(1))
def import_(csv_file, site_dir, out, dry_run, max_rows, max_bytes):
    """Turn a spreadsheet of groups into drafts, each with an invite link.

    Columns: name (required), description, email, phone, website, postcode,
    kind, topics (separated by ;), umbrella, slug (optional). Rows that cannot
    be used are reported and skipped. Exit status 1 if any row was skipped.

    \b
    Example:
      hubnet-node site import groups.csv --site hub/ --out invites.csv
    """
    s = _open(site_dir)
    try:
        plan = importer.plan(Path(csv_file), s.read(), max_bytes=max_bytes, max_rows=max_rows)
    except importer.NotImportable as exc:
        raise Fail(f"nothing was imported: {exc.message}") from None
    if plan.ignored_columns:
        click.echo(f"Ignored columns (not used by hubnet): {', '.join(plan.ignored_columns)}")
    for row in plan.bad:
        click.echo(f"line {row.line} ({row.name or 'no name'}): not imported: "
                   + "; ".join(f"{c}: {m}" for c, m in row.problems))
    if dry_run or not plan.good:
        click.echo(f"{len(plan.good)} of {len(plan.rows)} rows can be imported" + (" (nothing written)." if dry_run
                                                                                     else "; nothing was imported."))
        raise SystemExit(1 if plan.bad or not plan.rows else 0)
    links = _import(s, plan, csv_file)
    if out:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["slug", "name", "email", "invite", "expires"])
        writer.writerows([cell(v) for v in row] for row in links)
        atomic_write(Path(out), buf.getvalue().encode("utf-8"), mode=0o600)
        click.echo(f"Wrote {len(links)} invite links to {out}.")
    else:
        for slug, name, email, link, expires in links:
            click.echo(f"{name} <{email or 'no email'}>: {link}")
    click.echo(f"Imported {len(plan.good)} of {len(plan.rows)} rows as drafts with invites (each link works once,"
               f" until {links[0][4]}); {len(plan.bad)} not imported.")
    raise SystemExit(1 if plan.bad else 0)


def _import(s: Site, plan, source) -> list:
    links, now = [], utcnow()
    with s.change() as data:
        for row in plan.good:
            if row.slug in data["groups"]:  # taken meanwhile by another command
                continue
            _write_draft(s, row.slug, row.doc)
            email = (row.doc.get("contactPoint") or {}).get("email")
            record = data["groups"][row.slug] = {"name": row.name, "state": "draft", "created": stamp(now),
                                                 "email": email}
            token = s.new_invite(record, data, now)
            links.append([row.slug, row.name, email or "", s.invite_url(token, data), record["invite"]["expires"]])
    for link in links:
        s.log("add", link[0], source=str(source))
        s.log("invite", link[0], expires=link[4])
    return links


@site.command("export")
@click.argument("slug")
@site_option
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write the files into.")
@click.option("--base-url", default=None, metavar="URL",
              help="The group's new address: the exported profile is moved onto it and says it is the same "
                   "group as before (sameAs the old address).")
def export_(slug, site_dir, out, base_url):
    """Export a hosted group's profile as static files, e.g. for a group leaving for its own site.

    \b
    Example:
      hubnet-node site export marsh-gate-ra --site hub/ --out marsh-gate/ --base-url https://marshgate.org/
    """
    from ..export import export, rebased
    s = _open(site_dir)
    try:
        s.group(slug)
    except SiteError as exc:
        _refuse(exc)
    target = Path(out).resolve()
    if target == s.root or target.is_relative_to(s.root) or s.root.is_relative_to(target):
        raise Fail(f"--out {out} overlaps the site folder {s.root} (it holds every group's password hash); "
                   "choose a folder of its own")
    if base_url and not safe_href(base_url):
        raise Fail(f"--base-url {base_url!r} must start with http:// or https://")
    try:
        doc = json.loads(s.profile(slug).read_bytes())
    except (OSError, ValueError) as exc:
        raise Fail(f"cannot read {s.profile(slug)}: {exc}") from None
    old = s.url(slug)
    if base_url:
        base = base_url if base_url.endswith("/") else base_url + "/"
        doc = rebased(doc, s.public_url, base, prefix=old)
        same = doc.get("sameAs") or []
        doc["sameAs"] = (same if isinstance(same, list) else [same]) + [old + "#group"]
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "profile.jsonld"
        profile.write_bytes(dump(doc))
        try:
            result = export(profile, Path(out), base_url, s.state_dir(slug))
        except ProfileInvalid as exc:
            click.echo(str(exc.report), err=True)
            raise Fail(f"{slug}'s profile is not valid, so nothing was exported") from None
        except (DocumentError, HubnetError) as exc:
            _refuse(exc)
    click.echo(f"Wrote {len(result.files)} files to {out}: the group's words, to publish on its own site.")
    if base_url:
        click.echo(f"The exported profile says it is the same group as {old}#group (sameAs). When it is "
                   f"published, run: hubnet-node site move {slug} --to {base_url} --site {site_dir}")
