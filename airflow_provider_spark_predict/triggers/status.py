"""Reading the run's status file (the job driver's latest phase/progress line) on the Airflow side.

In cluster mode the driver's stdout does not reach the task log; the job keeps its latest line in a small
file beside the run report (:func:`airflow_provider_spark_predict.run.layout.status_uri`). The deferred
triggers and the hook's API tracking loop read it while they poll and log each line once, when it changes.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from airflow_provider_spark_predict.exceptions import SparkPredictError


class StatusTail:
    """Reads the run's status file; :meth:`new_line` gives its line only when it changed since the last call.

    :param uri: the status file (``file://``, ``hdfs://``, ``webhdfs://``, ...)
    :param storage_options: fsspec options of the store
    """

    def __init__(self, uri: str, storage_options: dict[str, Any] | None = None) -> None:
        self.uri = uri
        self.storage_options = storage_options
        self.last: str | None = None
        self._store: Any = None

    def read(self) -> str | None:
        """The file's line, or ``None`` when it does not exist (yet) or cannot be read."""
        folder, _, name = self.uri.rpartition("/")
        try:
            if self._store is None:
                from airflow_provider_spark_predict.staging import open_store

                self._store = open_store(folder, self.storage_options)
            text = self._store.read_text(name)
        except (OSError, SparkPredictError, ValueError):
            return None
        return text.strip() if text else None

    def new_line(self) -> str | None:
        """The file's line if it differs from the last one returned, else ``None``."""
        line = self.read()
        if line is None or line == self.last:
            return None
        self.last = line
        return line


class StatusWatcher:
    """A daemon thread that logs new status lines while a blocking wait runs (the hook's API tracking).

    :param tail: the status file
    :param log: where lines go
    :param interval_s: seconds between reads
    """

    def __init__(self, tail: StatusTail, log: logging.Logger | Any, interval_s: float = 10.0) -> None:
        self.tail, self.log, self.interval_s = tail, log, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="spark-predict-status", daemon=True)

    def _loop(self) -> None:
        while True:
            self.poll()
            if self._stop.wait(self.interval_s):
                return

    def poll(self) -> None:
        """Log the file's line once if it changed."""
        line = self.tail.new_line()
        if line is not None:
            self.log.info("driver status: %s", line)

    def __enter__(self) -> StatusWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.poll()  # the last line written before the application ended
