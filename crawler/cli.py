"""``hubnet-crawler``: crawl the network into a store, inspect it, query it, serve it."""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
from pathlib import Path

import click

from hubnet import __version__
from hubnet.vocab.errors import HubnetError

from .settings import (CONFIG_ENV, SERVER_DEFAULTS, ConfigError, Settings, load as load_settings, server_config,
                       store_location)
from hubnet.crawler.store.graph import DEFAULT_PATH, Store


def _store_option(f):
    """--store, else HUBNET_STORE, else the config file's ``store = "..."``, else the default folder."""
    @functools.wraps(f)
    def resolved(*args, store_path=None, **kw):
        if store_path is None:
            try:
                store_path = store_location(kw.get("config")) or DEFAULT_PATH
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from None
        return f(*args, store_path=store_path, **kw)

    return click.option(
        "--store", "store_path", type=click.Path(file_okay=False), envvar="HUBNET_STORE",
        default=None, show_default=DEFAULT_PATH,
        help="Directory of the store (crawl, load and serve create it; other commands need it to "
             "exist), or a SPARQL server: sparql+http://host:port/sparql (docs/scaling.md). Also read "
             "from HUBNET_STORE, or as store = \"...\" in the --config file.")(resolved)


def duration_text(seconds: float) -> str:
    """21600 -> "6h": the largest unit that divides it (the inverse of web.serve.parse_duration)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def open_store(path, settings: Settings | None = None) -> Store:
    """The store directory, or a SPARQL server for ``sparql+http(s)://...`` (store/remote.py)."""
    from hubnet.crawler.store.remote import open_store as open_any

    try:
        return open_any(path, settings)
    except HubnetError as exc:
        raise click.ClickException(exc.message) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="hubnet-crawler")
def main():
    """Build and serve one shared graph of community groups.

    hubnet-crawler follows links between community groups' published
    profiles, keeps what each group says in its own named graph (with where
    and when it came from), and answers questions about the whole network.

    \b
    Typical use:
      hubnet-crawler crawl https://umbrella.example.org/      # discover and fetch
      hubnet-crawler sources                                   # how each source is doing
      hubnet-crawler query 'SELECT ?name { ?g a <http://schema.org/Organization> ; <http://schema.org/name> ?name }'
      hubnet-crawler serve                                     # directory, API and SPARQL at http://127.0.0.1:8080

    Everything is kept in a store directory (--store, default ./hubnet-data).
    """


def _parse_resolve(values) -> dict:
    from hubnet.crawler.crawl.netpolicy import parse_resolve
    out = {}
    for v in values:
        try:
            key, addr = parse_resolve(v)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--resolve") from None
        out[key] = addr
    return out


def _config_option(f):
    return click.option(
        "--config", type=click.Path(dir_okay=False), envvar=CONFIG_ENV,
        help="A TOML file of crawl settings (field names of hubnet.crawler.settings.Settings, e.g. "
             "max_sources = 500) and, for serve, a [server] table (keys of SERVER_DEFAULTS in lower "
             "case, e.g. page_size = 50). Also read from HUBNET_CONFIG. Each setting can also come from "
             "a HUBNET_<NAME> environment variable (HUBNET_PER_HOST_DELAY=2, HUBNET_PAGE_SIZE=50); "
             "options given here win.")(f)


def _areas_options(f):
    f = click.option("--boundaries", "boundaries_file", type=click.Path(dir_okay=False),
                     help="GeoJSON boundaries of areas (features whose properties.code is an area code): "
                          "groups with coordinates inside one belong to it. Kept in the store.")(f)
    return click.option("--areas", "areas_file", type=click.Path(dir_okay=False),
                        help="The areas this hub works in: a CSV with a header row code,name,level,parent "
                             "(GSS codes, e.g. E05000058; levels ward, borough, region or your own). Searches "
                             "by area then include the areas below. Kept in the store; docs/areas.md.")(f)


def _check_areas(settings: Settings, areas_file, boundaries_file) -> None:
    """A malformed areas or boundaries file stops the command before anything is stored."""
    if areas_file is None and boundaries_file is None:
        return
    from hubnet.crawler.store.areas import AreaSet
    try:
        AreaSet.read(areas_file, boundaries_file, **settings.area_limits())
    except HubnetError as exc:
        raise click.ClickException(exc.message) from None


def _geocoder_option(f):
    return click.option(
        "--geocoder", metavar="URL|off",
        help="The postcodes.io-compatible service that gives groups with a postcode but no coordinates "
             f"their place on the map, or off. Also read from HUBNET_GEOCODER.  [default: {Settings.geocoder}]",
        callback=_check_geocoder)(f)


