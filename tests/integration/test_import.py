"""hubnet-crawler import: Open Referral UK (HSDS) and Murmurations files as second-hand sources.

Through the user's doors: the CLI (in process, and against a running `serve`), then the served API,
pages and exports; replacement by a group's own profile through a real crawl over loopback; the
attacks (an import naming a crawled group; a crawled profile claiming an imported group's website);
broken files refused with nothing stored touched; and a round trip of our own Open Referral export.
"""

from __future__ import annotations

import copy
import json
import queue
import re
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubnet.crawler.cli import main as cli
from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.importer import import_file
from hubnet.crawler.query.contacts import contact_details
from hubnet.crawler.service import Aggregator
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import GONE, OK, Store
from hubnet.crawler.store.secondhand import IMPORT_PREFIX
from hubnet.testing import Federation, wait_for
from server_helpers import crawler_command, make_app, read_lines

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"
HSDS = DATA / "openreferral-full-export.json"
MURM = DATA / "murmurations-index.json"
PROBLEMS = DATA / "openreferral-services-with-problems.json"
HSDS_NAMES = {"Tuesday Lunch Club", "Leyton Repair Café", "Homework Club", "Leyton Food Bank", "Community Fridge",
              "Cook and Eat"}
MURM_NAMES = {"Walthamstow Ecovillage Network", "Leyton Co-operative Bakery", "E17 Timebank",
              "Lea Bridge Community Garden", "Forest Community Solar"}
COUNCIL = "https://council.example.gov.uk/openreferral/services"
HUB = "https://index.murmurations.network/v2/nodes"


def run(*args, config: Path | None = None):
    argv = [str(a) for a in args] + (["--config", str(config)] if config else [])
    return CliRunner().invoke(cli, argv, catch_exceptions=False)


def imported(store_path, *args):
    result = run("import", *args, "--store", store_path)
    assert result.exit_code == 0, result.output
    return result.output


def snapshot(store_path) -> dict:
    """Every source record and a hash of every graph: what 'nothing stored was touched' compares."""
    store = Store(store_path)
    try:
        records = {u: r.to_dict() for u, r in store.sources().items()}
        graphs = {g: content_hash(store.graph_triples(g)) for g in store.named_graphs()}
    finally:
        store.close()
    return {"records": records, "graphs": graphs}


def _sources(store_path) -> dict:
    store = Store(store_path)
    try:
        return store.sources()
    finally:
        store.close()


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """A store with both samples imported through the CLI, and an app serving it."""
    path = tmp_path_factory.mktemp("imports") / "store"
    out_hsds = imported(path, HSDS, "--from", COUNCIL)
    out_murm = imported(path, MURM, "--from", HUB)
    fed = Federation()
    app = make_app(fed, path)
    yield path, app, out_hsds, out_murm
    app.extensions["hubnet"].close()
    fed.close()


# ----------------------------------------------------------------------------- the CLI
def test_each_sample_becomes_second_hand_groups(both):
    path, app, out_hsds, out_murm = both
    assert "6 new" in out_hsds and "Open Referral UK" in out_hsds and "0 skipped" in out_hsds
    assert "5 new" in out_murm and "Murmurations" in out_murm
    records = list(app.extensions["hubnet"].store.sources().values())
    assert len(records) == 11 and all(r.url.startswith(IMPORT_PREFIX) and r.graph == r.url for r in records)
    assert {(r.found_via, r.status) for r in records} == {("import", OK)}
    assert {r.imported_from for r in records if r.import_format == "openreferral"} == {COUNCIL}
    assert {r.imported_from for r in records if r.import_format == "murmurations"} == {HUB}
    groups = app.test_client().get("/api/groups?limit=100").get_json()["groups"]
    assert {g["name"] for g in groups} == HSDS_NAMES | MURM_NAMES
    lunch = next(g for g in groups if g["name"] == "Tuesday Lunch Club")
    assert (lunch["lat"], lunch["lon"]) == (51.561, -0.0118) and set(lunch["topics"]) == {"Food", "Older people"}
    assert lunch["url"] == "https://leyton-trust.example.org/lunch-club"
    bakery = next(g for g in groups if g["name"] == "Leyton Co-operative Bakery")
    assert bakery["url"] == "https://leyton-coop.example.org" and "bread" in bakery["topics"]
    store = app.extensions["hubnet"].store
    by_name = {g["name"]: g["id"] for g in groups}
    contacts = contact_details(store, [by_name["Homework Club"], by_name["Tuesday Lunch Club"],
                                       by_name["Community Fridge"]])
    assert contacts[by_name["Homework Club"]]["email"] == "homework@leyton-trust.example.org"
    assert contacts[by_name["Homework Club"]]["telephone"] == "020 8555 0103"        # the contact's phone
    assert contacts[by_name["Tuesday Lunch Club"]]["telephone"] == "020 8555 0101"  # the service's phone
    assert contacts[by_name["Community Fridge"]]["telephone"] == "020 8555 0200"    # its organization's


