"""Runs the training jobs of a run in worker processes, one BLAS/OpenMP thread each, and
times them.

A fit on a few hundred rows is too small to share two cores: its threads mostly wait on each
other, and oversubscribe the machine when anything else runs. So the parallelism is across
folds and configs: each job (a fold, a permutation, a final fit) runs single-threaded in one
of `workers` processes. Every job reports its CPU seconds, so a run knows its floor: the sum
of its jobs' single-thread times divided by the workers.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import multiprocessing
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from sklearn.base import clone

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _start_worker(owner_pid: int) -> None:
    """One thread per worker: env for libraries loaded later, threadpoolctl for those loaded.
    The worker ends when the process that started the pool is gone, even if it was killed
    (a pool's workers otherwise wait for work forever)."""
    threading.Thread(target=_exit_with, args=(owner_pid,), daemon=True).start()
    for name in THREAD_ENV:
        os.environ[name] = "1"
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime, so the limit reaches it)
    from threadpoolctl import threadpool_limits

    global _in_worker
    _in_worker = True
    threadpool_limits(limits=1)


_in_worker = False


def _exit_with(owner_pid: int) -> None:
    while True:
        time.sleep(1)
        try:
            os.kill(owner_pid, 0)
        except ProcessLookupError:
            os._exit(1)


def fresh_model(model):
    """An unfitted clone of `model` for a job. In a worker process every `n_jobs` is set to 1:
    estimators' own thread pools (random forests, a search) would oversubscribe the cores the
    workers already fill. Results do not change."""
    model = clone(model)
    if _in_worker:
        threaded = {name for name, value in model.get_params().items()
                    if name.endswith("n_jobs") and value not in (None, 1)}  # fmt: skip
        model.set_params(**dict.fromkeys(threaded, 1))
    return model


# CPU seconds of the parts of the running job that are timed apart (see `stage`).
_stage_seconds: dict[str, float] = defaultdict(float)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Credit the CPU time of this part of a job to stage `name` instead of the job's own."""
    started = time.process_time()
    try:
        yield
    finally:
        _stage_seconds[name] += time.process_time() - started


def _timed(function: Callable, kind: str, args: tuple) -> tuple[Any, dict[str, float]]:
    """The job's result and its CPU seconds per stage (the job's own `kind` gets the rest)."""
    _stage_seconds.clear()
    started = time.process_time()
    result = function(*args)
    seconds = dict(_stage_seconds)
    seconds[kind] = time.process_time() - started - sum(seconds.values())
    return result, seconds


def _cancel(job: Future) -> None:
    """Cancel a job not started, as an executor does: `concurrent.futures.wait` and
    `as_completed` then count it as ended (after `cancel()` alone they wait for it forever)."""
    job.cancel()
    job.set_running_or_notify_cancel()


class JobPool:
    """Runs `function(*args)` jobs in `workers` single-threaded processes, or in this process
    (as submitted, with the caller's threads) when `workers` is 1. Futures come back at once;
    `cpu_seconds[label, stage]` sums the CPU time of jobs, measured where they ran.

    Jobs are handed to the workers a few at a time, those of the labels earliest in `order`
    first: the configs of a run then finish one after another, and each can be recorded while
    the workers go on with the next, instead of all finishing together at the end."""

    def __init__(self, workers: int = 1, order: Sequence[str] = ()) -> None:
        self.workers = max(1, workers)
        self.cpu_seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.order = list(order)
        self._rank = {label: position for position, label in enumerate(order)}
        self._waiting: list[tuple] = []  # heap of (rank, sequence, label, kind, call, job)
        self._sequence = itertools.count()
        self._running = 0
        self._lock = threading.RLock()
        self._closed = False
        self._executor = None
        if self.workers > 1:
            context = multiprocessing.get_context("forkserver")
            # Workers fork from a server that imported the jobs' modules once.
            context.set_forkserver_preload(["ml.train"])
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )

    def submit(self, label: str, kind: str, function: Callable, *args) -> Future:
        """Run `function(*args)`, a job of `kind` for `label` (a config); its CPU seconds are
        credited to (label, kind), or to (label, stage) for the parts it times apart."""
        job: Future = Future()
        with self._lock:
            if self._closed:  # a config's thread still submitting while the run stops
                _cancel(job)
                return job
            if self._executor is not None:
                rank = self._rank.get(label, len(self._rank))
                heapq.heappush(
                    self._waiting, (rank, next(self._sequence), label, kind, (function, args), job)
                )
                self._dispatch()
                return job
        done: Future = Future()
        done.set_result(_timed(function, kind, args))
        self._finish(label, job, done)
        return job

    def _dispatch(self) -> None:
        """Keep each worker busy and one job ahead, taking the most urgent jobs first. Once the
        workers can take no more (one died: BrokenProcessPool), the jobs fail with that error
        instead of waiting forever."""
        with self._lock:
            while self._waiting and self._running < 2 * self.workers:
                _, _, label, kind, (function, args), job = heapq.heappop(self._waiting)
                try:
                    timed = self._executor.submit(_timed, function, kind, args)
                except RuntimeError as error:  # BrokenProcessPool is one
                    job.set_exception(error)
                    continue
                self._running += 1
                timed.add_done_callback(functools.partial(self._finish, label, job))

    def _finish(self, label: str, job: Future, timed: Future) -> None:
        if self._executor is not None:
            with self._lock:
                self._running -= 1
                self._dispatch()
        if timed.cancelled():
            _cancel(job)
            return
        if timed.exception() is not None:
            job.set_exception(timed.exception())
            return
        result, seconds = timed.result()
        with self._lock:
            for kind, value in seconds.items():
                self.cpu_seconds[label, kind] += value
        job.set_result(result)

    def floor_seconds(self) -> float:
        """The sum of the jobs' single-thread times divided by the workers."""
        return sum(self.cpu_seconds.values()) / self.workers

    def close(self) -> None:
        """Cancel the jobs not started and those submitted from now on (whoever waits on them
        gets CancelledError), let the running ones end, stop the workers."""
        with self._lock:
            self._closed = True
            waiting, self._waiting = self._waiting, []
        for *_, job in waiting:
            _cancel(job)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> JobPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
