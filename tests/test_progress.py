"""Progress lines of the scoring job.

Unit tests of the decision/format logic with a fake clock, then the real job (``job.main.main``) in this
process on Spark local[2] over a 200k-row partition split into 16 tasks, its stdout captured: that stdout is
what spark-submit streams into the Airflow task log.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from airflow_provider_spark_predict.job import progress
from airflow_provider_spark_predict.job.progress import ProgressLine, Snapshot, format_duration, interval_from
from airflow_provider_spark_predict.run.layout import status_uri

# -- unit: decisions and formatting ----------------------------------------------------------------


def test_interval_from_conf_env_default():
    assert interval_from(None, {}) == 30.0
    assert interval_from(None, {"SPARK_PREDICT_PROGRESS_S": "1"}) == 1.0
    assert interval_from("5", {"SPARK_PREDICT_PROGRESS_S": "1"}) == 5.0
    with pytest.raises(ValueError, match="must be > 0"):
        interval_from("0", {})


def test_format_duration():
    assert format_duration(None) == "?"
    assert format_duration(7) == "7s"
    assert format_duration(75) == "1m15s"
    assert format_duration(3725) == "1h02m05s"


def test_line_due_on_interval_and_on_each_ten_percent():
    line = ProgressLine("scoring", total_rows=1000, interval_s=30, started=100.0)
    assert not line.due(Snapshot(0, 4, 0), 110.0)          # nothing new, interval not over
    assert line.due(Snapshot(0, 4, 0), 130.0)              # heartbeat after 30 s
    assert line.due(Snapshot(1, 4, 100), 101.0)            # reached 10 %
    line.render(Snapshot(1, 4, 100), 101.0)
    assert not line.due(Snapshot(1, 4, 150), 102.0)        # still in the same 10 % step
    assert line.due(Snapshot(2, 4, 250), 103.0)            # 20 % reached
    assert line.fraction(Snapshot(3, 4, 1000)) == 0.99     # every row counted, a task still writing


def test_line_rate_over_last_interval_and_eta():
    line = ProgressLine("scoring", total_rows=1_000_000, interval_s=30, started=0.0)
    first = line.render(Snapshot(5, 20, 250_000), 30.0)
    assert first == ("progress scoring: 25 %, tasks 5/20, rows 250,000/1,000,000, 8,333 rows/s, "
                     "elapsed 30s, ETA 1m30s")
    # the rate is over the last interval only: 100k rows in 30 s
    second = line.render(Snapshot(7, 20, 350_000), 60.0)
    assert "3,333 rows/s" in second and "35 %" in second
    final = line.render(Snapshot(19, 20, 1_000_000), 100.0, final=True)
    assert final.startswith("progress scoring: 100 %, tasks 19/20, rows 1,000,000/1,000,000")
    assert "10,000 rows/s overall" in final and final.endswith("ETA done")


def test_line_fraction_from_tasks_when_total_rows_unknown():
    line = ProgressLine("scoring", total_rows=None, interval_s=30, started=0.0)
    assert line.fraction(Snapshot(0, 0, 0)) is None
    text = line.render(Snapshot(3, 4, 123), 30.0)
    assert "75 %" in text and "rows 123," in text and "ETA 10s" in text


def test_poller_prints_lines_and_final_with_fake_reads():
    """The thread itself, with a scripted snapshot source: lines at each step, a final 100 % line."""
    snaps = iter([Snapshot(1, 4, 25), Snapshot(2, 4, 50), Snapshot(3, 4, 75)])
    last = [Snapshot(0, 4, 0)]

    def read():
        last[0] = next(snaps, last[0])
        return last[0]

    lines: list[str] = []
    line = ProgressLine("scoring", total_rows=100, interval_s=30, started=0.0)
    poller = progress.ProgressPoller(line, read, lines.append, poll_s=0.01, clock=lambda: 1.0).start()
    for _ in range(500):
        if len(lines) >= 3:
            break
        import time

        time.sleep(0.01)
    poller.stop(final=True)
    assert [re.search(r"(\d+) %", x).group(1) for x in lines] == ["25", "50", "75", "100"]
    assert not poller._thread.is_alive()


def test_phases_lines_and_seconds_with_a_fake_clock():
    """The phase lines every engine prints (no thread): each says how long the previous phase took."""
    now = [0.0]
    lines: list[str] = []
    phases = progress.Phases(lines.append, clock=lambda: now[0])
    phases.phase("read input")
    now[0] = 2.0
    phases.phase("scoring")
    now[0] = 77.0
    phases.phase("checks")
    now[0] = 80.0
    assert phases.finish() == {"read input": 2.0, "scoring": 75.0, "checks": 3.0}
    assert lines == ["phase read input", "phase scoring (read input took 2s)", "phase checks (scoring took 1m15s)",
                     "phases done (checks took 3s)"]


def test_status_file_keeps_the_latest_line_and_never_breaks_the_run():
    """Inside ``status_file`` phase lines replace the file's content; a failing write is reported once and
    switches the file off (the run goes on); outside the block nothing is written."""
    files: dict[str, str] = {}
    lines: list[str] = []
    with progress.status_file(files.__setitem__, "mem://r/run.status", lines.append):
        phases = progress.Phases(lines.append, clock=lambda: 0.0)
        phases.phase("scoring")
        phases.phase("checks")
        assert list(files) == ["mem://r/run.status"]
        assert re.fullmatch(r"\S+Z phase checks \(scoring took 0s\)\n", files["mem://r/run.status"])
    phases.phase("publish")  # after the block: printed, not written
    assert "publish" not in files["mem://r/run.status"]
    assert status_uri("hdfs://nn/store/reports/t/dt=1/run-1.json") == "hdfs://nn/store/reports/t/dt=1/run-1.status"

    def refuse(uri: str, text: str) -> None:
        raise PermissionError("no write access")

    lines.clear()
    with progress.status_file(refuse, "hdfs://nn/r/run.status", lines.append):
        phases = progress.Phases(lines.append)
        phases.phase("scoring")
        phases.phase("checks")
    warnings = [ln for ln in lines if ln.startswith("status file")]
    assert warnings == ["status file hdfs://nn/r/run.status not written, no more status lines there "
                        "(PermissionError: no write access)"]
    assert lines[0] == "phase scoring" and lines[-1].startswith("phase checks")


# -- the real job on the shared Spark local[2] session ------------------------------------------------

ROWS = 48_000
FILES = 12
N_FEATURES = 10


def _write_world(root: str) -> dict[str, str]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import xgboost as xgb

    rng = np.random.default_rng(7)
    folder = os.path.join(root, "input", "dt=2026-01-01")
    os.makedirs(folder)
    per = ROWS // FILES
    names = [f"f{j}" for j in range(N_FEATURES)]
    for i in range(FILES):
        x = rng.normal(size=(per, N_FEATURES)).astype(np.float32)
        cols = {"pin": pa.array(np.arange(i * per, (i + 1) * per, dtype=np.int64))}
        cols.update({n: pa.array(x[:, j]) for j, n in enumerate(names)})
        pq.write_table(pa.table(cols), os.path.join(folder, f"part-{i:03d}.parquet"))
    x = rng.normal(size=(4000, N_FEATURES)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0).astype(int) + 4 * (x[:, 2] > 0).astype(int)
    booster = xgb.train({"objective": "multi:softprob", "num_class": 8, "max_depth": 6, "nthread": 1},
                        xgb.DMatrix(x, label=y, feature_names=names), num_boost_round=60)
    model = os.path.join(root, "model.json")
    booster.save_model(model)
    return {"input": "file://" + os.path.join(root, "input"), "output": "file://" + os.path.join(root, "output"),
            "model": "file://" + model}


def _spec(world: dict[str, str], report_uri: str, run_id: str):
    """The scoring spec of :func:`_write_world`'s partition, batches of 2,000 rows."""
    from airflow_provider_spark_predict.spec import (
        InputSpec,
        ModelSpec,
        ScoringSpec,
        StrategySpec,
        TargetSpec,
    )

    return ScoringSpec(
        input=InputSpec(path=world["input"], partition={"dt": "2026-01-01"}),
        model=ModelSpec(uri=world["model"]),
        output=TargetSpec(path=world["output"], partition={"dt": "2026-01-01"}),
        keys=["pin"], strategy=StrategySpec(batch_rows=2000), report_uri=report_uri, run_id=run_id,
    ).validate()