def _check_geocoder(ctx, param, value):
    if value is None or value.strip().lower() == "off":
        return value and "off"
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise click.BadParameter(f"{value!r} is not an http(s) address such as https://api.postcodes.io, "
                                 "nor off", param_hint="--geocoder")
    return value.strip()


def _load_settings(config, **given) -> Settings:
    try:
        return load_settings(given, config_file=config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("seeds", nargs=-1)
@click.option("--seeds", "seeds_file", type=click.File("r"),
              help="A file of seeds, one per line (# starts a comment).")
@_store_option
@_config_option
@click.option("--max-sources", type=click.IntRange(1),
              help=f"Stop discovering new sources after this many.  [default: {Settings.max_sources}]")
@click.option("--max-depth", type=click.IntRange(0),
              help=f"How many links away from a seed to follow.  [default: {Settings.max_depth}]")
@click.option("--concurrency", type=click.IntRange(1, 1024),
              help="Sources fetched at once (different sites; each site still gets one request at a time).  "
                   f"[default: {Settings.concurrency}]")
@click.option("--delay", type=click.FloatRange(0),
              help="Seconds between two requests to the same site (a longer robots.txt Crawl-delay wins).  "
                   f"[default: {Settings.per_host_delay}]")
@click.option("--allow-private", is_flag=True, default=None,
              help="Allow loopback and private addresses and any port. For local demos and tests only: "
                   "never on a server that can reach an internal network.")
@click.option("--resolve", "resolves", multiple=True, metavar="HOST:PORT:ADDR",
              help="Connect to ADDR for HOST:PORT, like curl's --resolve (repeatable). "
                   "Lets tests and benchmarks serve many sites on loopback.")
@_geocoder_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_areas_options
def crawl(seeds, seeds_file, store_path, config, max_sources, max_depth, concurrency, delay, allow_private,
          resolves, geocoder, as_json, areas_file, boundaries_file):
    """Discover, fetch and store group profiles.

    SEEDS are profile URLs (https://group.example.org/profile.jsonld) or bare
    domains (group.example.org: then /.well-known/hubnet and the home page are
    tried). From the seeds the crawler follows links between groups (memberOf,
    member, linkedTo, vouchesFor, ...).

    Run again on the same store, it re-checks every known source cheaply
    (conditional requests: unchanged profiles cost no writes), follows new
    links, drops profiles whose sites answer 410 Gone (or 404 three times in
    a row), and keeps the last good version of a profile whose site is down.

    The crawler is polite: it obeys robots.txt, makes one request at a time
    to each site with a delay between them, and names itself in its
    User-Agent. It only connects to public addresses on ports 80 and 443.

    Exit status is 0 when the crawl ran, even if some sources failed (see
    `hubnet-crawler sources`), and non-zero when it could not run at all.

    \b
    Examples:
      hubnet-crawler crawl https://umbrella.example.org/
      hubnet-crawler crawl --seeds seeds.txt --max-depth 3 --json
      hubnet-crawler crawl                       # re-check everything already known
    """
    from hubnet.crawler.crawl.crawler import Crawler
    from hubnet.crawler.crawl.progress import ProgressLine, format_summary
    from hubnet.crawler.service import Aggregator

    all_seeds = list(seeds)
    if seeds_file is not None:
        all_seeds += [line.strip() for line in seeds_file if line.strip() and not line.lstrip().startswith("#")]
    settings = _load_settings(config, max_sources=max_sources, max_depth=max_depth, concurrency=concurrency,
                              per_host_delay=delay, allow_private=allow_private,
                              resolve=_parse_resolve(resolves) or None, geocoder=geocoder)
    _check_areas(settings, areas_file, boundaries_file)
    store = open_store(store_path, settings)
    if not all_seeds and not store.sources():
        raise click.UsageError("nothing to crawl: give a seed URL or domain (the store is empty).")
    # A redrawn line on a terminal; plain lines now and then in a log (never mixed into --json).
    progress = None if as_json else ProgressLine(tty=sys.stderr.isatty())
    service = Aggregator(store, settings, own_store=True, areas_file=areas_file, boundaries_file=boundaries_file)
    try:
        summary = Crawler(store, settings, progress=progress).crawl(all_seeds)
        try:
            service.after_crawl()  # the directory's text index in step; the data is safe in the store already
        except (sqlite3.Error, OSError) as exc:
            click.echo(f"warning: the text index was not updated ({exc}); `hubnet-crawler serve` will rebuild it",
                       err=True)
    finally:
        if progress:
            progress.close()
        service.close()
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        click.echo(format_summary(summary))


@main.command()
@_store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def sources(store_path, as_json):
    """List every source: its status, last success and last error (works while `serve` runs).

    The last error is in plain English: it is what a group needs to know to
    fix its profile. Statuses: ok; stale (the last fetch failed, the last good
    version is kept); failed (never fetched successfully); missing (404, kept
    for now); gone (withdrawn: the group's data was removed, a tombstone kept).
    """
    from .opscli import run_op
    from hubnet.crawler.crawl.progress import format_forgotten, format_sources
    from hubnet.crawler.store.graph import SourceRecord

    listing = run_op(store_path, "sources", {})   # works while `serve` runs (control.py)
    if as_json:
        click.echo(json.dumps(listing, indent=2))
    else:
        click.echo(format_sources([SourceRecord(**r) for r in listing["sources"]]))
        if listing["forgotten"]:
            click.echo(format_forgotten(listing["forgotten"]))


@main.command()
@click.argument("sparql")
@_store_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "tsv"]), default="table",
              show_default=True, help="Output format for SELECT results (CONSTRUCT always prints N-Triples).")
