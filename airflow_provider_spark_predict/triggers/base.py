"""The poll loop every deferred cluster-mode run shares (YARN application, Kubernetes driver pod).

One ``httpx`` async client per run polls the cluster's API every ``poll_interval`` seconds (no thread per
task; the triggerer runs many of these in one event loop). A subclass says how to ask for the state
(:meth:`ClusterApplicationTrigger.fetch`) and how to kill (:meth:`ClusterApplicationTrigger.kill`); the
loop here logs state changes and the run's new status lines (the job driver's latest phase/progress line,
read from the status file beside the report), fires one :class:`TriggerEvent` when the application ended,
or an error event after ``max_failures`` failed polls in a row.

Event payloads: ``{"status": "success"|"failed"|"gone", "application_id", "state", "final_status",
"diagnostics", "tracking_url", "kind", "context"}`` when it ended (``gone``: the Kubernetes driver pod
disappeared before it was seen ending), or ``{"status": "error", "application_id", "message", "kind",
"context"}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.triggers.status import StatusTail


def poll_errors() -> tuple[type[BaseException], ...]:
    """The exception types of a failed poll, retried up to ``max_failures`` times in a row (``httpx``
    imported lazily)."""
    import httpx

    return (httpx.HTTPError, ValueError, KeyError, TypeError)


class ClusterApplicationTrigger(BaseTrigger):
    """Wait until a cluster-mode application ends; subclasses ask one cluster's API.

    :param application_id: the application (YARN application id, driver pod name)
    :param poll_interval: seconds between polls
    :param max_failures: failed polls in a row (connection error, HTTP error) before the error event
    :param timeout: seconds of one HTTP request
    :param verify: TLS certificate verification (``False``, ``True`` or a CA bundle path)
    :param context: free-form values handed back unchanged in every event (e.g. the report URI)
    :param status_uri: the run's status file (its new lines are logged while polling), or ``None``
    :param storage_options: fsspec options of the store holding the status file
    """

    #: What is polled, for log lines and messages ("YARN application", "driver pod").
    kind = "application"

    def __init__(
        self,
        application_id: str,
        poll_interval: float = 30.0,
        max_failures: int = 5,
        timeout: float = 30.0,
        verify: bool | str = True,
        context: dict[str, Any] | None = None,
        status_uri: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.application_id = application_id
        self.poll_interval = poll_interval
        self.max_failures = max_failures
        self.timeout = timeout
        self.verify = verify
        self.context = dict(context or {})
        self.status_uri = status_uri
        self.storage_options = dict(storage_options or {})

    # -- what a subclass provides ---------------------------------------------------------------------
    def cluster_kwargs(self) -> dict[str, Any]:
        """The subclass's own constructor arguments (for :meth:`serialize`)."""
        return {}

    @property
    def endpoint(self) -> str:
        """The API polled, for messages."""
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        """HTTP headers of every request (e.g. a bearer token)."""
        return {"Accept": "application/json"}

    async def fetch(self, client: Any) -> tuple[str, dict[str, Any] | None, str]:
        """One poll: ``(state, final event payload or None while it runs, detail for the log)``.

        :param client: the ``httpx.AsyncClient``
        :raises httpx.HTTPError: (and ValueError/KeyError/TypeError) the poll failed
        """
        raise NotImplementedError

    async def kill(self, client: Any) -> None:
        """Kill the application.

        :param client: the ``httpx.AsyncClient``
        :raises JobError: the cluster refused (e.g. HTTP 401/403) or could not be reached
        """
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------------
    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "application_id": self.application_id,
                **self.cluster_kwargs(),
                "poll_interval": self.poll_interval,
                "max_failures": self.max_failures,
                "timeout": self.timeout,
                "verify": self.verify,
                "context": self.context,
                "status_uri": self.status_uri,
                "storage_options": self.storage_options,
            },
        )

    def client(self) -> Any:
        """The ``httpx.AsyncClient`` of one run (or one kill)."""
        import httpx

        return httpx.AsyncClient(timeout=self.timeout, verify=self.verify, headers=self.headers())

    async def on_kill(self) -> None:
        """The user killed the deferred task (mark failed/success, clear): kill the application.

        A refused kill (e.g. HTTP 401/403) is logged as an error and raised, never ignored."""
        self.log.info("task killed while deferred: killing %s %s via %s", self.kind, self.application_id,
                      self.endpoint)
        async with self.client() as client:
            try:
                await self.kill(client)
            except JobError as err:
                self.log.error("%s", err)
                raise
        self.log.info("%s %s: kill accepted", self.kind, self.application_id)

    def _event(self, payload: dict[str, Any]) -> TriggerEvent:
        return TriggerEvent({**payload, "kind": self.kind, "context": self.context})

    async def _log_status(self, tail: StatusTail | None) -> None:
        if tail is None:
            return
        line = await asyncio.to_thread(tail.new_line)
        if line is not None:
            self.log.info("%s %s: driver status: %s", self.kind, self.application_id, line)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        errors = poll_errors()
        tail = StatusTail(self.status_uri, self.storage_options) if self.status_uri else None
        failures, last_state = 0, None
        async with self.client() as client:
            while True:
                try:
                    state, ended, detail = await self.fetch(client)
                except errors as err:
                    failures += 1
                    reason = f"{type(err).__name__}: {err}"
                    self.log.warning("%s: poll %s/%s of %s %s failed: %s", self.endpoint, failures,
                                     self.max_failures, self.kind, self.application_id, reason)
                    if failures >= self.max_failures:
                        yield self._event({
                            "status": "error", "application_id": self.application_id,
                            "message": f"{self.endpoint} could not report {self.kind} {self.application_id} "
                                       f"after {failures} attempts: {reason}",
                        })
                        return
                else:
                    failures = 0
                    if state != last_state:
                        self.log.info("%s %s: %s%s", self.kind, self.application_id, state, detail)
                        last_state = state
                    await self._log_status(tail)
                    if ended is not None:
                        yield self._event(ended)
                        return
                await asyncio.sleep(self.poll_interval)
