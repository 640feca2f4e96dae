"""Deferrable wait for a Spark driver pod on Kubernetes: async polling of the Kubernetes API.

``GET {api}/api/v1/namespaces/{ns}/pods/{pod}`` every ``poll_interval`` seconds with ``httpx`` (no
Kubernetes client library); the loop, status lines and error event are
:class:`~airflow_provider_spark_predict.triggers.base.ClusterApplicationTrigger`'s. The pod's phase
walks ``Pending`` -> ``Running`` -> ``Succeeded``/``Failed``; a pod that is gone (HTTP 404: deleted,
evicted and collected) ends the wait too, and the run report then decides.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.triggers.base import ClusterApplicationTrigger

#: Pod phases after which the driver does not run any more.
POD_FINAL_PHASES = ("Succeeded", "Failed")


def pod_url(api_server: str, namespace: str, pod: str) -> str:
    """``{api}/api/v1/namespaces/{namespace}/pods/{pod}``."""
    return f"{api_server.rstrip('/')}/api/v1/namespaces/{namespace}/pods/{pod}"


def driver_exit(pod: dict[str, Any]) -> tuple[str, str]:
    """``(final status, diagnostics)`` of an ended driver pod: the terminated container's exit code and
    reason, and the pod's/container's messages.

    :param pod: the pod object of the API answer
    """
    status = pod.get("status") or {}
    notes = [str(status[k]) for k in ("reason", "message") if status.get(k)]
    final = ""
    for container in status.get("containerStatuses") or []:
        ended = (container.get("state") or {}).get("terminated")
        if ended:
            final = f"exit code {ended.get('exitCode')} ({ended.get('reason') or 'no reason'})"
            if ended.get("message"):
                notes.append(str(ended["message"]))
            break
    return final or str(status.get("phase")), "; ".join(notes)


def final_event(pod_name: str, pod: dict[str, Any]) -> dict[str, Any]:
    """The event payload of an ended driver pod: ``status`` is ``success`` only for phase ``Succeeded``.

    :param pod_name: the driver pod
    :param pod: the pod object of the API answer
    """
    phase = str((pod.get("status") or {}).get("phase"))
    final, diagnostics = driver_exit(pod)
    return {"status": "success" if phase == "Succeeded" else "failed", "application_id": pod_name,
            "state": phase, "final_status": final, "diagnostics": diagnostics, "tracking_url": None}


class KubernetesDriverPodTrigger(ClusterApplicationTrigger):
    """Wait until a Spark driver pod ends (cluster mode on a ``k8s://`` master).

    :param application_id: the driver pod's name
    :param api_server: the Kubernetes API server, e.g. ``https://k8s.example.com:6443``
    :param namespace: the pod's namespace
    :param token: a bearer token, or ``None``
    :param token_file: a file holding the bearer token, read at each poll session and kill (e.g. a
        projected service-account token that rotates); used when ``token`` is ``None``
    :param kwargs: :class:`ClusterApplicationTrigger` arguments (poll_interval, max_failures, timeout,
        verify (a CA bundle path), context, status_uri, storage_options)
    """

    kind = "driver pod"

    def __init__(self, application_id: str, api_server: str, namespace: str, token: str | None = None,
                 token_file: str | None = None, **kwargs: Any) -> None:
        super().__init__(application_id, **kwargs)
        self.api_server = api_server
        self.namespace = namespace
        self.token = token
        self.token_file = token_file

    def cluster_kwargs(self) -> dict[str, Any]:
        return {"api_server": self.api_server, "namespace": self.namespace, "token": self.token,
                "token_file": self.token_file}

    @property
    def endpoint(self) -> str:
        return f"the Kubernetes API {self.api_server} (namespace {self.namespace})"

    @property
    def url(self) -> str:
        return pod_url(self.api_server, self.namespace, self.application_id)

    def headers(self) -> dict[str, str]:
        token = self.token
        if token is None and self.token_file:
            with open(self.token_file, encoding="utf-8") as fh:
                token = fh.read().strip()
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return {**super().headers(), **auth}

    async def fetch(self, client: Any) -> tuple[str, dict[str, Any] | None, str]:
        answer = await client.get(self.url)
        if answer.status_code == 404:
            return "gone", {"status": "gone", "application_id": self.application_id, "state": "gone",
                            "final_status": "gone",
                            "diagnostics": f"driver pod {self.application_id} no longer exists in namespace "
                                           f"{self.namespace} (deleted, or evicted and collected)",
                            "tracking_url": None}, ""
        answer.raise_for_status()
        pod = answer.json()
        phase = str(pod["status"]["phase"])
        return phase, final_event(self.application_id, pod) if phase in POD_FINAL_PHASES else None, ""

    async def kill(self, client: Any) -> None:
        """Delete the driver pod (Spark then removes its executors); a pod already gone is no error.

        :raises JobError: the API refused (401/403: the token may not delete pods) or could not be reached
        """
        import httpx

        try:
            answer = await client.delete(self.url)
        except httpx.HTTPError as err:
            raise JobError(f"could not ask {self.endpoint} to delete driver pod {self.application_id} "
                           f"({self.url}): {err}") from err
        if answer.status_code == 404:
            self.log.info("driver pod %s is already gone", self.application_id)
            return
        if answer.status_code not in (200, 202):
            raise JobError(f"{self.endpoint} refused to delete driver pod {self.application_id}: HTTP "
                           f"{answer.status_code} {answer.text[:300]} ({self.url}); the driver may still be running")
