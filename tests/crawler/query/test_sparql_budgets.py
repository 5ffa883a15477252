"""Issue 12, findings 6 and 7: one client cannot occupy the query workers, and the lexical
check costs work linear in the query's length.

Attacks as met over HTTP: a client sending slow (cross-product) queries gets 429 with
Retry-After beyond its share, while another client on another loopback address is still
served (never 503). The tokenizer's work is counted (``Tokens.steps``), not timed.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import urlencode

import pytest

from hubnet.crawler.query.workers import ClientBudget, TooManyQueries
from hubnet.crawler.query.sparql import MAX_QUERY_BYTES, check_query, tokens
from sparql_support import LiveServer, fill_store, make_app
from hubnet.vocab.errors import QueryError

# A cross product that runs until it is killed (the filler makes the store big enough).
SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
FAST = "ASK { ?s ?p ?o }"


# ---------------------------------------------------------------------- finding 7: linear work
# Each family repeats a unit up to the size cap; the old regex tokenizer backtracked on the
# first three (about 0.5 s per 10 KiB), the others are the other token kinds at their longest.
FAMILIES = {
    "dotted-words": "a.", "dashed-words": "a-", "dotted-underscores": "_.", "iri-starts": "<a",
    "short-strings": "'a' ", "long-strings": '"""x""" ', "prefixed-names": "a:b ", "variables": "?v ",
    "comments": "#c\n", "brackets": "{}", "operators": "<= ", "numbers": "1.5e3 ", "spaces": " ",
    "escaped-locals": "ex:a\\. ", "words": "SELECT ",
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_tokenizer_work_is_linear_in_the_query_length(family):
    unit = FAMILIES[family]
    sizes = [MAX_QUERY_BYTES // 8, MAX_QUERY_BYTES // 2, MAX_QUERY_BYTES - 16]
    per_char = []
    for size in sizes:
        text = unit * (size // len(unit))
        per_char.append(tokens(text).steps / len(text))
    # A bounded number of reads per character, the same at every size (quadratic work would
    # grow with the length: 8x longer, 8x more per character).
    assert max(per_char) <= 4.0, per_char
    assert per_char[-1] <= per_char[0] * 1.2 + 0.1, per_char


def test_unclosed_strings_are_refused_after_one_read():
    for quote in ("'", '"', "'''", '"""'):
        text = "ASK { ?s ?p " + quote + "x" * (MAX_QUERY_BYTES - 40)
        with pytest.raises(QueryError) as info:
            check_query(text)
        assert info.value.code == "malformed_query"


def test_one_tokenization_serves_form_dataset_and_prefixes():
    checked = check_query("PREFIX ex: <http://ex/> CONSTRUCT { ?s ?p ?o } FROM <http://g/1> FROM NAMED <http://g/2> "
                          "WHERE { ?s ex:p ?o }", lambda iri: True)
    assert checked.form == "graph"
    assert (checked.default_graphs, checked.named_graphs) == (["http://g/1"], ["http://g/2"])
    assert checked.prefixes() == {"ex": "http://ex/"}


# ---------------------------------------------------------------------- finding 6: the budget itself
class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_budget_counts_queries_in_flight_per_client():
    budget = ClientBudget(concurrency=2, seconds_per_minute=1000, clock=Clock())
    budget.admit("a", 10)
    budget.admit("a", 10)
    with pytest.raises(TooManyQueries) as info:
        budget.admit("a", 10)
    assert (info.value.status, info.value.code, info.value.retry_after) == (429, "too_many_queries", 10)
    budget.admit("b", 10)           # another client is not affected
    budget.done("a", 0.1)
    budget.admit("a", 10)           # a finished query frees its slot


def test_budget_counts_worker_seconds_in_a_sliding_minute():
    clock = Clock()
    budget = ClientBudget(concurrency=5, seconds_per_minute=20, clock=clock)
    for spent in (8, 8, 8):         # 24 worker-seconds: over 20
        budget.admit("a", 10)
        clock.now += 1
        budget.done("a", spent)
    with pytest.raises(TooManyQueries) as info:
        budget.admit("a", 10)
    # Under budget once the first charge (made at t=1001) leaves the window: 60 - 2 s from now.
    assert info.value.retry_after == 58
    budget.admit("b", 10)
    clock.now += 58
    budget.admit("a", 10)


# ---------------------------------------------------------------------- finding 6: over HTTP
class Client:
    """HTTP from a chosen loopback source address: each address is a different client."""

    def __init__(self, server, source: str):
        self.port, self.source = server.server.effective_port, source

    def get(self, query: str, timeout: float = 30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=(self.source, 0))
        try:
            conn.request("GET", "/sparql?" + urlencode({"query": query}))
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    store = fill_store(tmp_path_factory.mktemp("budgets"), filler=400)
    server = LiveServer(make_app(store, timeout=2.0, workers=2, client_concurrency=1, client_seconds=6.0,
                                 demote_after=0.2))
    yield server
    server.close()
    store.close()


@pytest.mark.slow
def test_a_client_with_slow_queries_gets_429_and_others_are_still_served(served):
    attacker, victim = Client(served, "127.0.0.2"), Client(served, "127.0.0.3")
    answers, stop = [], threading.Event()

    def attack():
        while not stop.is_set():
            answers.append(attacker.get(SLOW))

    threads = [threading.Thread(target=attack) for _ in range(4)]
    for t in threads:
        t.start()
    victim_statuses = []
    try:
        for _ in range(20):
            victim_statuses.append(victim.get(FAST)[0])
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    statuses = [a[0] for a in answers]
    assert victim_statuses == [200] * 20            # never 503 while the attacker is limited
    assert 429 in statuses and 503 not in statuses
    assert set(statuses) <= {429, 504}              # killed at its timeout, or refused
    refusal = next(a for a in answers if a[0] == 429)
    doc = json.loads(refusal[2])
    assert doc["ok"] is False and doc["error"]["code"] == "too_many_queries"
    assert int(refusal[1]["Retry-After"]) >= 1
    # The attacker never had more than its one query running: at most one 504 per timeout
    # period, and the worker-seconds budget (6 s/min at a 2 s timeout) allows three kills.
    assert statuses.count(504) <= 3


@pytest.mark.slow
def test_a_long_query_runs_at_the_lowest_cpu_priority_and_a_short_one_does_not(served):
    import os

    from hubnet.crawler.query.workers import DEMOTED_NICE

    service = served.app.extensions["hubnet.queries"]
    before = service.counters["demoted"]
    assert Client(served, "127.0.0.4").get(FAST)[0] == 200
    assert service.counters["demoted"] == before            # a short query is never demoted
    seen = []
    slow = threading.Thread(target=lambda: seen.append(Client(served, "127.0.0.5").get(SLOW)[0]))
    slow.start()
    deadline = time.monotonic() + 10
    while service.counters["demoted"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    nice = {pid: os.getpriority(os.PRIO_PROCESS, pid) for pid in service.stats()["pids"]}
    slow.join(30)
    assert service.counters["demoted"] == before + 1
    assert DEMOTED_NICE in nice.values() and 0 in nice.values(), nice   # the other worker keeps its priority
    assert seen == [504]


def test_the_budget_is_a_documented_default_of_the_app():
    from hubnet.crawler.web import DEFAULTS

    assert DEFAULTS["QUERY_CLIENT_RUNNING"] >= 1 and DEFAULTS["QUERY_CLIENT_SECONDS"] > 0
