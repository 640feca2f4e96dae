"""Deferrable wait for a YARN application: async polling of the ResourceManager REST API.

``GET {rm}/ws/v1/cluster/apps/{app_id}`` every ``poll_interval`` seconds (the loop, the status lines and
the error event are :class:`~airflow_provider_spark_predict.triggers.base.ClusterApplicationTrigger`'s).
Fires one event when the application reaches a final state, or an error event when the ResourceManager
cannot be reached (or does not know the application) after ``max_failures`` polls in a row.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.triggers.base import ClusterApplicationTrigger

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


class YarnApplicationTrigger(ClusterApplicationTrigger):
    """Wait until a YARN application ends.

    Event payloads: ``{"status": "success"|"failed", "application_id", "state", "final_status",
    "diagnostics", "tracking_url"}`` when it ended, or ``{"status": "error", "application_id",
    "message"}`` when the ResourceManager could not be asked.

    :param application_id: e.g. ``application_1700000000000_0001``
    :param rm_address: ResourceManager web address, e.g. ``http://rm:8088``
    :param kwargs: :class:`ClusterApplicationTrigger` arguments (poll_interval, max_failures, timeout, verify,
        context, status_uri, storage_options)
    """

    kind = "YARN application"

    def __init__(self, application_id: str, rm_address: str, **kwargs: Any) -> None:
        super().__init__(application_id, **kwargs)
        self.rm_address = rm_address

    def cluster_kwargs(self) -> dict[str, Any]:
        return {"rm_address": self.rm_address}

    @property
    def endpoint(self) -> str:
        return f"the YARN ResourceManager {self.rm_address}"

    async def fetch(self, client: Any) -> tuple[str, dict[str, Any] | None, str]:
        answer = await client.get(app_url(self.rm_address, self.application_id))
        answer.raise_for_status()
        app = answer.json()["app"]
        state = str(app.get("state"))
        ended = final_event(self.application_id, app) if state in YARN_FINAL_STATES else None
        return state, ended, f" (progress {app.get('progress')} %)"

    async def kill(self, client: Any) -> None:
        await kill_application(client, self.rm_address, self.application_id)
