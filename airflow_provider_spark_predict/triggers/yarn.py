"""Deferrable wait for a YARN application: async polling of the ResourceManager REST API.

``GET {rm}/ws/v1/cluster/apps/{app_id}`` every ``poll_interval`` seconds with one shared ``httpx``
async client per run (no thread per task; the triggerer runs many of these in one event loop). Fires
one :class:`TriggerEvent` when the application reaches a final state, or an error event when the
ResourceManager cannot be reached (or does not know the application) after ``max_failures`` polls in a
row.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_spark_predict.exceptions import JobError

#: YARN application states after which the application does not change any more
YARN_FINAL_STATES = ("FINISHED", "FAILED", "KILLED")


def app_url(rm_address: str, app_id: str) -> str:
    """``{rm}/ws/v1/cluster/apps/{app_id}``."""
    return f"{rm_address.rstrip('/')}/ws/v1/cluster/apps/{app_id}"


def final_event(app_id: str, app: dict[str, Any]) -> dict[str, Any]:
    """The event payload for an ended application: ``status`` is ``success`` only for FINISHED/SUCCEEDED.

    :param app_id: the YARN application id
    :param app: the ``app`` object of the RM answer
    """
    state, final = str(app.get("state")), str(app.get("finalStatus"))
    ok = state == "FINISHED" and final == "SUCCEEDED"
    return {"status": "success" if ok else "failed", "application_id": app_id, "state": state,
            "final_status": final, "diagnostics": app.get("diagnostics") or "",
            "tracking_url": app.get("trackingUrl")}


async def kill_application(client: Any, rm_address: str, app_id: str) -> None:
    """Ask the ResourceManager to kill ``app_id`` (``PUT .../apps/{id}/state {"state": "KILLED"}``).

    :param client: an ``httpx.AsyncClient``
    :raises JobError: the RM refused (e.g. 401: the kill needs an authenticated user) or could not be reached
    """
    import httpx

    url = f"{app_url(rm_address, app_id)}/state"
    try:
        answer = await client.put(url, json={"state": "KILLED"}, headers={"Accept": "application/json"})
    except httpx.HTTPError as err:
        raise JobError(f"could not ask the YARN ResourceManager to kill {app_id} ({url}): {err}") from err
    if answer.status_code not in (200, 202):
        raise JobError(f"the YARN ResourceManager refused to kill {app_id}: HTTP {answer.status_code} "
                       f"{answer.text[:300]} ({url}); the application may still be running")


class YarnApplicationTrigger(BaseTrigger):
    """Wait until a YARN application ends.

    Event payloads: ``{"status": "success"|"failed", "application_id", "state", "final_status",
    "diagnostics", "tracking_url"}`` when it ended, or ``{"status": "error", "application_id",
    "message"}`` when the ResourceManager could not be asked.

    :param application_id: e.g. ``application_1700000000000_0001``
    :param rm_address: ResourceManager web address, e.g. ``http://rm:8088``
    :param poll_interval: seconds between polls
    :param max_failures: failed polls in a row (connection error, HTTP error) before the error event
    :param timeout: seconds of one HTTP request
    :param verify: TLS certificate verification (``False``, ``True`` or a CA bundle path)
    :param context: free-form values handed back unchanged in every event (e.g. the report URI)
    """

    def __init__(
        self,
        application_id: str,
        rm_address: str,
        poll_interval: float = 30.0,
        max_failures: int = 5,
        timeout: float = 30.0,
        verify: bool | str = True,
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.application_id = application_id
        self.rm_address = rm_address
        self.poll_interval = poll_interval
        self.max_failures = max_failures
        self.timeout = timeout
        self.verify = verify
        self.context = dict(context or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "application_id": self.application_id,
                "rm_address": self.rm_address,
                "poll_interval": self.poll_interval,
                "max_failures": self.max_failures,
                "timeout": self.timeout,
                "verify": self.verify,
                "context": self.context,
            },
        )

    async def on_kill(self) -> None:
        """The user killed the deferred task (mark failed/success, clear): kill the YARN application.

        A refused kill (e.g. HTTP 401) is logged as an error and raised, never ignored."""
        import httpx

        self.log.info("task killed while deferred: killing YARN application %s via %s", self.application_id,
                      self.rm_address)
        async with httpx.AsyncClient(timeout=self.timeout, verify=self.verify) as client:
            try:
                await kill_application(client, self.rm_address, self.application_id)
            except JobError as err:
                self.log.error("%s", err)
                raise
        self.log.info("YARN application %s: kill accepted", self.application_id)

    def _event(self, payload: dict[str, Any]) -> TriggerEvent:
        return TriggerEvent({**payload, "context": self.context})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import httpx

        url = app_url(self.rm_address, self.application_id)
        failures, last_state = 0, None
        async with httpx.AsyncClient(timeout=self.timeout, verify=self.verify) as client:
            while True:
                try:
                    answer = await client.get(url, headers={"Accept": "application/json"})
                    answer.raise_for_status()
                    app = answer.json()["app"]
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
                    failures += 1
                    reason = f"{type(err).__name__}: {err}"
                    self.log.warning("YARN RM %s: poll %s/%s of %s failed: %s", self.rm_address, failures,
                                     self.max_failures, self.application_id, reason)
                    if failures >= self.max_failures:
                        yield self._event({
                            "status": "error", "application_id": self.application_id,
                            "message": f"the YARN ResourceManager {self.rm_address} could not report application "
                                       f"{self.application_id} after {failures} attempts: {reason}",
                        })
                        return
                else:
                    failures = 0
                    state = str(app.get("state"))
                    if state != last_state:
                        self.log.info("YARN application %s: %s (progress %s %%)", self.application_id, state,
                                      app.get("progress"))
                        last_state = state
                    if state in YARN_FINAL_STATES:
                        yield self._event(final_event(self.application_id, app))
                        return
                await asyncio.sleep(self.poll_interval)
