"""One publisher at a time per output partition: a lock file created exclusively in the store.

Two runs of the same date (a retry racing a late original, a backfill overlapping the daily run) must
leave the partition's location and its ``_CHECKED.json`` marker naming the same run. Each run publishes
(metastore update or folder renames), cleans up, and writes its report and marker while holding
``<versions dir>/_publish.lock``; the other run waits. Exclusive create is atomic on HDFS, S3A (with
conditional writes) and local disks, so this works across hosts. The critical section takes seconds;
a lock older than ``stale_s`` belongs to a driver that died inside it and is taken over (with a log line).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.run.publish import Files

LOCK_NAME = "_publish.lock"


def create_local_exclusive(path: str, text: str) -> bool:
    """Create the local file ``path`` with ``text`` by an exclusive open (``O_EXCL``); ``False`` when it
    existed. The atomic create of the ``Files`` implementations on a local disk."""
    try:
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        return False
    return True


class PublishLock:
    """Context manager holding the publish lock of one partition.

    :param files: the engine's file operations
    :param uri: the lock file (``<versions dir>/_publish.lock``)
    :param owner: the run id holding it (written into the file, named in log lines)
    :param log: the run's log function
    :param wait_s: how long to wait for another run's publish before failing
    :param stale_s: a lock older than this is taken over
    :param clock: seconds since the epoch (tests pass their own)
    """

    def __init__(self, files: Files, uri: str, owner: str, log: Callable[[str], None],
                 wait_s: float = 1800.0, stale_s: float = 900.0, clock: Callable[[], float] = time.time) -> None:
        self.files, self.uri, self.owner, self.log = files, uri, owner, log
        self.wait_s, self.stale_s, self.clock = wait_s, stale_s, clock
        self._token = ""

    def __enter__(self) -> PublishLock:
        deadline = time.monotonic() + self.wait_s
        announced = False
        while True:
            self._token = uuid.uuid4().hex
            text = json.dumps({"run_id": self.owner, "token": self._token, "since": self.clock()})
            if self.files.create_new(self.uri, text):
                return self
            holder = self._holder()
            if holder and self.clock() - float(holder.get("since", 0)) > self.stale_s:
                self.log(f"taking over the publish lock {self.uri} from run {holder.get('run_id')} "
                         f"(held for more than {self.stale_s:.0f} s)")
                self.files.delete(self.uri)
                continue
            if not announced:
                self.log(f"waiting for run {holder.get('run_id') if holder else '?'} to finish publishing "
                         f"this partition ({self.uri})")
                announced = True
            if time.monotonic() > deadline:
                raise JobError(f"the publish lock {self.uri} is still held by run "
                               f"{holder.get('run_id') if holder else '?'} after {self.wait_s:.0f} s; "
                               "nothing was published")
            time.sleep(0.5)

    def _holder(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.files.read_text(self.uri))
        except Exception:  # noqa: BLE001 - gone or half-written: treat as free on the next try
            return None
        return data if isinstance(data, dict) else None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        holder = self._holder()
        if holder and holder.get("token") == self._token:
            self.files.delete(self.uri)
