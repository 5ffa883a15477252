"""Every aggregator setting and its default, in one place (as Scrapy keeps its default settings).

The crawl: polite, safe defaults, each citing why it is what it is (docs/threat-model.md has the
threats they answer). A ``Settings`` instance carries them through the crawl. ``load()`` layers them
like the node's settings: defaults -> TOML file -> ``HUBNET_*`` environment -> command line.

The server: ``SERVER_DEFAULTS``, the web app's config keys (``crawler/web``), layered the same
way by ``server_config()``: a ``[server]`` table in the same TOML file, ``HUBNET_<KEY>``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from hubnet import __version__

USER_AGENT = f"hubnet-crawler/{__version__} (+https://w3id.org/hubnet; community-group directory crawler)"

# The server re-checks every known source this often unless told otherwise (`serve --recrawl-interval`):
# a lost ping is picked up within it, and a hub nobody tends does not go stale silently.
RECRAWL_INTERVAL = 6 * 3600.0

# Media types we read a profile from, with what each holds.
PROFILE_TYPES = ("application/ld+json", "application/json", "text/html", "text/turtle")
ACCEPT = "application/ld+json, application/json;q=0.9, text/turtle;q=0.8, text/html;q=0.5"


@dataclass
class Settings:
    # --- who we say we are
    user_agent: str = USER_AGENT
    # --- where we may connect (T1-T3): http/https, ports 80/443, public addresses only
    allowed_schemes: tuple = ("http", "https")
    allowed_ports: tuple = (80, 443)
    allow_private: bool = False          # --allow-private: loopback/private addresses and any port (demos, tests)
    resolve: dict = field(default_factory=dict)  # {(host, port): address}, like curl --resolve
    # Operator exceptions (Mastodon's ALLOWED_PRIVATE_ADDRESSES): CIDRs reachable even without
    # allow_private, e.g. a node on the LAN. Tests use ("127.0.0.1/32",) so 127.0.0.2 stays blocked.
    allowed_private_addresses: tuple = ()
    # --- how long and how much (T6): Mastodon's 5/10/30 s, Misskey's 256 KiB
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    max_redirects: int = 3
    max_body: int = 256 * 1024
    # --- robots.txt (RFC 9309)
    obey_robots: bool = True
    robots_max_redirects: int = 5
    robots_max_body: int = 512 * 1024
    robots_cache_ttl: float = 24 * 3600
    robots_cache_size: int = 20_000      # origins remembered across crawls (RobotsCache); the oldest go first
    # URLs (canonical form), addresses (blocked or not, subnet) and hosts whose policy answers one crawl keeps
    # (netpolicy.AddressPolicy, the crawler's queue): each is asked again at every step of a URL's way.
    # Least recently used go first, so a crawl of millions of hosts holds at most this many of each.
    policy_cache_size: int = 4096
    # --- politeness (T12): one request in flight per host, a delay between them
    per_host_delay: float = 1.0
    max_crawl_delay: float = 30.0        # Crawl-delay honoured up to this; a host asking more is skipped
    retries: int = 2                     # on 429/5xx/connection errors
    retry_backoff: float = 1.0           # seconds, doubled each retry, with jitter
    max_retry_after: float = 120.0       # a longer Retry-After defers the host to the next crawl
    concurrency: int = 32                # hosts in flight at once (plus ping_workers, for pings only)
    # Per resolved address, and per IPv4 /24 or IPv6 /64, so that many names on one machine
    # (or one rack) do not turn the crawler into an amplifier (issue 12, finding 4). Looser
    # than per name: shared hosting (GitHub Pages, WordPress.com) serves many groups from one address.
    per_address_concurrency: int = 2     # requests in flight to one address
    per_subnet_concurrency: int = 6      # requests in flight to one /24 (IPv4) or /64 (IPv6)
    per_address_delay: float | None = None  # seconds between request starts; None: per_host_delay / 4
    per_subnet_delay: float | None = None   # the same per /24 or /64; None: per_host_delay / 8
    # --- connections: aiohttp keeps one idle keep-alive socket per host, which at 10,000 hosts
    # ran out of file descriptors (EMFILE under ulimit -n 1024). Two per worker keeps the
    # robots.txt-then-profile pair on one connection; the least recently used beyond are closed.
    max_idle_connections: int | None = None  # None: 2 x concurrency
    keepalive_timeout: float = 5.0       # idle sockets closed after this (Apache's default; aiohttp's is 15 s)
    # --- the frontier (T11)
    max_depth: int = 5
    max_sources: int = 10_000            # new sources per crawl
    max_urls_per_host: int = 200         # URLs fetched from one host name per crawl; the rest wait (over_quota)
    ping_workers: int = 2                # workers reserved for pings, so a ping never waits behind a re-crawl
    # --- budgets (issue 12, finding 3): what one seed, ping or site may add; excess is skipped
    # or refused with the reason code over_quota. A "domain" is the registrable domain
    # (Public Suffix List): a.github.io and b.github.io are two, www.x.org.uk and x.org.uk one.
    ping_max_depth: int = 1              # a ping reaches the pinged URL and its direct links, never further
    ping_max_new_sources: int = 20       # new sources one ping may add per crawl
    ping_max_triples: int = 20_000       # statements one ping's sources may add per crawl
    max_new_sources_per_seed: int = 1_000   # per seed (or re-checked source) and its links, per crawl
    max_triples_per_seed: int = 500_000     # statements added under one seed per crawl
    max_new_sources_per_domain: int = 100   # new sources on one registrable domain per crawl
    max_triples_per_domain: int = 100_000   # statements held for one registrable domain, store-wide
    max_store_sources: int = 100_000     # source records the store may hold (tombstones excluded)
    max_store_triples: int = 5_000_000   # statements the store may hold
    max_outlinks: int = 50
    max_url_length: int = 2083
    # --- parsing (T7)
    max_json_depth: int = 64
    max_json_nodes: int = 10_000
    max_triples: int = 5_000
    max_literal: int = 64 * 1024
    max_iri: int = 2083
    # Values kept per subject and property (the first ones, in document order; the rest are dropped
    # with a note). Bounds what any one profile adds to every internal query and page: no real profile
    # has 100 names, and an umbrella listing more than 100 members has its outlinks capped at
    # max_outlinks anyway (issue 12, finding 2).
    max_values_per_property: int = 100
    # --- store writes
    # New sources (never held before) written together, graphs and records, by the store's bulk
    # loader; removing the batch's note is its commit, and a store opened with the note still there
    # undoes the batch (issue 18). 0: one transaction per source, as changes always are. None: the
    # store's own size (``Store.BULK_BATCH``: 2,000 for the embedded store, 500 for a SPARQL server).
    bulk_batch: int | None = None
    # --- parsing in other processes (issue 18; crawl/parsers.py): parse_source and the editor's rules
    # run in this many processes, so the pipeline thread only writes (the GIL makes a thread useless).
    # 1 by default: a first crawl of 2,000 groups ran 1.03-1.43x faster (median 1.23x) on a shared
    # 2-CPU machine, the crawler process's own CPU -79 % (bench/results.md, "Issue 18, second pass"),
    # and a document that hangs its parser can be stopped (parse_timeout), which a thread cannot be.
    # 0: parsed on the pipeline thread, with no time budget. A process reads one document at a time;
    # at most parse_workers * parse_backlog are handed over at once. 8 rather than 2: documents
    # waiting together cross in one message, and a first crawl of 3,000 groups ran faster in each of 5
    # alternated pairs on a quiet 2-CPU machine (median 1.08x; bench/results.md, "third pass"). When a
    # document overruns parse_timeout, the others handed over with it are parsed again, each alone.
    parse_workers: int = 1
    parse_backlog: int = 8
    # Seconds a document may take from its hand-over to a parser process to its answer (parse and the
    # editor's rules); past it the processes are killed and restarted, and the document, parsed again
    # alone, fails with parse_timeout if it overruns again (the others are read). The slowest real
    # profile measured takes ~0.2 s of CPU; a hostile one can take minutes (docs/threat-model.md T7).
    # 0: no budget. Only with parse_workers > 0: nothing can stop the pipeline thread mid-document.
    parse_timeout: float = 10.0
    # Bytes one answer from a parser process may take (read by the event loop: crawl/parsers.py). An
    # answer longer than this counts as the process dying (parser_died). An honest answer is at most
    # ~max_triples x 3 x max_iri (~31 MB with the defaults: every statement naming three IRIs of the
    # longest length) plus the body's literals; a real profile's, ~5 KB.
    parse_answer_max: int = 64 * 1024 * 1024
    # --- a store on a SPARQL server (--store sparql+http://host:port/sparql; docs/scaling.md)
    store_update_endpoint: str = ""      # SPARQL Update endpoint; "": the --store endpoint itself
    store_user: str = ""                 # credentials (HUBNET_STORE_USER, ...; never on the command line);
    store_password: str = ""             # "": the server lets anonymous clients update (a loopback test server)
    store_password_file: str = ""        # a file holding the password, read instead of store_password
    store_auth: str = "digest"           # "digest" (Virtuoso's /sparql-auth) or "basic" (Fuseki, GraphDB)
    store_timeout: float = 30.0          # seconds one request to the store may take
    store_retries: int = 2               # retries of a request that could not connect or got a 502, 503, 504
    store_max_answer_bytes: int = 256 * 1024 * 1024   # bytes of one answer read from the store
    # Statements per INSERT DATA operation; a source's are several operations of its one request
    # (Virtuoso 7's SPARQL parser runs out of stack past ~5,000 statements in one).
    store_insert_chunk: int = 1000
    store_local_dir: str = "hubnet-local"   # this front end's own derived files (text index, areas)
    store_poll_interval: float = 30.0    # seconds between a serving front end's looks at the store's change log
    store_change_margin: float = 300.0   # seconds of the change log read again (writers' clocks, late commits)
    store_change_keep_days: float = 7.0  # change-log entries older than this are deleted; a front end
                                         # that has not looked for longer compares everything
    # --- the editor's rules on crawled profiles (issue 14): problems shown on the source's health
    check_profiles: bool = True          # validate new and changed profiles (~0.4 ms each; unchanged: free)
    max_profile_problems: int = 20       # problems kept per source; a profile with more shows the first ones
    max_problem_length: int = 500        # characters of one problem's message (it may quote the profile)
    # --- geocoding (issue 14): groups with a postcode and no position, after each crawl (crawl/geocode.py)
    geocoder: str = "https://api.postcodes.io"   # a postcodes.io-compatible service, or "off"
    geocoder_batch: int = 100            # postcodes per bulk request (postcodes.io's own limit)
    geocoder_max_body: int = 1024 * 1024  # bytes of one answer (100 full results are ~150 KiB)
    # --- lifecycle (T13)
    misses_before_delete: int = 3        # consecutive 404s (or off-site redirects) before a source's graph is dropped
    failed_source_attempts: int = 5      # failed fetches before a source that never worked is forgotten
    stale_after_days: int = 90           # no successful fetch for this long: pages show the group as stale
    remove_after_days: int = 180         # no successful fetch for this long: graph dropped, tombstone kept
    # An unchanged source's record (last checked, last fetched successfully) is rewritten at most this
    # often, so that re-crawling 10,000 unchanged sources writes nothing, yet the dates stay within a day.
    record_check_every: float = 24 * 3600
    # --- the operator's areas (--areas, --boundaries; crawler/store/areas.py): checked whole before use.
    # England and Wales have ~9,000 wards and ~350 local authorities; a detailed ward boundary set is ~1M points.
    areas_max_bytes: int = 20 * 1024 * 1024   # bytes of each file
    areas_max_rows: int = 50_000              # areas in the areas file
    boundary_max_points: int = 2_000_000      # [lon, lat] positions in the boundaries file
    # --- imports (hubnet-crawler import: Open Referral UK and Murmurations files; crawler/importer.py).
    # The whole file is read and checked before anything is stored; each record then obeys the parse
    # limits above, as a crawled profile does. A council's full export of ~5,000 services is ~20 MB.
    import_max_bytes: int = 50 * 1024 * 1024   # bytes of one import file
    import_max_records: int = 20_000           # groups one import file may hold

    def area_limits(self) -> dict:
        """The limits ``hubnet.crawler.store.areas`` reads the operator's files with."""
        return {"max_bytes": self.areas_max_bytes, "max_rows": self.areas_max_rows,
                "max_points": self.boundary_max_points}

    @property
    def address_delay(self) -> float:
        return self.per_host_delay / 4 if self.per_address_delay is None else self.per_address_delay

    @property
    def subnet_delay(self) -> float:
        return self.per_host_delay / 8 if self.per_subnet_delay is None else self.per_subnet_delay

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------ the server (crawler/web config keys)
DEFAULT_STORE = "hubnet-data"
# Key                  Meaning
# STORE                  store directory, or an open ``hubnet.crawler.store.graph.Store``
# RECRAWL_INTERVAL       seconds between re-crawls of every known source (6 h); 0/None: never
# CRAWL_SETTINGS         a ``hubnet.crawler.settings.Settings`` for the background crawls; else built
#                        from ALLOW_PRIVATE (bool) and RESOLVE ({(host, port): address})
# CORS                   add ``Access-Control-Allow-Origin: *`` to API and data responses
# TILE_URL               map tiles, ``{s}/{z}/{x}/{y}`` template
# TILE_ATTRIBUTION       text shown on the map
# TILE_ATTRIBUTION_URL   where the attribution links
# QUERY_TIMEOUT          seconds before a SPARQL query is killed
# QUERY_ROW_CAP          most rows in a SPARQL answer
# QUERY_WORKERS          SPARQL worker processes
# QUERY_CLIENT_RUNNING   SPARQL queries one client may have running at once
# QUERY_CLIENT_SECONDS   worker-seconds one client's SPARQL queries may use per minute
# QUERY_DEMOTE_AFTER     seconds after which a running SPARQL query drops to the lowest CPU priority
#                        so it cannot slow other clients' short queries
# PING_LIMIT             flask-limiter rate for POST /ping per client
# PING_MAX_BODY          bytes a POST /ping body may have; /sparql allows its query cap
# MAX_CONTENT_LENGTH     bytes any other request body may have; more is 413 too_large
# PUBLIC_URL             the server's public base URL, used in exports, VoID and the SPARQL service
#                        description; the request's Host header never is
# SPARQL_LIMIT           flask-limiter rate for /sparql per client
# RATELIMIT_STORAGE_URI  flask-limiter storage
# BACKGROUND             start the crawler thread
# PAGE_SIZE              groups per directory page
# MAP_LIMIT              most groups on the map page
# MODEL_BUILD_BUDGET     seconds a brokering model build may take before it is stopped and the
#                        previous model kept
# MODEL_WAIT             seconds a request waits for a model being built before it is answered
#                        from the previous model, or with 503 + Retry-After
# REQUEST_QUERY_BUDGET   seconds of store queries one page or API request may spend (group page,
#                        contacts) before it answers 503 + Retry-After
# INDEX_SYNC_BUDGET      seconds the text index sync after a crawl may spend extracting; what it
#                        did not reach is indexed by the next sync
# INDEX_SYNC_BATCH       sources the text index sync extracts and commits at a time: its memory
#                        follows this, not the store's size; each batch is searchable once committed
# INDEX_SYNC_PAUSE       seconds the index sync rests after each batch, leaving the CPU to requests
# INDEX_START_INLINE     at start, the server brings the index in step before answering when at
#                        most this many sources need looking at; more (a rebuild, a large backlog)
#                        are indexed in the background while it answers (/health shows progress)
# CONTROL_TIMEOUT        seconds each read or write on the CLI's control socket may wait, so a
#                        stuck client cannot hold it (crawler/control.py)
# AREA_PAGE_LIMIT        most groups listed (with contacts) on an area's page; counts cover all
# AREAS_FILE             the operator's areas (code,name,level,parent CSV; docs/areas.md), kept in the store
# BOUNDARIES_FILE        the operator's area boundaries (GeoJSON features with properties.code)
# Directory search: when more groups than this match a search's words (a very common word), only
# the most recently indexed this many of them are ranked by relevance, first; the others follow,
# most recently indexed first (docs/query.md). Ranking every match of a word in 70,000 of 100,000
# groups costs ~100-250 ms a request; this many, ~10 ms. Below it every match is ranked.
SEARCH_RANK_WINDOW = 2_000