def test_one_murmurations_profile_and_a_list_of_profiles(tmp_path):
    one = json.loads((DATA / "murmurations-profile.json").read_text())
    listed = tmp_path / "profiles.json"
    listed.write_text(json.dumps([one, dict(one, name="Another Bakery", primary_url="another.example.org")]))
    for f, n in ((DATA / "murmurations-profile.json", 1), (listed, 2)):
        out = imported(tmp_path / f.stem, f)
        assert f"{n} new" in out and "Murmurations" in out


def test_reimport_changes_nothing_and_writes_nothing(both, tmp_path):
    path = tmp_path / "store"
    imported(path, HSDS, "--from", COUNCIL)
    before = snapshot(path)
    writes = []
    store = Store(path, on_write=lambda parts: writes.append(parts) or parts)
    try:
        report = import_file(store, HSDS, Settings(), origin=COUNCIL)
    finally:
        store.close()
    assert (report.unchanged, report.new, report.updated, report.removed) == (6, 0, 0, 0) and writes == []
    assert "6 unchanged" in imported(path, HSDS, "--from", COUNCIL)
    assert snapshot(path) == before


def test_a_newer_export_updates_and_removes_only_its_own_origin(tmp_path):
    path = tmp_path / "store"
    imported(path, HSDS, "--from", COUNCIL)
    imported(path, MURM, "--from", HUB)
    hub_graphs = {r.url: snapshot(path)["graphs"][r.url] for r in _sources(path).values() if r.imported_from == HUB}
    newer = json.loads(HSDS.read_text())
    newer["services"] = [s for s in newer["services"] if s["id"] != "s-0006"]        # Cook and Eat ended
    newer["services"][0]["description"] = "Now on Tuesdays and Thursdays."
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    out = imported(path, tmp_path / "newer.json", "--from", COUNCIL)
    assert "0 new, 1 updated, 4 unchanged, 1 removed" in out
    records = _sources(path)
    gone = [r for r in records.values() if r.status == GONE]
    assert len(gone) == 1 and "no longer in the export" in gone[0].error_message
    assert {u: g for u, g in snapshot(path)["graphs"].items() if u in hub_graphs} == hub_graphs
    with Aggregator(Store(path), Settings(), own_store=True) as agg:
        agg.after_crawl()
        names = {g["name"] for g in agg.index.iter_all()}
    assert "Cook and Eat" not in names and HSDS_NAMES - {"Cook and Eat"} <= names and MURM_NAMES <= names


def test_problem_records_are_reported_row_by_row_and_the_rest_imported(tmp_path):
    out = imported(tmp_path / "store", PROBLEMS)
    assert "2 new" in out and "3 skipped" in out
    assert "skipped service 2 (p-2): it has no name" in out
    assert "skipped service 4 (p-1): the same id as service 1 (p-1)" in out
    assert "skipped service 5 (p-5): the service is inactive" in out
    assert "note on service 3 (p-3): coordinates 515.6, -0.01 are not a place on Earth" in out


