"""`pytest --cpu-profile=FILE`: where the suite's CPU time goes, by kind of process and by the
test that started it, written as Markdown (docs/performance/test-suite-cpu.md). Give it with
`=`: pytest reads a separate FILE as a test path before tests/conftest.py declares the option."""

from __future__ import annotations

import os
import re
import resource
import shlex
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_SECONDS = 0.2
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# Kinds of process by what their command line contains, first match wins.
KINDS = (
    ("dbt.cli.main", "dbt"),
    ("/bin/dbt ", "dbt"),
    ("multiprocessing.forkserver", "job pool: server and workers"),
    ("exec(eval(sys.stdin", "pytest workers (the tests in them)"),
    ("chrom", "headless Chromium"),
    ("-m streamlit run", "cli.py app"),  # which becomes the Streamlit server (execve)
)


def kind_of(command_line: str) -> str:
    for needle, kind in KINDS:
        if needle in command_line:
            return kind
    if " -c " in command_line:
        return "python -c helpers (readers, lock holders, trackers)"
    command = re.search(r"cli\.py (\S+)", command_line)
    return f"cli.py {command.group(1)}" if command else "other processes"


def _uptime_ticks() -> int:
    return int(float(Path("/proc/uptime").read_text().split()[0]) * TICKS_PER_SECOND)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _current_test(pid: int) -> str:
    for variable in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if variable.startswith(b"PYTEST_CURRENT_TEST="):
            test = variable.split(b"=", 1)[1].decode(errors="replace")
            return re.sub(r" \((setup|call|teardown)\)$", "", test)
    return ""


@dataclass
class Process:
    kind: str
    test: str  # the test whose run started it (the PYTEST_CURRENT_TEST it inherited)
    cpu_seconds: float = 0.0


@dataclass
class CpuProfile:
    """Reads every process started after the session began from /proc, every SAMPLE_SECONDS:
    its CPU time so far, and at first sight its command line and the test that started it."""

    out: Path
    processes: dict[tuple[int, int], Process] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)
    started_tick: int = field(default_factory=_uptime_ticks)
    own_cpu: float = field(default_factory=_own_cpu_seconds)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.read_processes()

    def read_processes(self) -> None:
        for name in os.listdir("/proc"):
            if name.isdigit():
                self._read(int(name))

    def _read(self, pid: int) -> None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            start_tick, cpu_ticks = int(fields[19]), int(fields[11]) + int(fields[12])
            if start_tick < self.started_tick:
                return
            process = self.processes.get((pid, start_tick))
            if process is None:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                process = self.processes[(pid, start_tick)] = Process(
                    kind_of(command.decode(errors="replace")), _current_test(pid)
                )
            process.cpu_seconds = cpu_ticks / TICKS_PER_SECOND
        except (OSError, IndexError, ValueError):  # it ended meanwhile
            pass

    def stop(self) -> None:
        self._stop.set()
        self._sampler.join()
        self.read_processes()

    def pytest_sessionfinish(self, session) -> None:
        self.stop()
        wall = time.monotonic() - self.started_at
        controller = _own_cpu_seconds() - self.own_cpu
        self.out.parent.mkdir(parents=True, exist_ok=True)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        outcomes = {outcome: len(reports) for outcome, reports in reporter.stats.items()
                    if outcome in ("passed", "failed", "error", "skipped")}  # fmt: skip
        command = shlex.join(["pytest", *map(str, session.config.invocation_params.args)])
        self.out.write_text(self.markdown(wall, controller, command, outcomes))

    def markdown(self, wall: float, controller_cpu: float, command: str,
                 outcomes: dict[str, int]) -> str:  # fmt: skip
        from ml.bench import measured_on

        by_kind: Counter = Counter({"the pytest controller": controller_cpu})
        count: Counter = Counter({"the pytest controller": 1})
        by_test: dict[str, Counter] = defaultdict(Counter)
        for process in self.processes.values():
            by_kind[process.kind] += process.cpu_seconds
            count[process.kind] += 1
            if process.test:
                by_test[process.test][process.kind] += process.cpu_seconds
        total = sum(by_kind.values())
        cores = os.cpu_count() or 1
        real_file = os.environ.get("SPOTIFY_REAL_CSV")
        lines = [
            "# Where the test suite's CPU goes",
            "",
            measured_on(Path(real_file).name if real_file else "the bundled sample only"),
            "",
            f"`{command}`: "
            + ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
            + f" in {wall:.1f} s wall.",
            "",
            f"Every process the suite started, its CPU time read from /proc every "
            f"{SAMPLE_SECONDS} s (a process that lives less than that is missed): "
            f"**{total:.0f} CPU s**, {total / cores:.0f} s on {cores} cores, so the wall time "
            f"is **{wall / (total / cores):.2f}×** that floor. A wall time under T seconds needs "
            f"under {cores} × T CPU s.",
            "",
            "| processes | how many | CPU s | share |",
            "|---|---:|---:|---:|",
            *[
                f"| {kind} | {count[kind]} | {seconds:.1f} | {seconds / total:.0%} |"
                for kind, seconds in by_kind.most_common()
            ],
            "",
            "The tests whose processes used the most CPU (a session fixture's, such as a "
            "whole-pipeline run, counts for the first test that asked for it; CPU spent inside "
            "the pytest workers is not split by test):",
            "",
            "| test | CPU s | by kind of process |",
            "|---|---:|---|",
        ]
        ranked = sorted(by_test.items(), key=lambda item: -sum(item[1].values()))
        for test, kinds in ranked[:15]:
            detail = ", ".join(
                f"{kind} {seconds:.1f}" for kind, seconds in kinds.most_common(3) if seconds >= 0.05
            )
            lines.append(f"| `{test}` | {sum(kinds.values()):.1f} | {detail} |")
        return "\n".join(lines) + "\n"


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--cpu-profile", metavar="FILE", help="write where the suite's CPU went to FILE (Markdown)"
    )


def pytest_configure(config) -> None:
    out = config.getoption("cpu_profile")
    if out and not hasattr(config, "workerinput"):  # in the controller, not in xdist's workers
        config.pluginmanager.register(CpuProfile(Path(out)), "cpu_profile_sampler")
