"""Where a run's time goes: wall seconds of the steps this process runs (dbt build, MLflow
logging, write-back, plots), CPU seconds of the training jobs (from the job pool), and the
floor those jobs set. `cli.py run --profile FILE` writes it as Markdown."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from ml.workers import JobPool

JOB_STAGES = ["cross-validation", "threshold", "intervals", "importance", "permutation test",
              "final fit"]  # fmt: skip
STEPS = ["MLflow logging", "write-back", "explanations", "plots"]


class Clock:
    """Wall seconds per (config, step) measured here; the job pool's CPU seconds beside them."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.wall: dict[tuple[str, str], float] = defaultdict(float)
        self.pool: JobPool | None = None

    @contextmanager
    def measure(self, label: str, step: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.wall[label, step] += time.monotonic() - started

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def markdown(self, heading: list[str]) -> str:
        """A table per config (CPU seconds of its jobs, wall seconds of its recording steps)
        and the totals: wall time, floor and their ratio. `heading`: lines naming the run."""
        cpu = self.pool.cpu_seconds if self.pool else {}
        workers = self.pool.workers if self.pool else 1
        floor = self.pool.floor_seconds() if self.pool else 0.0
        wall = self.elapsed()
        seen = list(dict.fromkeys(label for label, _ in [*cpu, *self.wall] if label))
        order = self.pool.order if self.pool else []
        configs = [label for label in order if label in seen]
        configs += [label for label in seen if label not in configs]
        header = ["config", *(f"{stage} (CPU s)" for stage in JOB_STAGES),
                  *(f"{step} (wall s)" for step in STEPS)]  # fmt: skip
        lines = [*heading, "", "| " + " | ".join(header) + " |",
                 "|---" + "|---:" * (len(header) - 1) + "|"]  # fmt: skip
        for config in configs:
            values = [cpu.get((config, stage), 0.0) for stage in JOB_STAGES]
            values += [self.wall.get((config, step), 0.0) for step in STEPS]
            lines.append(f"| {config} | " + " | ".join(f"{value:.1f}" for value in values) + " |")
        totals = [sum(cpu.get((c, stage), 0.0) for c in configs) for stage in JOB_STAGES]
        totals += [sum(self.wall.get((c, step), 0.0) for c in configs) for step in STEPS]
        lines.append("| **all** | " + " | ".join(f"{value:.1f}" for value in totals) + " |")
        steps_here = {step: seconds for (label, step), seconds in self.wall.items() if not label}
        lines += [
            "",
            *(f"- {step}: {seconds:.1f} s wall" for step, seconds in steps_here.items()),
        ]
        if workers > 1:
            lines += [
                f"- training jobs: {sum(cpu.values()):.1f} CPU s on {workers} single-threaded "
                f"workers; floor (CPU s / workers) **{floor:.1f} s**",
                f"- whole command: **{wall:.1f} s** wall = **{wall / floor:.2f}x the floor**",
            ]
        else:  # large data: fits in this process, on the libraries' own threads
            lines += [
                f"- training jobs: {sum(cpu.values()):.1f} CPU s in this process (all its "
                "threads, so stages that overlap are counted in full; no single-thread floor)",
                f"- whole command: **{wall:.1f} s** wall",
            ]
        return "\n".join(lines) + "\n"