@pytest.mark.spark
def test_job_logs_progress_and_reports_phase_seconds(tmp_path, capfd, monkeypatch, shared_spark):
    """The job's run sequence (``job.main.run_in_session``: what spark-submit runs, on the shared local[2]
    session) over 12 input files, one task each; its stdout is what spark-submit streams into the task log."""
    from airflow_provider_spark_predict.job import main as job_main

    spec = _spec(_write_world(str(tmp_path)), "file://" + str(tmp_path / "report.json"), "progress-test")
    # polls every 0.1 s (the run takes ~2 s on a quiet machine): a line per 10 % step reached and a
    # heartbeat line every 0.1 s
    monkeypatch.setenv("SPARK_PREDICT_PROGRESS_S", "0.1")
    conf = shared_spark.conf
    before = conf.get("spark.sql.files.maxPartitionBytes")
    conf.set("spark.sql.files.maxPartitionBytes", "1m")  # one task per input file (files of ~200 KB)
    try:
        report = job_main.run_in_session(shared_spark, spec)
    finally:
        conf.set("spark.sql.files.maxPartitionBytes", before)
    out = capfd.readouterr().out
    assert report["status"] == "succeeded", out[-3000:]

    lines = [ln for ln in out.splitlines() if ln.startswith("[spark-predict] ")]
    phases = [ln.split("phase ", 1)[1].split(" (")[0] for ln in lines if ln.startswith("[spark-predict] phase ")]
    assert phases == ["footer job", "scoring", "checks", "publish"], lines
    scoring = [ln for ln in lines if ln.startswith("[spark-predict] progress scoring: ")]
    rows = [int(re.search(r"rows ([\d,]+)/", ln).group(1).replace(",", "")) for ln in scoring]
    tasks = [re.search(r"tasks (\d+)/(\d+)", ln).groups() for ln in scoring]
    assert len(scoring) >= 3, scoring
    assert rows == sorted(rows) and rows[-1] == ROWS, scoring
    assert any(0 < r < ROWS for r in rows), f"no intermediate progress line: {scoring}"
    assert int(tasks[-1][1]) >= FILES and tasks[-1][0] == tasks[-1][1], scoring
    assert scoring[-1].startswith(f"[spark-predict] progress scoring: 100 %, tasks {tasks[-1][0]}/")
    assert scoring[-1].endswith("ETA done")

    written = json.loads((tmp_path / "report.json").read_text())
    assert written["status"] == "succeeded"
    assert set(written["phases_s"]) == {"footer job", "scoring", "checks", "publish"}
    assert all(isinstance(v, float) and v >= 0 for v in written["phases_s"].values())
    assert written["rows_scored"] == ROWS and written["rows_per_s"] > 0
    assert written["durations"]["score_write_s"] >= 0