def query(sparql, store_path, fmt):
    """Run a SPARQL query against the store and print the results.

    SPARQL is the query text, or @FILE to read it from a file (e.g. one of
    examples/queries/*.rq). The default graph is the union of all sources.
    Read-only: updates are refused. Works while `serve` runs on the store:
    then the server runs it, with its SPARQL time limit and row cap.

    \b
    Example:
      hubnet-crawler query 'SELECT (COUNT(*) AS ?n) { ?g a <http://schema.org/Organization> }'
      hubnet-crawler query @examples/queries/groups.rq --format csv
    """
    from .opscli import run_op

    if sparql.startswith("@"):
        try:
            sparql = Path(sparql[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot read {sparql[1:]}: {exc.strerror}") from None
    answer = run_op(store_path, "query", {"sparql": sparql, "format": fmt})
    click.echo(answer["text"], nl=False)
    if answer.get("note"):
        click.echo(answer["note"], err=True, nl=False)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--graph", required=True, help="The graph IRI to load into (replaces that graph).")
@click.option("--format", "fmt", type=click.Choice(["auto", "turtle", "jsonld", "ntriples", "html"]), default="auto",
              show_default=True, help="The file's format (auto: from its extension).")
@_store_option
def load(file, graph, fmt, store_path):
    """Import a local RDF file as a graph (e.g. a council's existing list of groups).

    The file is read with the same safe parser as crawled profiles (no remote
    contexts, no named graphs) and replaces GRAPH <IRI> in one transaction.
    Unlike crawled sources, a loaded graph is not limited to one origin: you
    vouch for it by loading it.

    \b
    Example:
      hubnet-crawler load council-groups.ttl --graph https://council.example.gov.uk/groups
    """
    from hubnet.crawler.store.graph import load_file

    store = open_store(store_path)
    try:
        n = load_file(store, Path(file), graph, fmt)
    except HubnetError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    click.echo(f"loaded {n} statements into <{graph}>")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["nquads", "trig"]), default="nquads", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@_store_option
def export(fmt, output, store_path):
    """Export every graph (sources, provenance, block list) as N-Quads or TriG (works while `serve` runs)."""
    from .opscli import export_op, require_store

    require_store(store_path)
    if output:
        with open(output, "wb") as fh:
            export_op(store_path, fmt, fh)
    else:
        export_op(store_path, fmt, sys.stdout.buffer)


@main.command()
@_store_option
@_config_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. 127.0.0.1 means only this computer can connect. To serve "
                   "the public, keep 127.0.0.1 and put a reverse proxy (nginx, Caddy) in front that "
                   "terminates HTTPS and forwards to this port (see --trusted-proxy); 0.0.0.0 listens "
                   "on every interface, with no HTTPS.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port to listen on.")
@click.option("--recrawl-interval", metavar="DURATION", default=None,
              show_default=duration_text(SERVER_DEFAULTS["RECRAWL_INTERVAL"]),
              help="Re-check every known source this often: 30m, 6h, 1d (s, m, h, d), so a lost ping is "
                   "picked up and the directory never goes stale silently. With off, sources are re-checked "
                   "only when pinged (POST /ping) or by `hubnet-crawler crawl` while the server is stopped.")
@click.option("--cors", is_flag=True, default=None,
              help="Send Access-Control-Allow-Origin: * with the JSON API and data downloads, so web pages "
                   "on other sites may use them (/sparql always allows this).")
@click.option("--allow-private", is_flag=True, default=None,
              help="Let the crawler fetch from loopback and private addresses and any port. For local "
                   "demos and tests only: never on a server that can reach an internal network.")