SERVER_DEFAULTS = {
    "STORE": DEFAULT_STORE,
    "RECRAWL_INTERVAL": RECRAWL_INTERVAL,
    "CRAWL_SETTINGS": None,
    "ALLOW_PRIVATE": False,
    "RESOLVE": {},
    "CORS": False,
    "TILE_URL": "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
    "TILE_ATTRIBUTION": "© OpenStreetMap contributors",
    "TILE_ATTRIBUTION_URL": "https://www.openstreetmap.org/copyright",
    "QUERY_TIMEOUT": 10.0,
    "QUERY_ROW_CAP": 10_000,
    "QUERY_WORKERS": 2,
    "QUERY_CLIENT_RUNNING": 1,
    "QUERY_CLIENT_SECONDS": 20.0,
    "QUERY_DEMOTE_AFTER": 0.5,
    "PING_LIMIT": "10 per minute",
    "PING_MAX_BODY": 8 * 1024,
    "MAX_CONTENT_LENGTH": 1024,
    "PUBLIC_URL": "http://localhost",
    "SPARQL_LIMIT": "120 per minute",
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": True,
    "BACKGROUND": True,
    "PAGE_SIZE": 20,
    "MAP_LIMIT": 2000,
    "MODEL_BUILD_BUDGET": 120.0,
    "MODEL_WAIT": 2.0,
    "REQUEST_QUERY_BUDGET": 10.0,
    "INDEX_SYNC_BUDGET": 300.0,
    "INDEX_SYNC_BATCH": 500,
    "INDEX_SYNC_PAUSE": 0.0,
    "INDEX_START_INLINE": 500,
    "CONTROL_TIMEOUT": 60.0,
    "AREA_PAGE_LIMIT": 200,
    "AREAS_FILE": None,
    "BOUNDARIES_FILE": None,
}
# Not read from the [server] table or HUBNET_<KEY> here: the store is every command's --store
# (HUBNET_STORE), allow_private and resolve are crawl settings, CRAWL_SETTINGS only a program passes.
_SERVER_CODE_ONLY = ("STORE", "CRAWL_SETTINGS", "ALLOW_PRIVATE", "RESOLVE", "AREAS_FILE", "BOUNDARIES_FILE")


