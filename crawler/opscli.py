"""The operator's commands beside crawl/serve: ``groups``, ``forget``, ``unforget``, ``backup``,
and the one path every store-reading command takes (``run_op``).

A command opens the store itself when it is free; when a running ``serve`` holds
it, the command is sent to that server over its control socket (control.py says
why not a read-only opening or the HTTP API). A read-only command never creates
a store: a path with no store is an error, not an empty answer.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click

from hubnet.vocab.errors import HubnetError, StoreError

from . import control
from .cli import _config_option, _load_settings, _store_option, main
from hubnet.crawler.service import Aggregator
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.remote import is_remote, open_store


def require_store(path) -> None:
    if is_remote(path):
        return   # a server: opening it says whether it answers
    if not (Path(path) / "oxigraph").is_dir():
        raise click.ClickException(
            f"there is no store at {path}: give the right --store (or HUBNET_STORE), or create one with "
            f"`hubnet-crawler crawl SEED --store {path}`")


def run_op(store_path, op: str, args: dict, settings: Settings | None = None):
    """Run ``control.OPS[op]`` on the store: in this process (with ``settings``), or in the server holding it."""
    require_store(store_path)
    try:
        store = open_store(store_path)
    except StoreError as exc:
        if exc.code != "store_in_use":
            raise click.ClickException(exc.message) from None
        try:
            result = control.call(store_path, op, args)
        except HubnetError as err:
            raise click.ClickException(err.message) from None
        if result is None:   # held by a crawl (no server to ask)
            raise click.ClickException(exc.message) from None
        return result
    ctx = control.Context(store, changed=lambda: _sync_index(store), settings=settings)
    try:
        return control.OPS[op](ctx, args)
    except HubnetError as err:
        raise click.ClickException(err.message) from None
    finally:
        ctx.close()
        store.close()


def _sync_index(store) -> None:
    """After a change made without a server: the directory's text index in step, as after a CLI crawl."""
    with Aggregator(store, Settings()) as service:
        service.after_crawl()


def export_op(store_path, fmt: str, out) -> None:
    require_store(store_path)
    try:
        store = open_store(store_path)
    except StoreError as exc:
        if exc.code != "store_in_use":
            raise click.ClickException(exc.message) from None
        if not control.stream(store_path, "export", {"format": fmt}, out):
            raise click.ClickException(exc.message) from None
        return
    try:
        control.export_to(control.Context(store), out, fmt)
    finally:
        store.close()


# ----------------------------------------------------------------------------- groups
def _near(ctx, param, value):
    if not value:
        return None
    try:
        lat, lon = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"must be LAT,LON, e.g. 51.56,-0.01 (got {value!r})") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise click.BadParameter(f"{value!r} is not a place on Earth")
    return [lat, lon]


