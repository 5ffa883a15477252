"""The frontier's lanes (crawl/frontier.py): waiting workers are woken one per change, not all at once.

Counted, never timed: how many times workers looked at the queues (``take``) for what was queued.
"""

import asyncio
import time
from collections import Counter, deque
from types import SimpleNamespace

import pytest

from hubnet.crawler.crawl.frontier import _SCAN, CRAWL, PING, Lanes

BOTH, PINGS = (PING, CRAWL), (PING,)


class Counted(Lanes):
    def __init__(self):
        super().__init__()
        self.looks = 0
        self.looks_by_kind = Counter()

    def take(self, lanes, ready_at, scan=_SCAN):
        self.looks += 1
        self.looks_by_kind[lanes] += 1
        return super().take(lanes, ready_at, scan)


def item(host: str, path: str = "/"):
    return SimpleNamespace(url=f"http://{host}{path}")


async def settle():
    for _ in range(20):
        await asyncio.sleep(0)


async def workers(lanes, kinds, ready_at, got, finished=lambda: False):
    """One task per kind in ``kinds``, each taking items (kept in ``got``) until ``next`` gives None."""
    async def work(kind):
        while (it := await lanes.next(kind, ready_at, finished)) is not None:
            got.append((kind, it.url))
    tasks = [asyncio.ensure_future(work(kind)) for kind in kinds]
    await settle()
    return tasks


def now_ready(url):
    return 0.0


# (waiting workers, URLs queued at once on different hosts, lane): every URL is taken, and the
# workers look at the queues about once per URL, however many wait (all of them looked before).
WAKES = [(32, 1, CRAWL), (32, 5, CRAWL), (32, 32, CRAWL), (8, 20, CRAWL), (32, 1, PING), (2, 10, PING)]


@pytest.mark.parametrize("waiting, queued, lane", WAKES)
def test_a_change_wakes_one_waiting_worker_not_all(waiting, queued, lane):
    async def go():
        lanes, got = Counted(), []
        tasks = await workers(lanes, [BOTH] * waiting, now_ready, got)
        first_looks = lanes.looks
        assert first_looks == waiting    # each looked once, found nothing, waits
        lanes.active += 1                # a worker busy elsewhere: the crawl is not over
        for i in range(queued):
            lanes.put(item(f"h{i}.test"), lane)
        await settle()
        looks = lanes.looks - first_looks
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return got, looks
    got, looks = asyncio.run(go())
    assert sorted(url for _, url in got) == sorted(f"http://h{i}.test/" for i in range(queued))
    assert looks <= 2 * queued + 1, looks   # was waiting * queued: every put woke every worker


def test_a_url_in_the_crawl_lane_does_not_wake_the_workers_kept_for_pings():
    async def go():
        lanes, got = Counted(), []
        tasks = await workers(lanes, [PINGS, PINGS, BOTH], now_ready, got)
        lanes.active += 1
        before = lanes.looks_by_kind[PINGS]
        lanes.put(item("c.test"), CRAWL)
        await settle()
        crawl_looks = lanes.looks_by_kind[PINGS] - before
        lanes.put(item("p.test"), PING)
        await settle()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return got, crawl_looks
    got, ping_worker_looks = asyncio.run(go())
    assert ping_worker_looks == 0 and got[0] == (BOTH, "http://c.test/")
    assert got[1][1] == "http://p.test/"


@pytest.mark.parametrize("waiting", [1, 4])
def test_a_ready_host_behind_many_that_are_not_is_found_by_the_first_worker_woken(waiting):
    """Hosts waiting for their delay fill the front of the queue: the worker woken looks through as
    many as every waiting worker would have, so the ready host further back is taken at once."""
    later = time.monotonic() + 3600
    delayed = _SCAN * waiting - 1

    def ready_at(url):
        return 0.0 if "ready" in url else later

    async def go():
        lanes, got = Counted(), []
        tasks = await workers(lanes, [BOTH] * waiting, ready_at, got)
        lanes.active += 1
        for i in range(delayed):
            lanes.queues[CRAWL][f"d{i}.test"] = deque([item(f"d{i}.test")])
        lanes.put(item("ready.test"), CRAWL)
        await settle()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return got
    assert [url for _, url in asyncio.run(go())] == ["http://ready.test/"]


def test_a_worker_waits_until_the_soonest_host_is_ready_without_a_wake():
    ready = time.monotonic() + 0.05

    async def go():
        lanes, got = Counted(), []
        lanes.put(item("soon.test"), CRAWL)
        tasks = await workers(lanes, [BOTH], lambda url: ready, got)
        assert got == []
        for _ in range(200):
            if got:
                break
            await asyncio.sleep(0.01)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return got
    assert [url for _, url in asyncio.run(go())] == ["http://soon.test/"]


@pytest.mark.parametrize("kinds", [[BOTH] * 5, [BOTH, BOTH, PINGS, PINGS]])
def test_when_nothing_is_queued_or_in_work_every_worker_ends(kinds):
    async def go():
        lanes, got = Counted(), []
        lanes.active += 1                # a URL in work elsewhere: not over yet
        tasks = await workers(lanes, kinds, now_ready, got, finished=lambda: lanes.idle())
        lanes.put(item("last.test"), CRAWL)
        await settle()
        assert not any(t.done() for t in tasks)
        lanes.active -= 1
        lanes.done(item("last.test"))    # the last URL done: idle, and every worker must end
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return got
    got = asyncio.run(go())
    assert [url for _, url in got] == ["http://last.test/"]


def test_move_keeps_the_count_of_queued_urls():
    lanes = Lanes()
    for path in ("/a", "/b", "/c"):
        lanes.put(item("h.test", path), CRAWL)
    lanes.move("http://h.test/b", CRAWL, PING)
    assert lanes.size() == 3
    assert [i.url for i in lanes.queues[PING]["h.test"]] == ["http://h.test/b"]
    assert [i.url for i in lanes.queues[CRAWL]["h.test"]] == ["http://h.test/a", "http://h.test/c"]