# ------------------------------------------------------------------ loading, layered like the node's
ENV_PREFIX = "HUBNET_"
CONFIG_ENV = "HUBNET_CONFIG"


class ConfigError(ValueError):
    """A setting that cannot work; the message names it and says why."""


def load(overrides: dict | None = None, *, config_file=None, environ=None) -> Settings:
    """The crawl settings, each layer overriding the one before (as ``node/config.py`` does):

    1. the defaults above;
    2. a TOML file: ``config_file`` or the ``HUBNET_CONFIG`` environment variable, with the field
       names as keys (``max_sources = 500``, ``per_host_delay = 2.0``);
    3. ``HUBNET_<FIELD>`` environment variables, e.g. ``HUBNET_MAX_SOURCES=500``;
    4. ``overrides``: the command line's options that were given (None means "not given").
    """
    environ = os.environ if environ is None else environ
    values: dict = {}
    path = config_file or environ.get(CONFIG_ENV)
    if path:
        values.update(_read_toml(path))
    for f in dataclasses.fields(Settings):
        raw = environ.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _coerce(f, raw, f"{ENV_PREFIX}{f.name.upper()}")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return Settings(**values)


def store_location(config_file=None, *, environ=None) -> str | None:
    """The TOML file's top-level ``store`` (a directory, or ``sparql+http://host:port/sparql``), if it
    gives one: what ``--store`` means when neither the option nor ``HUBNET_STORE`` is given."""
    environ = os.environ if environ is None else environ
    path = config_file or environ.get(CONFIG_ENV)
    if not path:
        return None
    value = _load_toml(path).get("store")
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{path}: store must be a directory or a sparql+http:// address, in quotes")
    return value