@pytest.mark.spark
def test_cluster_mode_status_file_is_logged_by_the_trigger(tmp_path, capfd, monkeypatch, shared_spark):
    """Cluster mode: the driver's stdout stays on the cluster. The real job (``tests.helpers.in_session.run_spec``
    on the shared local[2] session, in a thread, playing the driver on the cluster) keeps its latest phase/
    progress line in the status file beside its report; meanwhile a YarnApplicationTrigger polls a fake
    ResourceManager (YARN itself is not run here: the application is RUNNING until the job's thread ends) and
    logs each new line it reads from that file."""
    import asyncio
    import threading

    from airflow_provider_spark_predict.triggers.yarn import YarnApplicationTrigger
    from tests.helpers.fake_rm import FakeResourceManager
    from tests.helpers.in_session import run_spec

    report_uri = "file://" + str(tmp_path / "reports" / "status-test.json")
    spec = _spec(_write_world(str(tmp_path)), report_uri, "status-test")
    monkeypatch.setenv("SPARK_PREDICT_PROGRESS_S", "0.1")
    app = "application_1_0100"
    result: dict = {}
    with FakeResourceManager() as rm:
        rm.add(app, ["RUNNING"])

        def driver() -> None:
            try:
                result["report"] = run_spec(shared_spark, spec)
            finally:
                rm.add(app, ["FINISHED:SUCCEEDED"])  # the application ends when its driver returns

        trigger = YarnApplicationTrigger(app, rm.address, poll_interval=0.05, status_uri=status_uri(report_uri))

        async def wait_for_event() -> dict:
            gen = trigger.run()
            event = await asyncio.wait_for(gen.__anext__(), timeout=600)
            await gen.aclose()
            return event.payload

        thread = threading.Thread(target=driver)
        thread.start()
        try:
            event = asyncio.run(wait_for_event())
        finally:
            thread.join()
    out = capfd.readouterr().out
    assert result["report"]["status"] == "succeeded", out[-3000:]
    assert event["status"] == "success"

    printed = [ln.removeprefix("[spark-predict] ") for ln in out.splitlines() if ln.startswith("[spark-predict] ")]
    logged = re.findall(r"driver status: \S+Z (.+?)\s+\[airflow_provider", out)
    assert logged, out[-3000:]
    # each logged line is a line the driver printed, in the driver's order (a subsequence: the trigger sees
    # only the latest line at each poll; the same text twice = two writes, e.g. two heartbeats in one second)
    rest = iter(printed)
    assert all(any(line == p for p in rest) for line in logged), (logged, printed)
    assert logged[-1].startswith("phases done (publish took "), logged  # read after the application ended
    # the file holds the latest line only (overwritten, not appended)
    text = (tmp_path / "reports" / "status-test.status").read_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ phases done \(publish took \S+\)\n", text), text
