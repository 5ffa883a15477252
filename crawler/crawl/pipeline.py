"""The crawl's pipeline thread: the store's single writer, fed by the event loop.

A ThreadPoolExecutor of one thread did this before (issue 18): each job then cost the event
loop a concurrent Future with its own lock, a wrapping asyncio Future chained to it, and a
wake-up of the loop through its self-pipe for each answer. Here the loop puts jobs on a queue
the thread drains in order, and the thread hands the answers back in batches: one wake-up of
the loop carries every answer ready by the time the loop reads them. Jobs run one at a time, in
the order given, as before.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from queue import SimpleQueue
from concurrent.futures import Executor, Future


class Pipeline(Executor):
    """One thread running jobs in the order they come. ``call`` (on the event loop) returns an
    asyncio Future answered in a batch; ``submit`` (any thread) a concurrent Future, as any
    Executor, so ``loop.run_in_executor`` works too. Used by one event loop at a time."""

    def __init__(self, name: str):
        self._name = name
        self._jobs: SimpleQueue = SimpleQueue()   # (fn, args, future, loop or None for a concurrent Future)
        self._lock = threading.Lock()
        self._answers: deque = deque()            # (asyncio future, result, exception) for the loop
        self._delivering = False                  # a delivery to the loop is scheduled and has not run yet
        self._stopping = False
        self._thread: threading.Thread | None = None

    def call(self, fn, *args) -> asyncio.Future:
        """Run ``fn(*args)`` on the thread; await the answer (or the exception it raised)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put((fn, args, future, loop))
        return future

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        self._put((lambda: fn(*args, **kwargs), (), future, None))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more jobs; the thread ends once it has run the ones queued (awaited if ``wait``)."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            if cancel_futures:
                while not self._jobs.empty():
                    self._jobs.get_nowait()[2].cancel()
            self._jobs.put(None)
        if wait and self._thread is not None:
            self._thread.join()

    def _put(self, job) -> None:
        with self._lock:
            if self._stopping:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name)
                self._thread.start()
                _running.add(self)
            self._jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args, future, loop = job
            del job
            if loop is None:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args))
                    except BaseException as exc:  # as ThreadPoolExecutor: the caller sees it
                        future.set_exception(exc)
                continue
            if future.cancelled():   # the awaiting task was cancelled before the job started
                continue
            try:
                answer = (future, fn(*args), None)
            except BaseException as exc:  # re-raised where the job is awaited
                answer = (future, None, exc)
            self._answer(loop, answer)
            del answer

    def _answer(self, loop, answer) -> None:
        with self._lock:
            self._answers.append(answer)
            if self._delivering:
                return   # the delivery on its way takes this answer too
            self._delivering = True
        try:
            loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:   # the loop is closed: nobody awaits the answer any more
            pass

    def _deliver(self) -> None:
        """On the loop: every answer ready now, in the order the jobs ran."""
        with self._lock:
            answers = list(self._answers)
            self._answers.clear()
            self._delivering = False
        for future, result, exc in answers:
            if future.cancelled():
                continue
            if exc is None:
                future.set_result(result)
            else:
                future.set_exception(exc)


_running: "weakref.WeakSet[Pipeline]" = weakref.WeakSet()


def _finish_at_exit() -> None:
    """As concurrent.futures does for its threads: at interpreter exit, a pipeline nobody shut down
    runs the jobs it was given (a store write is finished, never abandoned) and ends, instead of
    keeping the interpreter waiting for a thread that waits for jobs."""
    for pipeline in list(_running):
        pipeline.shutdown(wait=True)


threading._register_atexit(_finish_at_exit)
