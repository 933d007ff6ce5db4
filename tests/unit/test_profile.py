"""The run profile: each config's job CPU by stage, this process's steps, the floor."""

import re

from test_workers import busy

from ml.profile import Clock
from ml.workers import JobPool


def test_the_profile_sums_stages_per_config_and_relates_wall_time_to_the_floor():
    clock = Clock()
    with JobPool(2, order=["a", "b"]) as pool:
        clock.pool = pool
        jobs = [pool.submit(label, "cross-validation", busy, 0.2) for label in ("a", "b", "b")]
        [job.result() for job in jobs]
        with clock.measure("a", "plots"):
            busy(0.05)
    text = clock.markdown(["# heading"])
    rows = {line.split(" | ")[0].strip("| *"): line for line in text.splitlines()
            if line.startswith("| ")}  # fmt: skip
    assert list(rows) == ["config", "a", "b", "all"]
    cross_validation = [float(rows[name].split(" | ")[1]) for name in ("a", "b", "all")]
    assert 0.05 <= cross_validation[0] <= 0.15 and 0.15 <= cross_validation[1] <= 0.3
    assert abs(cross_validation[2] - cross_validation[0] - cross_validation[1]) < 0.15
    floor = float(re.search(r"floor \(CPU s / workers\) \*\*([\d.]+) s", text).group(1))
    assert abs(floor - sum(pool.cpu_seconds.values()) / 2) <= 0.051  # printed to 0.1 s
    ratio = float(re.search(r"= \*\*([\d.]+)x the floor", text).group(1))
    assert ratio > 1  # the wall time includes starting the workers


def test_in_one_process_the_profile_claims_no_floor():
    clock = Clock()
    with JobPool(1) as pool:
        clock.pool = pool
        pool.submit("a", "final fit", busy, 0.05).result()
    text = clock.markdown(["# heading"])
    assert "no single-thread floor" in text and "x the floor" not in text