@click.option("--resolve", "resolves", multiple=True, metavar="HOST:PORT:ADDR",
              help="Connect to ADDR for HOST:PORT when crawling, like curl's --resolve (repeatable).")
@click.option("--tiles", metavar="URL", show_default=SERVER_DEFAULTS["TILE_URL"], help="Map tile URL template for /map. Use a tile server whose terms allow "
                                      "your traffic, and set --tile-attribution to match.")
@click.option("--tile-attribution", metavar="TEXT", show_default=SERVER_DEFAULTS["TILE_ATTRIBUTION"],
              help="Attribution the tile provider requires, shown on the map.")
@click.option("--query-timeout", type=click.FloatRange(0.1, 600), show_default=str(SERVER_DEFAULTS["QUERY_TIMEOUT"]),
              help="Seconds before a SPARQL query is stopped.")
@click.option("--trusted-proxy", metavar="ADDR",
              help="Address of your reverse proxy (e.g. 127.0.0.1). Its X-Forwarded-For/-Proto/-Host "
                   "headers are then believed, so rate limits see each client. Without it, those headers "
                   "are ignored.")
@click.option("--public-url", metavar="URL",
              help="The address people reach this server at, e.g. https://hub.example.org/. Links in "
                   "/export.csv, /export.geojson, VoID and the SPARQL service description use it; the "
                   "request's Host header never does. Default: http://HOST:PORT/ as listened on.")
@_areas_options
@_geocoder_option
def serve(store_path, config, host, port, recrawl_interval, cors, allow_private, resolves, tiles, tile_attribution,
          query_timeout, trusted_proxy, public_url, areas_file, boundaries_file, geocoder):
    """Serve the directory, its JSON API, a map, data downloads and SPARQL.

    One process holds the store: while the server runs, it does all the
    crawling (pings and --recrawl-interval) in one background thread, and
    `hubnet-crawler crawl` against the same store refuses to start (POST a
    profile URL to /ping instead). `sources`, `query`, `groups`, `export`,
    `import`, `forget`, `unforget` and `backup` still work: they ask the server through
    a socket in the store directory. The log is JSON Lines on stderr, one line
    per crawl, ping, refusal and error. Running it for others (systemd,
    HTTPS with Caddy or nginx, backups, upgrades): docs/operating.md.

    \b
    Pages and their JSON twins:
      /                  search groups by words, topic, kind and area   /api/groups
      /groups/KEY        one group: profile, offers, needs, links       /api/groups/KEY
      /map               groups with a location, on a map              /export.geojson
      /areas             areas (ward, borough, region) and their groups /api/areas
      /sources           how fetching each profile went                 /sources.json
      /sources/KEY       one source: its health and its profile's problems  /api/sources/KEY
    \b
    Data and service:
      /sparql            SPARQL 1.1 endpoint (read-only)
      /dump.nq  /export.csv  /export.geojson  /.well-known/void  /health
      POST /ping url=... re-check one profile now (rate-limited)

    \b
    Examples:
      hubnet-crawler serve                                 # http://127.0.0.1:8080/
      hubnet-crawler serve --recrawl-interval 1d --cors   # re-check daily (default 6h; off: never)
      hubnet-crawler serve --port 8081 --trusted-proxy 127.0.0.1   # behind nginx/Caddy
    """
    from .web.serve import parse_duration, run

    try:
        # Given as "off", it is 0 (never), which beats a [server] recrawl_interval; not given, None.
        interval = None if recrawl_interval is None else (parse_duration(recrawl_interval) or 0)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--recrawl-interval") from None
    crawl_settings = _load_settings(config, allow_private=allow_private, resolve=_parse_resolve(resolves) or None,
                                    geocoder=geocoder)
    _check_areas(crawl_settings, areas_file, boundaries_file)
    try:
        app_config = server_config({"STORE": store_path, "RECRAWL_INTERVAL": interval, "CORS": cors,
                                    "TILE_URL": tiles, "TILE_ATTRIBUTION": tile_attribution,
                                    "QUERY_TIMEOUT": query_timeout, "PUBLIC_URL": public_url,
                                    "AREAS_FILE": areas_file, "BOUNDARIES_FILE": boundaries_file},
                                   config_file=config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    app_config.update({"ALLOW_PRIVATE": crawl_settings.allow_private, "RESOLVE": crawl_settings.resolve,
                       "CRAWL_SETTINGS": crawl_settings})
    app_config.setdefault("PUBLIC_URL", f"http://{f'[{host}]' if ':' in host else host}:{port}")
    run(app_config, host=host, port=port, trusted_proxy=trusted_proxy)


from . import opscli  # noqa: E402,F401  (registers groups, forget, unforget, backup, import on main)

if __name__ == "__main__":  # pragma: no cover
    main()
