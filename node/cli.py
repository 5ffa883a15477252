"""``hubnet-node``: the command line a group's volunteer uses.

Written for people who are not engineers: every command says what it does,
when to use it, and shows an example; errors say what went wrong in words.
Exit codes: 0 done/valid, 1 refused/invalid, 2 could not read or bad usage.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from hubnet import vocab
from hubnet.vocab import DocumentError, HubnetError, ProfileInvalid

from . import __version__, starter, state
from .config import ConfigError, resolve
from .doc import dump, group_node, profile_url, text
from .storage import ProfileStore, atomic_write

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Fail(click.ClickException):
    """A plain-English failure with our exit code (ClickException prints 'Error: ...')."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.exit_code = code


def _settings(profile: str | None, config_file: str | None, **extra) -> dict:
    overrides = {k: v for k, v in extra.items() if v is not None}
    if profile:
        overrides["PROFILE"] = profile
    if config_file:
        overrides["CONFIG_FILE"] = config_file
    try:
        return resolve(overrides)
    except ConfigError as exc:
        raise Fail(str(exc), 2) from None


profile_option = click.option(
    "--profile", metavar="FILE", default=None,
    help="The profile file. Default: profile.jsonld in this folder (or the one named in --config).")
config_option = click.option(
    "--config", "config_file", metavar="FILE", type=click.Path(dir_okay=False), default=None,
    help="A node.toml settings file (or set HUBNET_NODE_CONFIG). See docs/publishing.md.")


def _os_reason(exc: OSError) -> str:
    """An OSError in words: mkdir meeting a file says "File exists", which reads as no problem at all."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return "a file is in the way where a folder is needed"
    return exc.strerror or str(exc)


class _Commands(click.Group):
    """Turns a file-system failure no command foresaw into a plain message and exit 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            raise Fail(f"cannot use{where}: {_os_reason(exc)}. Check that the folder exists and that "
                       "you may write in it", 2) from None


@click.group(cls=_Commands, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="hubnet-node", message="%(prog)s %(version)s")
def main():
    """Publish your community group's profile on the hubnet network.

    Your group is described in one small file, profile.jsonld: its name, what
    it does, where, how to contact it, what it offers and needs, and which
    groups it works with. Directories ("aggregators") read these files from
    groups' websites and link them into one map of local groups.

    \b
    Getting started:
      hubnet-node init                      answer a few questions, get profile.jsonld
      hubnet-node validate profile.jsonld   check it
      hubnet-node passwd                    choose a password for the web editor
      hubnet-node serve                     publish it, with an editor at /edit

    \b
    No server of your own?
      hubnet-node export --out site/        files to upload to any web host

    \b
    A hub hosting many groups' pages (docs/hosting.md)?
      hubnet-node site --help

    Run "hubnet-node COMMAND --help" to read more about a command.
    """


