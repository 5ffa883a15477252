"""The crawl's pipeline thread (crawl/pipeline.py): one thread, jobs in order, answers in batches."""

import asyncio
import subprocess
import sys
import threading

import pytest

from hubnet.crawler.crawl.pipeline import Pipeline
from hubnet.vocab.errors import StoreError


def run(coro_fn):
    pipeline = Pipeline("test-pipeline")
    try:
        return asyncio.run(coro_fn(pipeline)), pipeline
    finally:
        pipeline.shutdown(wait=True)


def test_jobs_run_one_at_a_time_in_the_order_given_on_one_thread():
    ran, threads, inside = [], set(), []

    def job(i):
        inside.append(i)
        assert len(inside) == 1, "two jobs at once"
        ran.append(i)
        threads.add(threading.current_thread().name)
        inside.pop()
        return i * 2

    async def go(p):
        return await asyncio.gather(*(p.call(job, i) for i in range(200)))
    answers, _ = run(go)
    assert ran == list(range(200)) and answers == [i * 2 for i in range(200)]
    assert threads == {"test-pipeline"}


def test_answers_ready_together_reach_the_loop_in_one_wake_up():
    """200 jobs queued behind a slow one: their answers come in a few deliveries, not 200."""
    release = threading.Event()
    deliveries = []

    async def go(p):
        deliver = p._deliver

        def counting():
            deliveries.append(len(p._answers))
            deliver()
        p._deliver = counting
        first = p.call(release.wait)
        rest = [p.call(lambda i=i: i) for i in range(200)]
        release.set()
        return await first, await asyncio.gather(*rest)
    (first, rest), _ = run(go)
    assert first is True and rest == list(range(200))
    assert sum(deliveries) == 201 and len(deliveries) < 201


# What a job raises: the awaiting task gets the same exception; later jobs still run.
RAISED = [StoreError("disk full", code="store_failed"), ValueError("bad"), KeyError("k"), RecursionError("deep")]


@pytest.mark.parametrize("exc", RAISED, ids=lambda e: type(e).__name__)
def test_an_exception_reaches_the_caller_and_the_thread_goes_on(exc):
    def fail():
        raise exc

    async def go(p):
        with pytest.raises(type(exc)) as caught:
            await p.call(fail)
        return caught.value, await p.call(lambda: "after")
    (caught, after), _ = run(go)
    assert caught is exc and after == "after"


def test_a_job_whose_caller_was_cancelled_before_it_started_does_not_run():
    release, ran = threading.Event(), []

    async def go(p):
        blocker = p.call(release.wait)
        cancelled = asyncio.ensure_future(p.call(ran.append, "cancelled"))
        await asyncio.sleep(0)
        cancelled.cancel()
        release.set()
        await blocker
        await p.call(ran.append, "next")
        return cancelled.cancelled()
    was_cancelled, _ = run(go)
    assert was_cancelled and ran == ["next"]


def test_submit_and_run_in_executor_work_as_with_any_executor():
    async def go(p):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(p, sum, [1, 2, 3]), p.submit(max, 4, 9).result()
    (a, b), _ = run(go)
    assert (a, b) == (6, 9)


def test_shutdown_runs_the_jobs_queued_then_refuses_new_ones():
    release, ran = threading.Event(), []
    p = Pipeline("test-pipeline")
    p.submit(release.wait)
    futures = [p.submit(ran.append, i) for i in range(5)]
    release.set()
    p.shutdown(wait=True)
    assert ran == list(range(5)) and all(f.done() for f in futures)
    assert not any(t.name == "test-pipeline" for t in threading.enumerate())
    with pytest.raises(RuntimeError):
        p.submit(ran.append, 99)


def test_no_thread_until_the_first_job():
    p = Pipeline("test-pipeline-idle")
    assert not any(t.name == "test-pipeline-idle" for t in threading.enumerate())
    p.shutdown(wait=True)


def test_an_interpreter_exiting_without_shutdown_finishes_the_jobs_given_then_exits(tmp_path):
    """A write handed over is never abandoned half-way at exit, and a pipeline left running does not
    keep the interpreter waiting."""
    done = tmp_path / "done"
    script = (
        "import time\n"
        "from hubnet.crawler.crawl.pipeline import Pipeline\n"
        "p = Pipeline('left-running')\n"
        "p.submit(time.sleep, 0.3)\n"
        f"p.submit(open({str(done)!r}, 'w').write, 'written')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert done.read_text() == "written"