@main.command()
@click.argument("words", nargs=-1)
@click.option("--topic", help="Only groups with this topic.")
@click.option("--kind", help="Only groups of this kind (e.g. residents-association).")
@click.option("--area", help="Only groups serving this area.")
@click.option("--near", metavar="LAT,LON", callback=_near, help="Nearest first, from this point.")
@click.option("--within-km", type=click.FloatRange(0, 20_038), help="Only groups this close to --near.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@_store_option
def groups(words, topic, kind, area, near, within_km, limit, fmt, store_path):
    """List and search the groups in the directory, as the web directory does.

    WORDS search names, descriptions, topics, kinds and areas. Works while
    `hubnet-crawler serve` runs on the same store.

    \b
    Examples:
      hubnet-crawler groups                          # every group (first 100)
      hubnet-crawler groups food --area Leyton
      hubnet-crawler groups --kind food-bank --format csv > food-banks.csv
    """
    if within_km is not None and near is None:
        raise click.BadParameter("needs --near LAT,LON as well", param_hint="--within-km")
    found = run_op(store_path, "groups", {"q": " ".join(words), "topic": topic, "kind": kind, "area": area,
                                          "near": near, "within_km": within_km, "limit": limit})
    if fmt == "json":
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        from hubnet.vocab.spreadsheet import cell
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(control.GROUP_FIELDS)
        for g in found["groups"]:
            writer.writerow([cell(g[k]) if not isinstance(g[k], float) else repr(g[k]) for k in control.GROUP_FIELDS])
        click.echo(buf.getvalue(), nl=False)
    else:
        click.echo(format_groups(found))


def format_groups(found: dict) -> str:
    if not found["groups"]:
        return "no groups found" + ("" if found["total"] else " (is the store crawled? `hubnet-crawler sources`)")
    width = max(len(g["name"] or "") for g in found["groups"])
    lines = [f"{(g['name'] or g['id']):<{width}}  {', '.join(g['kind'] or [])}  {g['key']}" for g in found["groups"]]
    shown = len(found["groups"])
    lines.append(f"{found['total']} group{'' if found['total'] == 1 else 's'}"
                 + (f", first {shown} shown (--limit)" if shown < found["total"] else ""))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the block list
@main.command()
@click.argument("url")
@click.option("--reason", required=True, help="Why (shown on /sources and in `sources`).")
@_store_option
def forget(url, reason, store_path):
    """Remove a source and stop fetching it: a mistyped seed, a junk ping, an unwanted site.

    Its statements and record are dropped, and the address goes on the hub's
    block list with the reason: the crawler skips it, POST /ping of it is
    refused (403 forgotten), /sources lists it. Undo with `unforget`.
    Works while `hubnet-crawler serve` runs.

    \b
    Example:
      hubnet-crawler forget https://umbrella.example.invalid/ --reason "mistyped seed"
    """
    done = run_op(store_path, "forget", {"url": url, "reason": reason})
    removed = done["removed_sources"]
    click.echo(f"forgot {', '.join(done['forgotten'])}: "
               + (f"removed {len(removed)} source{'' if len(removed) == 1 else 's'}" if removed else
                  "no source was stored there")
               + "; it will not be fetched again")


@main.command()
@click.argument("url")
@_store_option
def unforget(url, store_path):
    """Take an address off the block list: the next crawl, link or ping may fetch it again."""
    done = run_op(store_path, "unforget", {"url": url})
    click.echo(f"{done['unforgotten']} is no longer forgotten")


# ----------------------------------------------------------------------------- backup
@main.command()
@click.argument("target", type=click.Path(file_okay=False))
@_store_option
def backup(target, store_path):
    """Copy the store to TARGET (a new directory), even while `serve` runs.

    Uses the database's own online backup (a consistent snapshot; on the same
    file system unchanged files are hard links, so it is quick and small), and
    copies the text index safely too. TARGET is itself a store: restore by
    stopping the server and putting TARGET in the store's place (docs/operating.md).

    \b
    Example:
      hubnet-crawler backup /var/backups/hubnet/$(date +%F)
    """
    done = run_op(store_path, "backup", {"target": str(Path(target).resolve())})
    click.echo(f"backed up {store_path} to {done['backup']} in {done['duration_ms'] / 1000:.1f} s")


# ----------------------------------------------------------------------------- imports
@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["openreferral", "murmurations"]),
              help="What the file is: an Open Referral UK (HSDS) export, or Murmurations profiles (one, a "
                   "list, or the index's answer). Told from the file when not given.")
@click.option("--from", "origin", metavar="URL",
              help="Where the file came from (the export's address). Names the import: a newer export "
                   "from the same address updates these groups. Default: the file's name.")
@_store_option
@_config_option
def import_(file, fmt, origin, store_path, config):
    """Import groups from a council's or a hub's list, marked second-hand.

    Reads an Open Referral UK (HSDS) JSON export or Murmurations profiles.
    Each record becomes a group shown as "imported from ... on ..., not the
    group's own words", until the crawler finds the group's own profile
    (on the website the record gives), which then replaces it.

    The whole file is checked before anything is stored: a file that is not
    what it claims is refused and nothing changes. Records that cannot be
    used (no name, ...) are listed and left out. Importing the same file
    again changes nothing; a newer export from the same --from updates the
    groups and removes those no longer in it. Works while `serve` runs.

    \b
    Examples:
      hubnet-crawler import services.json --from https://council.example.gov.uk/openreferral/services
      hubnet-crawler import murmurations.json --format murmurations
    """
    from hubnet.crawler.importer import format_report

    if origin is not None:
        from hubnet.vocab.authority import origin as http_origin
        if http_origin(origin) is None:
            raise click.BadParameter(f"{origin!r} is not an http(s) address", param_hint="--from")
    settings = _load_settings(config)
    if not is_remote(store_path) and not (Path(store_path) / "oxigraph").is_dir():
        try:
            open_store(store_path).close()   # the first import creates the store, as a first crawl does
        except StoreError as exc:
            raise click.ClickException(exc.message) from None
    report = run_op(store_path, "import", {"path": str(Path(file).resolve()), "format": fmt, "from": origin},
                    settings=settings)
    click.echo(format_report(report))
