"""Two runs of one partition publish one after the other: the partition and its ``_CHECKED.json`` marker
always name the same run, and cleanup leaves a running run's version folder alone.

Real files on the local disk, real in-process runs (pyarrow, a real XGBoost model); the Spark side of the
same lock is covered by ``tests/integration/test_submit_scenarios.py`` (two spark-submits of one date).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.in_process.files import FsspecFiles
from airflow_provider_spark_predict.report import CHECKED_MARKER
from airflow_provider_spark_predict.run.layout import Layout
from airflow_provider_spark_predict.run.lock import PublishLock
from airflow_provider_spark_predict.run.publish import cleanup_versions
from airflow_provider_spark_predict.run.sequence import still_running
from tests.test_in_process_engine import run, spec, versions, world  # noqa: F401 - the fixture


def test_holders_take_turns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    files, uri, held = FsspecFiles(), str(tmp_path / "v" / "_publish.lock"), []
    inside = threading.Lock()
    overlaps = []

    def hold(owner: str) -> None:
        for _ in range(5):
            with PublishLock(files, uri, owner, lambda m: None):
                if not inside.acquire(blocking=False):
                    overlaps.append(owner)
                    continue
                held.append(owner)
                time.sleep(0.02)
                inside.release()

    threads = [threading.Thread(target=hold, args=(f"run{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not overlaps, f"two holders at once: {overlaps}"
    assert sorted(held) == sorted([f"run{i}" for i in range(3)] * 5)
    assert not (tmp_path / "v" / "_publish.lock").exists(), "the last holder left the lock behind"


def test_a_stale_lock_is_taken_over_and_a_live_one_times_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    files, uri, lines = FsspecFiles(), str(tmp_path / "_publish.lock"), []
    files.create_new(uri, json.dumps({"run_id": "dead-driver", "token": "t", "since": time.time() - 5000}))
    with PublishLock(files, uri, "me", lines.append, stale_s=900):
        assert json.loads(files.read_text(uri))["run_id"] == "me"
    assert any("taking over the publish lock" in m and "dead-driver" in m for m in lines), lines

    files.create_new(uri, json.dumps({"run_id": "busy-run", "token": "t", "since": time.time()}))
    with pytest.raises(JobError, match="still held by run busy-run"):
        with PublishLock(files, uri, "me", lines.append, wait_s=1.0):
            pass
    assert json.loads(files.read_text(uri))["run_id"] == "busy-run", "a waiter must not remove another's lock"


def test_two_runs_of_one_date_leave_partition_and_marker_naming_the_same_run(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Run A writes its marker slowly while holding the lock; run B, ready to publish meanwhile, waits.
    Without the lock B would publish and mark in between, and A's late marker would name a run whose rows
    are no longer the partition's."""
    a, b = spec(world, "1"), spec(world, "2")
    a_marking, original = threading.Event(), FsspecFiles.write_text

    def slow_marker(self, uri: str, text: str) -> None:  # type: ignore[no-untyped-def]
        if uri.endswith(CHECKED_MARKER) and json.loads(text)["run_id"] == a.run_id:
            a_marking.set()
            time.sleep(1.5)
        original(self, uri, text)

    monkeypatch.setattr(FsspecFiles, "write_text", slow_marker)
    reports = {}
    ta = threading.Thread(target=lambda: reports.setdefault("a", run(world, a)))
    ta.start()
    assert a_marking.wait(60), "run A never reached its marker"
    reports["b"] = run(world, b)  # publishes while A still holds the lock, unless it waits
    ta.join(60)
    assert reports["a"].published and reports["b"].published, (reports["a"].error, reports["b"].error)
    marker = json.loads((world / "store" / CHECKED_MARKER).read_text())
    # B published last: A's partition folder was moved aside under B's name, so the marker must be B's
    assert f"superseded-{b.run_id}" in versions(world)
    assert marker["run_id"] == b.run_id, "the marker names a run whose rows are not the partition"


def test_cleanup_leaves_the_version_of_a_running_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    files = FsspecFiles()
    layout = Layout(str(tmp_path / "out"), {"dt": "2026-01-01"})
    now = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    running, finished, old = f"{now}-running", f"{now}-done", "20200101T000000000000Z-crashed"
    for name in (running, finished, old, "current"):
        (tmp_path / "out" / "_spark_predict" / "dt=2026-01-01" / name).mkdir(parents=True)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / f"{finished}.json").write_text("{}")
    cleanup_versions(files, layout, 0, layout.version_path("current"), lambda m: None,
                     skip=still_running(files, str(reports / "current.json")))
    left = sorted(p.name for p in (tmp_path / "out" / "_spark_predict" / "dt=2026-01-01").iterdir())
    # the finished run's and the day-old crashed run's folders go; the running run's stays
    assert left == sorted(["current", running])