# ---------------------------------------------------------------------- validate
@main.command()
@click.argument("source", metavar="FILE_OR_URL")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON, for scripts.")
def validate(source, as_json):
    """Check a profile and say what, if anything, is wrong with it.

    Use it after editing profile.jsonld by hand, or to check the page you
    published (give its web address: a profile page, a profile.jsonld, or any
    web page with the profile pasted in a <script type="application/ld+json">).

    Errors must be fixed before aggregators accept the profile; warnings are
    suggestions. Each message starts with the field it is about, e.g.
    "location.geo.latitude".

    \b
    Examples:
      hubnet-node validate profile.jsonld
      hubnet-node validate https://ourgroup.org/
      hubnet-node validate profile.jsonld --json

    Exit status: 0 valid (warnings allowed), 1 invalid, 2 could not be read.
    """
    try:
        report = _validate_source(source)
    except HubnetError as exc:
        if as_json:
            click.echo(json.dumps(exc.to_dict(), indent=2))
        else:
            click.echo(f"cannot read {source}: {exc.message}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(f"{source}: {report}")
    sys.exit(0 if report.conforms else 1)


def _validate_source(source: str):
    if "://" in source:
        from .fetch import fetch
        data, media_type, final_url = fetch(source)
        # Read where it was fetched from, the aggregator's authority rule applies too (id_mismatch).
        return vocab.validate(data, base_iri=final_url, media_type=media_type, published_at=final_url)
    path = Path(source)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DocumentError("there is no such file", code="not_found") from None
    except OSError as exc:
        raise DocumentError(exc.strerror or str(exc), code="unreadable") from None
    media_type = {".html": "text/html", ".htm": "text/html", ".ttl": "text/turtle"}.get(
        path.suffix.lower(), "application/ld+json")
    return vocab.validate(data, media_type=media_type)


# ---------------------------------------------------------------------- init
def _proc(check):
    """A click value_proc from a starter check: a ValueError becomes a re-prompt."""
    def proc(value):
        try:
            return check(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return proc


def _hub(value: str) -> str:
    value = (value or "").strip()
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not a hub's web address (it should look like https://hub.example.org)")
    return starter.site_url(value).rstrip("/")


@main.command()
@click.option("--out", default="profile.jsonld", show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the profile.")
@click.option("--force", is_flag=True, help="Replace the file if it already exists.")
@click.option("--non-interactive", is_flag=True,
              help="Ask nothing; take the answers from the options (--name, --url and --email are required).")
@click.option("--name", help="The group's name.")
@click.option("--url", help="The group's website, where the profile will live, e.g. https://ourgroup.org/")
@click.option("--email", help="An email address people can write to.")
@click.option("--postcode", default=None, help="Postcode of where the group meets: looked up to put the group "
                                               "on the map and in its ward and council area.")
@click.option("--locality", default=None, help="Town or neighbourhood.")
@click.option("--area", default=None, help="The area the group serves, e.g. a ward or estate.")
@click.option("--topic", "topics", multiple=True, help="A topic, in your own words. Repeat for several.")
@click.option("--description", default=None, help="A sentence or two about what the group does.")
@click.option("--kind", type=click.Choice([k.slug for k in vocab.kinds()]), default=None,
              help="What kind of group it is.")
@click.option("--member-of", "member_of", default=None, metavar="URL",
              help="The umbrella network the group belongs to (its web address), e.g. https://ournetwork.org/#group")
@click.option("--hub", "hubs", multiple=True, metavar="URL",
              help="A hub (aggregator) to tell whenever the profile changes. Repeat for several.")
@click.option("--geocoder", default=None, metavar="URL|off",
              help="The postcodes.io-compatible service to look the postcode up with. "
                   "Default: https://api.postcodes.io (or geocoder in node.toml); off: no lookup.")
@config_option
def init(out, force, non_interactive, name, url, email, postcode, locality, area, topics, description, kind,
         member_of, hubs, geocoder, config_file):
    """Write a first profile.jsonld by answering a few questions.

    Use it once, when your group starts with hubnet. It asks for the name,
    website, a contact email and a few optional details, looks the postcode
    up (to put the group on the map and in its ward and council area, shown
    to you before anything is written), asks for the umbrella network and the
    hubs to tell, checks the result, and writes a profile you can then publish
    (hubnet-node serve, or hubnet-node export) and improve later in the editor.

    \b
    Examples:
      hubnet-node init
      hubnet-node init --non-interactive --name "Marsh Gate RA" \\
          --url https://marshgate.org/ --email hello@marshgate.org \\
          --postcode "E10 5AA" --topic housing --topic "green spaces" \\
          --member-of https://leyton-network.org/#group --hub https://hub.leyton.org
    """
    target = Path(out)
    if target.exists() and not force:
        raise Fail(f"{out} already exists, so nothing was written. "
                   "Use --force to replace it, or --out to write somewhere else.")
    cfg = _settings(out, config_file, GEOCODER=geocoder)
    try:
        if non_interactive:
            missing = [f"--{k}" for k, v in (("name", name), ("url", url), ("email", email)) if not v]
            if missing:
                raise click.UsageError(f"with --non-interactive, these are needed: {', '.join(missing)}")
        else:
            name, description, url, email, kind, postcode, locality, area, topics = _ask(
                name, description, url, email, kind, postcode, locality, area, topics)
        url, email = starter.site_url(url), starter.email(email)
        if member_of is None and not non_interactive:
            member_of = click.prompt("The umbrella network your group belongs to, if any (its web address)",
                                     default="", show_default=False, value_proc=_proc(_optional(starter.link)))
        member_of = starter.link(member_of) if member_of else ""
        if not hubs and not non_interactive:
            answer = click.prompt("Hubs (directories) to tell when your profile changes, separated by commas",
                                  default="", show_default=False, value_proc=_proc(_optional(_hubs_list)))
            hubs = _hubs_list(answer)
        hubs = [_hub(h) for h in hubs]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    doc = starter.build(name=name, url=url, email=email, postcode=postcode or "", locality=locality or "",
                        area=area or "", topics=topics, description=description or "", kind=kind or "",
                        member_of=[member_of] if member_of else [])
    doc = _place(doc, postcode, cfg, ask=not non_interactive)
    report = vocab.validate(doc)
    if not report.conforms:
        click.echo(str(report), err=True)
        raise Fail("the answers do not make a valid profile (see above), so nothing was written")
    atomic_write(target, dump(doc))
    click.echo(f"Wrote {out} for {doc['name']}.")
    if hubs:
        state.set_hubs(Path(cfg["STATE_DIR"]), hubs)
        click.echo(f"The node will tell {', '.join(hubs)} whenever the profile changes "
                   f"(kept in {state.hubs_file(Path(cfg['STATE_DIR']))}).")
    for w in report.warnings:
        click.echo(f"  suggestion: {w.message}")
    click.echo("\nNext: check it with   hubnet-node validate " + out +
               "\n      publish it with hubnet-node serve --profile " + out +
               "   (or hubnet-node export --profile " + out + " --out site/)"
               "\n      and see docs/publishing.md, 'How your group gets onto a hub's directory'")


def _ask(name, description, url, email, kind, postcode, locality, area, topics):
    click.echo("A few questions about your group (press Enter to skip the optional ones).\n")
    name = name or click.prompt("Name of the group").strip()
    if description is None:
        description = click.prompt("What does the group do, in a sentence or two", default="", show_default=False)
    url = url or click.prompt("The group's website (where the profile will live), e.g. https://ourgroup.org/",
                              value_proc=_proc(starter.site_url))
    email = email or click.prompt("An email address people can write to", value_proc=_proc(starter.email))
    if kind is None:
        kinds = vocab.kinds()
        click.echo("What kind of group is it?")
        for i, k in enumerate(kinds, 1):
            click.echo(f"  {i:2}. {k.label}")
        number = click.prompt("Number (Enter to skip)", type=click.IntRange(0, len(kinds)), default=0,
                              show_default=False)
        kind = kinds[number - 1].slug if number else ""
    if postcode is None:
        postcode = click.prompt("Postcode of where you meet", default="", show_default=False)
    if locality is None:
        locality = click.prompt("Town or neighbourhood", default="", show_default=False)
    if area is None:
        area = click.prompt("The area you serve (a ward, estate or borough)", default="", show_default=False)
    if not topics:
        answer = click.prompt("Topics you work on, separated by commas", default="", show_default=False)
        topics = [t.strip() for t in answer.split(",") if t.strip()]
    return name, description, url, email, kind, postcode, locality, area, topics


def _optional(check):
    return lambda value: check(value) if value and value.strip() else ""


def _hubs_list(answer) -> list[str]:
    return [_hub(h) for h in (answer or "").split(",") if h.strip()] if isinstance(answer, str) else answer


def _place(doc: dict, postcode: str | None, cfg, *, ask: bool) -> dict:
    """``doc`` with the postcode's coordinates and areas, once the volunteer has seen them.

    A lookup that fails leaves the profile as it is (the postcode kept, no map
    position) with a plain note: the profile is written either way.
    """
    if not postcode or not cfg.get("GEOCODER"):
        return doc
    from .geocode import GeocodeError, Geocoder
    try:
        place = Geocoder(cfg["GEOCODER"]).lookup(postcode, doc["@id"])
    except ValueError as exc:
        click.echo(f"The postcode was not looked up: {exc}.")
        return doc
    except GeocodeError as exc:
        click.echo(f"The postcode was not looked up: {exc.message}. The profile keeps the postcode, without a "
                   "position on the map; add one later in the editor.")
        return doc
    click.echo(f"Found for {place.postcode}:")
    for line in place.summary():
        click.echo(f"  {line}")
    if ask and not click.confirm("Put these in the profile?", default=True):
        return doc
    return vocab.postcodes.apply(doc, place)


# ---------------------------------------------------------------------- serve
@main.command()
@profile_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Which network address to listen on. 127.0.0.1 means only this computer can connect "
                   "(the safe default, also right behind a reverse proxy on the same machine). To let "
                   "others connect, use 0.0.0.0 behind a reverse proxy that adds HTTPS (Caddy, nginx); "
                   "see docs/publishing.md.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@config_option
@click.option("--debug", is_flag=True, help="Use Flask's development server with its debugger. "
                                            "Only for working on hubnet-node itself, only on 127.0.0.1.")
@click.option("--site", "site_dir", default=None, metavar="DIR", type=click.Path(file_okay=False),
              help="Serve a hub's hosting site (many groups, each at /<slug>/; see docs/hosting.md) "
                   "instead of one profile.")
def serve(profile, host, port, config_file, debug, site_dir):
    """Serve the profile and its editor on the web.

    Serves the profile as a web page at / (and as data at /profile.jsonld,
    /profile.ttl and /.well-known/hubnet), and an editor at /edit for
    whoever knows the password set with "hubnet-node passwd".

    By default only this computer can connect. On a server, run it behind a
    reverse proxy that adds HTTPS and set public_url in node.toml; the editor's
    login cookie is then only ever sent over HTTPS.

    \b
    Examples:
      hubnet-node serve
      hubnet-node serve --profile profile.jsonld --port 8080
      hubnet-node serve --config node.toml
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if site_dir:
        if profile or config_file or debug:
            raise Fail("--site serves a hub's hosting site: it takes no --profile, --config or --debug", 2)
        return _serve_site(site_dir, host, port)
    cfg = _settings(profile, config_file)
    path = Path(cfg["PROFILE"])
    try:
        doc = vocab.read_document(path.read_bytes())
    except FileNotFoundError:
        raise Fail(f"there is no profile at {path}. Write one with: hubnet-node init --out {path}", 2) from None
    except DocumentError as exc:
        raise Fail(f"cannot read {path}: {exc.message}. Fix it by hand, or copy back a version "
                   f"from {Path(cfg['STATE_DIR']) / 'versions'}", 2) from None
    except OSError as exc:
        raise Fail(f"cannot read {path}: {exc.strerror or exc}. Check that the file is a file and that "
                   "the user running the node may read it", 2) from None
    report = vocab.validate(doc)
    if not report.conforms:
        click.echo(f"Warning: {path} is not valid, so aggregators will not accept it until it is fixed "
                   f"(log in to /edit to fix it):\n{report}", err=True)
    loopback = host in LOOPBACK
    public = cfg.get("PUBLIC_URL") or ""
    if debug and not loopback:
        raise Fail("--debug is only allowed with --host 127.0.0.1: its debugger would let anyone "
                   "who can connect run commands on this computer", 2)

    from .app import create_app
    try:
        app = create_app({**cfg, "INSECURE_LOCALHOST_COOKIES": loopback and not public.startswith("https://")})
    except OSError as exc:
        raise Fail(f"cannot write the node's private folder {cfg['STATE_DIR']} "
                   f"({_os_reason(exc)}): the user running the node must be able to create and write it. "
                   "Fix its permissions, or choose another folder with state_dir in node.toml", 2) from None
    name = text(group_node(doc).get("name")) or str(path)
    if debug:
        _announce(name, path, host, port, app, cfg, doc)
        app.run(host=host, port=port, debug=True, use_reloader=False)
        return

    import waitress
    # Waitress drops X-Forwarded-* headers unless told otherwise; keep them only
    # when the config says there are proxies to trust (then ProxyFix reads them).
    try:
        server = waitress.create_server(app, host=host, port=port, threads=8, ident="hubnet-node",
                                        clear_untrusted_proxy_headers=not cfg["PROXY_COUNT"])
    except OSError as exc:
        raise Fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}; is another program using the "
                   "port? Choose another with --port", 2) from None
    _announce(name, path, host, getattr(server, "effective_port", port), app, cfg, doc)
    from .services import services
    pinger = services(app).pinger
    pinger.start()  # pings owed from before (a hub that was down, a restart) are sent again
    try:
        server.run()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        pinger.stop()
        server.close()


def _serve_site(site_dir: str, host: str, port: int) -> None:
    """``serve --site``: every hosted group at /<slug>/ (node.site.app)."""
    import waitress

    from .site.app import SiteApp
    from .site.registry import Site, SiteError
    try:
        public = Site.open(site_dir).public_url
        app = SiteApp(site_dir, insecure_cookies=host in LOOPBACK and not public.startswith("https://"))
    except SiteError as exc:
        raise Fail(exc.message, 2) from None
    try:
        server = waitress.create_server(app, host=host, port=port, threads=8, ident="hubnet-node")
    except OSError as exc:
        raise Fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}; is another program using the "
                   "port? Choose another with --port", 2) from None
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Serving the hosting site {app.site.root} ({len(app.published())} groups published)")
    click.echo(f"  site index:   http://{shown}:{getattr(server, 'effective_port', port)}/")
    click.echo(f"  public URL:   {public}/")
    click.echo("Press Ctrl+C to stop.")
    try:
        server.run()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        server.close()


def _served_at(host: str, port: int, cfg) -> str | None:
    """Where aggregators will read this node: its public URL, else the address it listens on."""
    if cfg.get("PUBLIC_URL"):
        return cfg["PUBLIC_URL"] + "/"
    if host in ("0.0.0.0", "::", ""):
        return None  # every address of the machine: nothing to compare with
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _warn_if_elsewhere(doc, served: str | None, cfg) -> None:
    """Say at start when aggregators would refuse the profile as served here (id_mismatch)."""
    if not served:
        return
    try:
        report = vocab.validate(doc, published_at=served + "profile.jsonld")
    except DocumentError:
        return
    for issue in report.errors:
        if issue.code == "id_mismatch":
            hint = "" if cfg.get("PUBLIC_URL") else (
                " If a proxy publishes this node at the group's own site, set public_url in node.toml.")
            click.echo(f"Warning: aggregators will refuse this profile as served at {served}: "
                       f"{issue.code}: {issue.message.removeprefix('@id: ')}.{hint}", err=True)


def _announce(name, path, host, port, app, cfg, doc=None) -> None:
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    _warn_if_elsewhere(doc, _served_at(host, port, cfg), cfg)
    click.echo(f"Serving {name!r} from {path}")
    click.echo(f"  public page:  {base}/")
    has_pw = state.has_password(Path(cfg["STATE_DIR"]))
    click.echo(f"  editor:       {base}/edit" + ("" if has_pw else "   (no password yet: run hubnet-node passwd)"))
    if cfg.get("PUBLIC_URL"):
        click.echo(f"  public URL:   {cfg['PUBLIC_URL']}/")
    if host in LOOPBACK:
        click.echo("Only this computer can connect. Press Ctrl+C to stop.")
    else:
        click.echo(f"Anyone who can reach this computer on port {port} can connect: put a reverse proxy "
                   "with HTTPS in front (see docs/publishing.md). Press Ctrl+C to stop.")


# ---------------------------------------------------------------------- passwd
def _check_password(value: str) -> str:
    if len(value) < state.MIN_PASSWORD_LENGTH:
        raise click.BadParameter(f"use at least {state.MIN_PASSWORD_LENGTH} characters "
                                 "(a few unrelated words make a good one)")
    return value


@main.command()
@profile_option
@config_option
def passwd(profile, config_file):
    """Set the password for the web editor (at /edit).

    Use it before the first "hubnet-node serve", and whenever the password
    should change (for example when a volunteer leaves). Only a scrambled
    form (a scrypt hash) is stored, in .hubnet-node/ beside the profile.
    Anyone logged in to the editor is logged out.

    \b
    Example:
      hubnet-node passwd --profile profile.jsonld
    """
    cfg = _settings(profile, config_file)
    password = click.prompt("New editor password", hide_input=True,
                            confirmation_prompt="Type it again", value_proc=_check_password)
    state.set_password(Path(cfg["STATE_DIR"]), password)
    click.echo(f"Password saved (in {Path(cfg['STATE_DIR']) / 'password'}). Log in at /login on your node.")


# ---------------------------------------------------------------------- publish / unpublish
def _flip(profile, config_file, published: bool) -> None:
    cfg = _settings(profile, config_file)
    store = ProfileStore(Path(cfg["PROFILE"]), Path(cfg["STATE_DIR"]))
    if not store.exists():
        raise Fail(f"there is no profile at {store.path}", 2)
    store.set_published(published)
    if published:
        click.echo(f"Published: {store.path} is public again.")
    else:
        click.echo(f"Unpublished: the public addresses of {store.path} now answer "
                   "'410 Gone', which tells aggregators to remove it. Nothing is deleted.")
    try:
        doc = vocab.read_document(store.read_bytes())
    except DocumentError:
        doc = None
    url = profile_url(cfg.get("PUBLIC_URL"), doc)
    from .ping import pinger_for
    pinger = pinger_for(cfg, Path(cfg["STATE_DIR"]))
    if pinger.aggregators and url:
        for agg, ok, detail in pinger.send(url):
            click.echo(f"  told {agg}: {'ok' if ok else 'failed'} ({detail})"
                       + ("" if ok else "; the node tells it again while it runs (hubnet-node serve)"))


@main.command()
@profile_option
@config_option
def unpublish(profile, config_file):
    """Withdraw the profile from the network, without deleting it.

    Use it when the group stops, pauses, or wants to disappear from
    directories. While withdrawn, the public addresses answer "410 Gone"
    and aggregators (those in node.toml are told at once) drop the group.
    Bring it back with "hubnet-node publish". A running node notices at once.

    \b
    Example:
      hubnet-node unpublish --profile profile.jsonld
    """
    _flip(profile, config_file, False)


@main.command()
@profile_option
@config_option
def publish(profile, config_file):
    """Make a withdrawn profile public again (undoes "unpublish").

    \b
    Example:
      hubnet-node publish --profile profile.jsonld
    """
    _flip(profile, config_file, True)


# ---------------------------------------------------------------------- export
@main.command()
@profile_option
@click.option("--out", default="site", show_default=True, type=click.Path(file_okay=False),
              help="Folder to write the files into (created if needed). It must be a folder of its own: "
                   "not the profile's folder, which holds the node's private .hubnet-node/ folder.")
@click.option("--base-url", default=None, metavar="URL",
              help="Where the files will be published, e.g. https://ourgroup.github.io/. "
                   "Default: the website in the profile's @id. It must be the profile's own site "
                   "(aggregators refuse a profile about a group on another site) unless --rebase is given.")
@click.option("--rebase", is_flag=True,
              help="Move the addresses (@id, url) of the group and its own parts onto --base-url in the "
                   "exported files, for a group whose website has moved. The profile file is not changed.")
@config_option
def export(profile, out, base_url, rebase, config_file):
    """Make static files to publish the profile on any web host.

    Use it when you have no server to run "hubnet-node serve" on: upload the
    folder's contents to your website, GitHub Pages, Netlify and the like.
    It writes index.html (the profile page), profile.jsonld, profile.ttl and
    .well-known/hubnet. Run it again after each change to the profile.

    \b
    Examples:
      hubnet-node export --out site/
      hubnet-node export --profile profile.jsonld --out site/ --base-url https://ourgroup.github.io/ --rebase
    """
    from .export import export as do_export
    path = Path(profile or "profile.jsonld")
    state_dir = Path(_settings(str(path), config_file)["STATE_DIR"])
    try:
        result = do_export(path, Path(out), base_url, state_dir, rebase=rebase)
    except ProfileInvalid as exc:
        click.echo(str(exc.report), err=True)
        raise Fail(exc.message, 1) from None
    except DocumentError as exc:
        raise Fail(exc.message if exc.message.startswith("cannot read") else f"cannot read {path}: {exc.message}",
                   2) from None
    except HubnetError as exc:  # the output folder would publish the private state
        raise Fail(exc.message, 1) from None
    click.echo(f"Wrote {len(result.files)} files to {out.rstrip('/')}/:")
    for f in result.files:
        click.echo(f"  {f}")
    for note in result.notes:
        click.echo(f"Note: {note}")
    click.echo("Upload everything in the folder (including the hidden .well-known folder) to your web host.")


from .site.cli import site as _site  # noqa: E402  (it uses Fail, defined above)

main.add_command(_site)