def server_config(overrides: dict | None = None, *, config_file=None, environ=None) -> dict:
    """The server settings set above their defaults (``SERVER_DEFAULTS``), each layer overriding
    the one before: the ``[server]`` table of the TOML file (``config_file`` or ``HUBNET_CONFIG``;
    keys in lower case, ``query_timeout = 20``), ``HUBNET_<KEY>`` environment variables
    (``HUBNET_QUERY_TIMEOUT=20``), then ``overrides`` (the options given; None means not given).
    ``create_app`` fills in the defaults for the rest."""
    environ = os.environ if environ is None else environ
    layered = {k: v for k, v in SERVER_DEFAULTS.items() if k not in _SERVER_CODE_ONLY}
    values: dict = {}
    path = config_file or environ.get(CONFIG_ENV)
    if path:
        table = _load_toml(path).get("server", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: server must be a table ([server])")
        unknown = sorted(k for k in table if k.upper() not in layered)
        if unknown:
            raise ConfigError(f"{path}: unknown server setting(s) {', '.join(unknown)} "
                              "(see hubnet.crawler.settings.SERVER_DEFAULTS)")
        values.update({k.upper(): _coerce_value(k, layered[k.upper()], v, f"{path}: [server] {k}")
                       for k, v in table.items()})
    for key, default in layered.items():
        raw = environ.get(ENV_PREFIX + key)
        if raw is not None:
            values[key] = _coerce_value(key.lower(), default, raw, ENV_PREFIX + key)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return values


def _load_toml(path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"the config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None


def _read_toml(path) -> dict:
    raw = _load_toml(path)
    raw.pop("server", None)  # the server's table: server_config() reads it
    raw.pop("store", None)   # where the store is: store_location() reads it
    known = {f.name: f for f in dataclasses.fields(Settings)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)} (see docs/crawler.md, Settings)")
    return {k: _coerce(known[k], v, f"{path}: {k}") for k, v in raw.items()}


def _coerce(f: dataclasses.Field, value, where: str):
    """A TOML value or an environment string as the type of the field's default."""
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return _coerce_value(f.name, default, value, where)


def _coerce_value(name: str, default, value, where: str):
    """``value`` (TOML or an environment string) as the type of ``default``; a None default
    means a number (a count, or seconds) or nothing."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.strip().lower() not in _BOOLS:
                    raise ValueError
                return _BOOLS[value.strip().lower()]
            if not isinstance(value, bool):
                raise ValueError
            return value
        if isinstance(default, dict):
            raise ValueError  # {(host, port): address}: the command line's --resolve only
        if isinstance(default, tuple):
            items = value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
            kind = type(default[0]) if default else str
            return tuple(kind(v) for v in items)
        if default is None and str(value).strip().lower() in ("", "none"):
            return None
        if default is None:
            kind = float if isinstance(value, float) or "." in str(value) else int
        else:
            kind = type(default)
        if isinstance(value, bool) or (kind is int and isinstance(value, float)) \
                or (kind is str and not isinstance(value, str)):
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a valid value for {name} "
                          f"(default {default!r})") from None


_BOOLS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
