"""The job pool: the same results in worker processes as in this one, one thread per worker,
CPU time credited to the stage that spent it."""

import os
import threading
import time
from concurrent.futures import wait
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from threadpoolctl import threadpool_info

from ml.evaluate import cross_validate, summarize
from ml.pipeline import make_pipeline_for
from ml.tasks import REGRESSION
from ml.workers import JobPool, fresh_model, stage


def thread_settings(model) -> tuple[int, set[int]]:
    """A job: the model's n_jobs in the job, and the thread counts of the loaded pools."""
    return fresh_model(model).n_jobs, {pool["num_threads"] for pool in threadpool_info()}


def busy(seconds: float) -> None:
    """A job that spends about `seconds` of CPU, half of it in stage 'inner'."""

    def spin(until: float) -> None:
        while time.process_time() < until:
            pass

    spin(time.process_time() + seconds / 2)
    with stage("inner"):
        spin(time.process_time() + seconds / 2)


def data(rows: int = 90) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"in_spotify_playlists": rng.integers(0, 9000, rows).astype(float),
                      "bpm": rng.normal(120, 25, rows)})  # fmt: skip
    y = np.log1p(X["in_spotify_playlists"].to_numpy()) + rng.normal(0, 0.3, rows)
    return X, y


def test_folds_in_workers_give_what_they_give_in_this_process():
    X, y = data()
    model = make_pipeline_for(REGRESSION, "random_forest", {"n_estimators": 20, "n_jobs": -1},
                              list(X.columns), seed=1)  # fmt: skip
    with JobPool(1) as here, JobPool(2) as workers:
        inline = cross_validate(model, X, y, REGRESSION, 3, 2, seed=5, importance_repeats=2,
                                pool=here)  # fmt: skip
        pooled = cross_validate(model, X, y, REGRESSION, 3, 2, seed=5, importance_repeats=2,
                                pool=workers)  # fmt: skip
    pd.testing.assert_frame_equal(summarize(inline), summarize(pooled), rtol=0, atol=1e-12)
    np.testing.assert_allclose(inline.oof_prediction, pooled.oof_prediction, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(inline.importance, pooled.importance, rtol=0, atol=1e-12)
    assert set(workers.cpu_seconds) == {("", "cross-validation"), ("", "intervals"),
                                        ("", "importance")}  # fmt: skip


def test_a_worker_runs_its_job_on_one_thread():
    forest = RandomForestRegressor(n_jobs=-1)
    with JobPool(2) as workers:
        n_jobs, threads = workers.submit("x", "probe", thread_settings, forest).result()
    assert n_jobs == 1
    assert threads == {1}
    assert fresh_model(forest).n_jobs == -1  # in this process, the model's own setting stays


def test_cpu_time_is_credited_to_the_job_and_its_stages():
    with JobPool(2) as workers:
        futures = [workers.submit("config", "fit", busy, 0.2) for _ in range(4)]
        [future.result() for future in futures]
    assert 0.3 < workers.cpu_seconds["config", "fit"] < 0.6
    assert 0.3 < workers.cpu_seconds["config", "inner"] < 0.6
    assert abs(workers.floor_seconds() - sum(workers.cpu_seconds.values()) / 2) < 1e-12


def start_time() -> float:
    """A job: when it started (the monotonic clock is the machine's), then some work: long
    enough that the jobs handed out first are still running when the next ones are submitted,
    even on a loaded machine (with 0.05 s a later job once started 46 ms before a sooner one)."""
    started = time.monotonic()
    busy(0.3)
    return started


def test_jobs_of_earlier_labels_run_first_and_close_cancels_the_rest():
    with JobPool(2, order=["first", "second"]) as workers:
        later = [workers.submit("second", "fit", start_time) for _ in range(8)]
        sooner = [workers.submit("first", "fit", start_time) for _ in range(4)]
        # Four of the later jobs were handed out before the sooner ones came; the rest wait
        # and start after them.
        # (10 ms of slack: two workers that take two queued jobs at once start them at once)
        assert max(future.result() for future in sooner) < 0.01 + min(
            future.result() for future in later[4:]
        )
        [workers.submit("second", "fit", busy, 2.0) for _ in range(4)]
        waiting = [workers.submit("second", "fit", busy, 2.0) for _ in range(3)]
    assert all(future.cancelled() for future in waiting)


def test_jobs_submitted_while_the_pool_closes_are_cancelled_and_every_job_ends():
    """On Ctrl-C early in `cli.py run` the pool closed while the configs' threads still
    submitted jobs. A running job's end then failed to hand out the next ("cannot schedule new
    futures after shutdown"), so neither ever ended, nor the threads waiting on them: the run
    hung."""
    workers = JobPool(2)
    running = [workers.submit("a", "fit", busy, 1.0) for _ in range(4)]  # handed out: 2 × 2
    closing = threading.Thread(target=workers.close)
    closing.start()
    time.sleep(0.2)  # the pool is closing: it waits for the running jobs
    late = [workers.submit("a", "fit", busy, 0.1) for _ in range(2)]
    closing.join(timeout=60)
    assert not closing.is_alive()
    assert not wait(running + late, timeout=10).not_done
    assert all(future.cancelled() for future in late)


def test_a_worker_that_dies_fails_the_jobs_instead_of_leaving_them_waiting():
    """A worker killed outright (by the kernel when memory runs out, say) broke the pool; the
    jobs not yet handed out then never ended, and `cli.py run` waited forever."""
    with JobPool(2) as workers:
        jobs = [workers.submit("a", "fit", busy, 0.2) for _ in range(3)]
        jobs.append(workers.submit("a", "fit", os._exit, 1))
        jobs += [workers.submit("a", "fit", busy, 0.2) for _ in range(6)]
        wait(jobs, timeout=60)
        assert all(job.done() for job in jobs)
        assert isinstance(jobs[-1].exception(), BrokenProcessPool)