def test_records_obey_the_crawls_parse_limits(tmp_path):
    """Each record is a profile read by the crawl's safe parse: a value over a crawl limit skips that record."""
    doc = json.loads(PROBLEMS.read_text())
    doc["contents"][0]["description"] = "x" * (Settings().max_literal + 1)
    doc["contents"][2]["url"] = "https://chess.example.org/" + "a" * Settings().max_iri
    doc["contents"].append({"id": "p-6", "name": "Book Club", "status": "active"})
    (tmp_path / "long.json").write_text(json.dumps(doc))
    out = imported(tmp_path / "store", tmp_path / "long.json")
    assert "skipped service 1 (p-1): a text value is longer than 65536 characters" in out
    assert "skipped service 3 (p-3): an IRI is longer than 2083 characters" in out
    assert "1 new" in out


# ----------------------------------------------------------------------------- broken files
def _write(name, body):
    def make(tmp: Path) -> Path:
        p = tmp / name
        p.write_bytes(body(tmp) if callable(body) else body)
        return p
    return make


HSDS_TEXT = HSDS.read_bytes()
BROKEN = {
    "not JSON (a CSV)": (_write("groups.csv", b"name,email\nLunch club,a@b.example\n"), [], "not valid JSON"),
    "an HTML page": (_write("services.json", b"<!doctype html><html><body>Sign in</body></html>"), [],
                     "HTML or XML page"),
    "JSON of another shape": (_write("areas.geojson", json.dumps({"type": "FeatureCollection", "features": []}).encode()),
                              [], "neither an Open Referral UK"),
    "truncated": (_write("cut.json", HSDS_TEXT[: len(HSDS_TEXT) // 2]), [], "cut short"),
    "empty file": (_write("empty.json", b"  \n"), [], "the file is empty"),
    "empty export": (_write("none.json", json.dumps({"contents": [], "total_items": 0}).encode()), [],
                     "holds no records"),
    "no record has a name": (_write("nameless.json", json.dumps({"contents": [{"id": "1", "name": "", "status": "active"},
                                                                            {"id": "2", "status": "active"}]}).encode()),
                             [], "none of its 2 records can be imported"),
    "ambiguous": (_write("both.json", json.dumps({"contents": [{"name": "A"}], "data": [{"profile_url": "https://a.example/",
                                                                                       "name": "A"}]}).encode()),
                  [], "say which with --format"),
    "another format than claimed": (_write("services.json", HSDS_TEXT), ["--format", "murmurations"],
                                    "this is not Murmurations"),
    "not UTF-8": (_write("latin1.json", '{"contents": [{"name": "Caf\u00e9"}]}'.encode("latin-1")), [], "not UTF-8"),
    "nested too deep": (_write("deep.json", b'{"a": ' * 100 + b"1" + b"}" * 100), [], "nested"),
    "too large": (_write("big.json", HSDS_TEXT), ["@small"], "more than import_max_bytes"),
    "too many records": (_write("many.json", json.dumps({"contents": [{"name": f"G{i}", "organization": {}}
                                                                      for i in range(30)]}).encode()),
                         ["@small"], "more than import_max_records"),
}


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    """A store already holding an import, to check that a broken file touches nothing of it."""
    tmp = tmp_path_factory.mktemp("held")
    imported(tmp / "store", MURM, "--from", HUB)
    config = tmp / "small.toml"
    config.write_text(f"import_max_bytes = {len(HSDS_TEXT) - 1}\nimport_max_records = 20\n")
    return tmp / "store", config, snapshot(tmp / "store")


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_a_broken_file_is_refused_clearly_and_nothing_changes(held, tmp_path, case):
    path, config, before = held
    make, extra, words = BROKEN[case]
    small = "@small" in extra
    extra = [a for a in extra if a != "@small"]
    result = run("import", make(tmp_path), *extra, "--from", HUB, "--store", path, config=config if small else None)
    assert result.exit_code != 0
    assert words in result.output and "nothing stored was changed" in result.output, result.output
    assert "Traceback" not in result.output
    assert snapshot(path) == before


def test_a_broken_file_from_the_shell_has_no_traceback(held, tmp_path):
    path, _, before = held
    done = subprocess.run([*crawler_command(), "import", str(BROKEN["an HTML page"][0](tmp_path)), "--store", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "HTML or XML page" in done.stderr and "Traceback" not in done.stderr
    assert snapshot(path) == before


# ----------------------------------------------------------------------------- served
def test_second_hand_is_shown_on_pages_in_the_api_and_in_exports(both):
    path, app, _, _ = both
    client = app.test_client()
    groups = client.get("/api/groups?limit=100").get_json()["groups"]
    assert all(g["second_hand"]["from"] in (COUNCIL, HUB) and g["second_hand"]["imported"] for g in groups)
    lunch = next(g for g in groups if g["name"] == "Tuesday Lunch Club")
    assert lunch["second_hand"]["format"] == "openreferral"
    one = client.get(f"/api/groups/{lunch['key']}").get_json()
    assert one["second_hand"]["from"] == COUNCIL and one["source"]["imported_from"] == COUNCIL
    page = client.get(f"/groups/{lunch['key']}").get_data(as_text=True)
    assert "Imported from" in page and COUNCIL in page and "not the group's own words" in page
    rows = client.get("/export.csv").get_data(as_text=True).splitlines()
    assert rows[0].endswith(",imported_from,imported") and all(COUNCIL in r or HUB in r for r in rows[1:])
    feats = client.get("/export.geojson").get_json()["features"]
    assert feats and all(f["properties"]["second_hand"]["from"] in (COUNCIL, HUB) for f in feats)
    oruk = client.get("/export/openreferral.json").get_json()["contents"]
    assert len(oruk) == 11 and all(s["metadata"][0]["last_action_type"] == "imported" for s in oruk)


@pytest.mark.slow
def test_import_works_while_serve_runs(tmp_path):
    path = tmp_path / "store"
    imported(path, MURM, "--from", HUB)
    proc = subprocess.Popen([*crawler_command(), "serve", "--port", "0", "--store", str(path),
                             "--recrawl-interval", "off"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        base = None
        while base is None:
            line = lines.get(timeout=30)
            assert line is not None, "serve exited early"
            m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            base = m.group(1) if m else None
        out = imported(path, HSDS, "--from", COUNCIL)
        assert "6 new" in out

        def names():
            with urllib.request.urlopen(base + "api/groups?limit=100", timeout=10) as resp:
                return {g["name"] for g in json.load(resp)["groups"]}
        wait_for(lambda: names() == HSDS_NAMES | MURM_NAMES)
    finally:
        proc.kill()
        proc.wait(10)


# ----------------------------------------------------------------------------- replacement and attacks
@pytest.fixture
def fed():
    f = Federation()
    yield f
    f.close()


def _hsds_for(fed, **urls) -> dict:
    """The sample export with some services' websites (``url``) on the loopback federation's sites."""
    doc = copy.deepcopy(json.loads(HSDS.read_text()))
    for s in doc["services"]:
        if s["id"] in urls:
            s["url"] = urls[s["id"]]
    return doc


def _crawl(fed, path, *seeds, hosts):
    store = Store(path)
    with Aggregator(store, fed.settings(*hosts), own_store=True) as agg:
        Crawler(store, fed.settings(*hosts)).crawl(list(seeds))
        agg.after_crawl()
        return {g["name"]: g for g in agg.index.iter_all()}


def test_the_groups_own_profile_replaces_its_imported_record(fed, tmp_path):
    path = tmp_path / "store"
    fed.put("other.test", "/", "<html>nothing</html>", "text/html")
    (tmp_path / "export.json").write_text(json.dumps(_hsds_for(fed, **{"s-0001": fed.url("lunch.test", "/")})))
    imported(path, tmp_path / "export.json", "--from", COUNCIL)
    groups = _crawl(fed, path, fed.url("other.test"), hosts=("other.test", "lunch.test"))
    assert "Tuesday Lunch Club" in groups and groups["Tuesday Lunch Club"]["source"].startswith(IMPORT_PREFIX)
    # The group publishes its own profile, and a crawl finds it.
    fed.put_profile("lunch.test", "Tuesday Lunch Club (our own words)", path="/")
    groups = _crawl(fed, path, fed.url("lunch.test"), hosts=("other.test", "lunch.test"))
    assert "Tuesday Lunch Club" not in groups and groups["Tuesday Lunch Club (our own words)"]["source"] == fed.url("lunch.test")
    assert HSDS_NAMES - {"Tuesday Lunch Club"} <= set(groups)
    replaced = [r for r in _sources(path).values() if r.error_code == "replaced"]
    assert len(replaced) == 1 and replaced[0].status == GONE and fed.group_iri("lunch.test") in replaced[0].error_message
    # Importing the same export again keeps it replaced, and writes nothing.
    before = snapshot(path)
    assert "6 unchanged" in imported(path, tmp_path / "export.json", "--from", COUNCIL)   # 1 of them still replaced
    assert snapshot(path) == before
    # The crawls (which re-check every known source) never fetched an imported record: all still ok.
    assert {r.status for r in _sources(path).values() if r.found_via == "import" and r.error_code != "replaced"} == {OK}


def test_an_import_naming_a_crawled_group_cannot_touch_it(fed, tmp_path):
    """Attack: the export says a record is the crawled group (its uri and website on the victim's site), and
    gives it other words. The victim's graph and page are unchanged; the record is not listed at all."""
    path = tmp_path / "store"
    victim = fed.put_profile("victim.test", "Victim Residents", path="/")
    groups = _crawl(fed, path, fed.url("victim.test"), hosts=("victim.test",))
    before = snapshot(path)["graphs"][fed.url("victim.test")]
    hostile = {"contents": [{"id": "x", "name": "Victim Residents (closed down, call 0900 premium)",
                             "url": fed.url("victim.test", "/"), "email": "scam@evil.example",
                             "organization": {"id": "o", "name": "Victim", "uri": victim["@id"]}}]}
    (tmp_path / "hostile.json").write_text(json.dumps(hostile))
    assert "1 replaced" in imported(path, tmp_path / "hostile.json")
    groups = _crawl(fed, path, hosts=("victim.test",))
    assert snapshot(path)["graphs"][fed.url("victim.test")] == before
    assert [g["name"] for g in groups.values()] == ["Victim Residents"]
    store = Store(path)
    try:
        names = {s["n"].value for s in store.query(
            f"SELECT ?n {{ <{victim['@id']}> <http://schema.org/name> ?n }}")}
        emails = {s["e"].value for s in store.query(
            f"SELECT ?e {{ <{victim['@id']}> <http://schema.org/email> ?e }}")}
    finally:
        store.close()
    assert names == {"Victim Residents"} and "scam@evil.example" not in emails


def test_a_crawled_profile_claiming_an_imported_groups_website_does_not_replace_it(fed, tmp_path):
    """Attack: a hostile site says its url and sameAs are the imported group's website. Only the group's own
    site speaks for it, so the imported record stays listed."""
    path = tmp_path / "store"
    imported(path, HSDS, "--from", COUNCIL)
    fed.put_profile("evil.test", "Evil Lunch Club", path="/", url="https://leyton-trust.example.org/lunch-club",
                    sameAs=["https://leyton-trust.example.org/lunch-club", "https://leyton-trust.example.org/"])
    groups = _crawl(fed, path, fed.url("evil.test"), hosts=("evil.test",))
    assert HSDS_NAMES <= set(groups) and "Evil Lunch Club" in groups
    assert not [r for r in _sources(path).values() if r.error_code == "replaced"]


# ----------------------------------------------------------------------------- round trip
ROUND = {"alder.test": ("Alder Street Residents", "020 8555 0401"), "birch.test": ("Birch Lane Allotments", None),
         "cedar.test": ("Cedar Youth Football", "+44 20 8555 0403")}


def test_our_open_referral_export_imports_into_a_second_aggregator(fed, tmp_path):
    for host, (name, phone) in ROUND.items():
        fed.put_profile(host, name, path="/", **({"telephone": phone} if phone else {}),
                        location={"@type": "Place", "geo": {"@type": "GeoCoordinates", "latitude": 51.56,
                                                           "longitude": -0.01}})
    first = tmp_path / "first"
    _crawl(fed, first, *(fed.url(h) for h in ROUND), hosts=tuple(ROUND))
    app1 = make_app(fed, first, CRAWL_SETTINGS=fed.settings(*ROUND))
    try:
        export = app1.test_client().get("/export/openreferral.json").data
        groups = app1.test_client().get("/api/groups?limit=1000").get_json()["groups"]
        theirs = contact_details(app1.extensions["hubnet"].store, [g["id"] for g in groups])
    finally:
        app1.extensions["hubnet"].close()
    assert {g["name"] for g in groups} == {n for n, _ in ROUND.values()}
    assert all(theirs[g["id"]]["email"] for g in groups)
    (tmp_path / "export.json").write_bytes(export)
    out = imported(tmp_path / "second", tmp_path / "export.json", "--from", "https://hub-one.example.org/export/openreferral.json")
    assert "3 new" in out and "0 skipped" in out
    app = make_app(fed, tmp_path / "second")
    try:
        client = app.test_client()
        ours = client.get("/api/groups?limit=1000").get_json()["groups"]
        assert sorted(g["name"] for g in ours) == sorted(g["name"] for g in groups)
        assert all(g["second_hand"]["format"] == "openreferral" for g in ours)
        assert {(g["lat"], g["lon"]) for g in ours} == {(51.56, -0.01)}
        mine = contact_details(app.extensions["hubnet"].store, [g["id"] for g in ours])
        by_name = {g["name"]: mine[g["id"]] for g in ours}
        for g in groups:
            assert (by_name[g["name"]]["email"], by_name[g["name"]]["telephone"]) == \
                (theirs[g["id"]]["email"], ROUND[g["id"].split("/")[2].split(":")[0]][1]), g["name"]
    finally:
        app.extensions["hubnet"].close()
    # The second aggregator crawls the groups themselves: their own profiles replace the imported records.
    groups2 = _crawl(fed, tmp_path / "second", *(fed.url(h) for h in ROUND), hosts=tuple(ROUND))
    assert {g["source"] for g in groups2.values()} == {fed.url(h) for h in ROUND}


def test_an_import_on_each_store_backend_is_second_hand_and_a_reimport_writes_nothing(store_backend):
    """`hubnet-crawler import --store` on the embedded store and on a SPARQL server (Virtuoso)."""
    from hubnet.crawler.store.remote import open_store

    out = imported(store_backend, HSDS, "--from", COUNCIL)
    assert "6 new" in out, out

    def state():
        store = open_store(store_backend)
        try:
            recs = store.sources()
            return ({r.url: (r.found_via, r.import_format, r.imported_from, r.content_hash) for r in recs.values()},
                    {g: content_hash(store.graph_triples(g)) for g in store.named_graphs() if g.startswith(IMPORT_PREFIX)})
        finally:
            store.close()

    records, graphs = state()
    assert len(records) == 6 and set(v[:3] for v in records.values()) == {("import", "openreferral", COUNCIL)}
    assert len(graphs) == 6
    again = imported(store_backend, HSDS, "--from", COUNCIL)
    assert "0 new" in again, again
    assert state() == (records, graphs)
