"""Live progress of a scoring run in the task log (driver side).

The job's driver prints ``[spark-predict]`` lines; spark-submit's output is streamed into the Airflow
task log (local, standalone client, YARN/k8s client mode; in cluster mode the driver log on the cluster).

* one line per phase change (``footer job``, ``scoring``, ``checks``, ``publish``) with the time the
  previous phase took (:class:`Phases`, called by :mod:`airflow_provider_spark_predict.run.sequence`);
* while the scoring write runs on Spark (:func:`watch_scoring`), a daemon thread polls ``SparkContext.statusTracker()`` (tasks done/total of the
  phase's jobs, tagged with a job group) and the executor-side ``rows`` accumulator, and prints a line
  every ``interval_s`` seconds (default 30) and each time another 10 % is done: tasks, rows scored so
  far, rows/s over the last interval, ETA; a final ``100 %`` line when the phase ends.

The interval is read from the Spark conf ``spark.sparkpredict.progressIntervalSeconds`` (set it through
the operator's ``spark_conf``), else the environment variable ``SPARK_PREDICT_PROGRESS_S``, else 30.
:class:`ProgressLine` holds the decision and formatting logic and takes the clock as an argument, so it is
testable without Spark.

Cluster mode: the driver's stdout stays on the cluster, so inside :func:`status_file` every phase and
progress line is also written, replacing the previous one, to the run's status file next to its report
(:func:`airflow_provider_spark_predict.run.layout.status_uri`); the deferred triggers and the API tracking loop read it and log each new line.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

CONF_INTERVAL = "spark.sparkpredict.progressIntervalSeconds"
ENV_INTERVAL = "SPARK_PREDICT_PROGRESS_S"
DEFAULT_INTERVAL_S = 30.0
JOB_GROUP = "spark-predict-scoring"


class StatusFile:
    """The latest phase/progress line of the run, in one small file that each line overwrites.

    A failed write is printed once and switches the file off: the status file never breaks a run.

    :param write_text: writes a whole file (``HadoopFS.write_text``: atomic replace, any Hadoop FS)
    :param uri: the file (``run.layout.status_uri``)
    :param emit: where the one warning goes
    :param clock: wall clock (the line's time stamp)
    """

    def __init__(self, write_text: Callable[[str, str], None], uri: str, emit: Callable[[str], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.write_text, self.uri, self.emit, self.clock = write_text, uri, emit, clock
        self._lock = threading.Lock()
        self.broken = False

    def write(self, line: str) -> None:
        """Replace the file's content by ``<UTC time> <line>``."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))
        with self._lock:
            if self.broken:
                return
            try:
                self.write_text(self.uri, f"{stamp} {line}\n")
            except Exception as err:  # noqa: BLE001 - progress must never break the run
                self.broken = True
                self.emit(f"status file {self.uri} not written, no more status lines there "
                          f"({type(err).__name__}: {err})")


_status: StatusFile | None = None


def publish(line: str) -> None:
    """Write ``line`` to the active status file (:func:`status_file`), if any."""
    if _status is not None:
        _status.write(line)


@contextmanager
def status_file(write_text: Callable[[str, str], None], uri: str,
                emit: Callable[[str], None]) -> Iterator[StatusFile]:
    """Every phase and progress line of the ``with`` block also goes to the status file ``uri``.

    :param write_text: writes a whole file (``(uri, text)``)
    :param uri: the status file (``run.layout.status_uri`` of the report)
    :param emit: the job's log (for the one warning when the file cannot be written)
    """
    global _status
    previous, _status = _status, StatusFile(write_text, uri, emit)
    try:
        yield _status
    finally:
        _status = previous


def interval_from(conf_value: str | None, env: Mapping[str, str] | None = None) -> float:
    """The progress interval in seconds: the Spark conf value, else ``SPARK_PREDICT_PROGRESS_S``, else 30.

    :param conf_value: value of :data:`CONF_INTERVAL` (``None`` when unset)
    :param env: environment (default ``os.environ``)
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    raw = conf_value if conf_value not in (None, "") else environ.get(ENV_INTERVAL)
    if raw in (None, ""):
        return DEFAULT_INTERVAL_S
    value = float(str(raw))
    if value <= 0:
        raise ValueError(f"{CONF_INTERVAL} / {ENV_INTERVAL} must be > 0 seconds, got {raw!r}")
    return value


def format_duration(seconds: float | None) -> str:
    """``75`` -> ``1m15s``; ``3725`` -> ``1h02m05s``; ``None`` -> ``?``."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{sec:02d}s"
    return f"{m}m{sec:02d}s" if m else f"{sec}s"


@dataclass
class Snapshot:
    """One poll: tasks of the phase's jobs and rows scored so far.

    :param tasks_done: completed tasks
    :param tasks_total: tasks of the phase's jobs known so far (0 before the first job starts)
    :param rows: rows scored so far (accumulator; updated when a task completes)
    """

    tasks_done: int
    tasks_total: int
    rows: int


@dataclass
class ProgressLine:
    """Decides when to print a progress line and formats it.

    :param phase: phase name shown in the line
    :param total_rows: rows expected (the input's row count), or ``None``: the fraction then comes from tasks
    :param interval_s: a line at least this often (heartbeat), plus one per 10 % step
    :param started: clock value when the phase started
    """

    phase: str
    total_rows: int | None
    interval_s: float
    started: float
    last_time: float = field(init=False)
    last_rows: int = field(init=False, default=0)
    last_decile: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.last_time = self.started

    def fraction(self, snap: Snapshot) -> float | None:
        """Done fraction from rows when the total is known, else from tasks; ``None`` if unknown.

        Below 100 % while tasks still run (the write of the last rows, tasks with no rows)."""
        if self.total_rows:
            frac = min(1.0, snap.rows / self.total_rows)
            return min(frac, 0.99) if snap.tasks_done < snap.tasks_total else frac
        if snap.tasks_total:
            return min(1.0, snap.tasks_done / snap.tasks_total)
        return None

    def due(self, snap: Snapshot, now: float) -> bool:
        """Whether a line is due: ``interval_s`` passed since the last one, or a new 10 % step was reached."""
        frac = self.fraction(snap)
        decile = int((frac or 0.0) * 10 + 1e-9)
        return now - self.last_time >= self.interval_s or decile > self.last_decile

    def render(self, snap: Snapshot, now: float, final: bool = False) -> str:
        """The line for ``snap`` at ``now``; remembers it as the last line printed.

        :param final: the phase ended: the fraction is 100 % and there is no ETA
        """
        frac = 1.0 if final else self.fraction(snap)
        span = max(now - self.last_time, 1e-9)
        rate_now = (snap.rows - self.last_rows) / span
        elapsed = max(now - self.started, 1e-9)
        rate_avg = snap.rows / elapsed
        if final:
            eta = "done"
        elif frac and frac > 0 and self.total_rows and rate_avg > 0:
            eta = format_duration((self.total_rows - snap.rows) / rate_avg)
        elif frac and frac > 0:
            eta = format_duration(elapsed * (1 - frac) / frac)
        else:
            eta = "?"
        pct = "?" if frac is None else f"{frac * 100:.0f} %"
        total = f"/{self.total_rows:,}" if self.total_rows else ""
        rate = f"{rate_avg:,.0f} rows/s overall" if final else f"{rate_now:,.0f} rows/s"
        self.last_time, self.last_rows = now, snap.rows
        self.last_decile = max(self.last_decile, int((frac or 0.0) * 10 + 1e-9))
        return (f"progress {self.phase}: {pct}, tasks {snap.tasks_done}/{snap.tasks_total}, "
                f"rows {snap.rows:,}{total}, {rate}, elapsed {format_duration(elapsed)}, ETA {eta}")


class TaskCounter:
    """Tasks done/total of the jobs of one job group, from ``sc.statusTracker()``.

    A stage no longer reported (evicted) keeps the last counts seen.
    """

    def __init__(self, sc: Any, group: str) -> None:
        self.sc = sc
        self.group = group
        self.stages: dict[int, tuple[int, int]] = {}

    def poll(self) -> tuple[int, int]:
        tracker = self.sc.statusTracker()
        for job_id in tracker.getJobIdsForGroup(self.group):
            job = tracker.getJobInfo(job_id)
            for stage_id in (job.stageIds if job else []):
                info = tracker.getStageInfo(stage_id)
                if info is not None:
                    self.stages[stage_id] = (info.numCompletedTasks, info.numTasks)
        return sum(d for d, _ in self.stages.values()), sum(t for _, t in self.stages.values())


class ProgressPoller:
    """The daemon thread of one phase: polls and prints lines until :meth:`stop`.

    :param line: decision/format state
    :param read: returns a :class:`Snapshot`
    :param emit: prints one line (the job's ``log``)
    :param poll_s: seconds between polls
    :param clock: monotonic clock
    """

    def __init__(self, line: ProgressLine, read: Callable[[], Snapshot], emit: Callable[[str], None],
                 poll_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.line, self.read, self.emit, self.poll_s, self.clock = line, read, emit, poll_s, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="spark-predict-progress", daemon=True)
        self.last: Snapshot | None = None

    def start(self) -> ProgressPoller:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                snap = self.read()
            except Exception as err:  # noqa: BLE001 - progress must never break the run
                self.emit(f"progress {self.line.phase}: no more progress lines ({type(err).__name__}: {err})")
                return
            self.last = snap
            now = self.clock()
            if self.line.due(snap, now):
                self._say(self.line.render(snap, now))

    def _say(self, text: str) -> None:
        self.emit(text)
        publish(text)

    def stop(self, final: bool) -> Snapshot | None:
        """Stop the thread; with ``final``, print the 100 % line. Returns the last snapshot."""
        self._stop.set()
        self._thread.join(timeout=10)
        if final:
            try:
                self.last = self.read()
            except Exception:  # noqa: BLE001 - keep the last snapshot read by the thread
                pass
            if self.last is not None:
                self._say(self.line.render(self.last, self.clock(), final=True))
        return self.last


class Phases:
    """Phases of one run, for every engine: one line per phase change with the seconds of the ended phase.

    Starts no thread (the in-process engine uses it too); the Spark engine adds the progress lines of the
    scoring phase with :func:`watch_scoring`.

    :param emit: prints one line (the engine's ``log``)
    :param clock: monotonic clock
    """

    def __init__(self, emit: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.emit = emit
        self.clock = clock
        self.phases_s: dict[str, float] = {}
        self._phase: str | None = None
        self._started = clock()

    def phase(self, name: str | None) -> None:
        """End the current phase (its seconds recorded and printed) and start ``name`` (``None``: end only)."""
        now = self.clock()
        ended = self._phase
        if ended is not None:
            self.phases_s[ended] = round(now - self._started, 3)
        took = f" ({ended} took {format_duration(self.phases_s[ended])})" if ended is not None else ""
        text = f"phase {name}{took}" if name is not None else f"phases done{took}" if ended is not None else None
        if text is not None:
            self.emit(text)
            publish(text)
        self._phase, self._started = name, now

    def finish(self) -> dict[str, float]:
        """End the last phase; return the seconds of every phase."""
        self.phase(None)
        return dict(self.phases_s)


@contextmanager
def watch_scoring(spark: Any, rows: Any, total_rows: int | None,
                  emit: Callable[[str], None]) -> Iterator[ProgressPoller]:
    """Progress lines while the Spark jobs of the ``with`` block run (the scoring write).

    The block's jobs are tagged with :data:`JOB_GROUP`; a daemon thread polls their tasks and the
    ``rows`` accumulator. A final ``100 %`` line when the block ends normally; nothing more on an error.

    :param spark: the SparkSession (the interval: conf :data:`CONF_INTERVAL`, else env, else 30 s)
    :param rows: the executor-side rows accumulator
    :param total_rows: rows expected (fraction and ETA), ``None``: the fraction comes from tasks
    :param emit: prints one line
    """
    sc = spark.sparkContext
    interval_s = interval_from(spark.conf.get(CONF_INTERVAL, None))
    sc.setJobGroup(JOB_GROUP, "spark-predict scoring")
    counter = TaskCounter(sc, JOB_GROUP)

    def read() -> Snapshot:
        done, total = counter.poll()
        return Snapshot(done, total, int(rows.value))

    line = ProgressLine("scoring", total_rows or None, interval_s, time.monotonic())
    poller = ProgressPoller(line, read, emit, min(1.0, interval_s)).start()
    ok = False
    try:
        yield poller
        ok = True
    finally:
        poller.stop(final=ok)
        sc.setLocalProperty("spark.jobGroup.id", None)
