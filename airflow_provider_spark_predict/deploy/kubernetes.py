"""Kubernetes masters (``k8s://``): client or cluster mode; cluster mode can be followed via the k8s API.

The driver pod gets a name derived from the run id (``spark.kubernetes.driver.pod.name``, unless the
user's conf sets one), so the record of a submission names the pod before spark-submit even prints it.

With ``track_via_api`` in cluster mode, spark-submit returns once the driver pod exists and the pod is
polled through the Kubernetes API (the provider's ``track_driver_via_k8s_api``; needs the cncf.kubernetes
provider and a namespace). ``deferrable=True`` polls it from the triggerer instead
(:class:`~airflow_provider_spark_predict.triggers.kubernetes.KubernetesDriverPodTrigger`, plain HTTP); a retry
re-attaches to a recorded driver pod that is still Pending/Running instead of submitting again.

Access to the Kubernetes API (Spark connection extras): ``namespace`` (the provider's own extra, required),
``k8s_api_server`` (default: the master URL without ``k8s://``), ``k8s_token`` or ``k8s_token_file``
(bearer token; default: the in-cluster service-account token file when it exists), ``k8s_ca_cert``
(CA bundle path; default: the in-cluster CA when it exists, else the system's CAs) and
``k8s_verify_ssl`` (``false`` to switch verification off).
"""

from __future__ import annotations

import os
import re
from typing import Any

from airflow_provider_spark_predict.deploy.base import Deployment
from airflow_provider_spark_predict.exceptions import JobError, SpecError

#: Spark conf naming the driver pod.
DRIVER_POD_CONF = "spark.kubernetes.driver.pod.name"
#: Pod phases of a driver that still runs (``Unknown``: the node lost contact, the pod may still run).
POD_ACTIVE = frozenset({"Pending", "Running", "Unknown"})
#: In-cluster service-account files (an Airflow worker/triggerer running in a pod).
SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
SA_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"


def driver_pod_name(run_id: str) -> str:
    """``spark-predict-<run id>-driver``, a valid pod name (DNS-1123: lower case, ``-``, at most 63 chars).

    :param run_id: the run id (:func:`airflow_provider_spark_predict.runs.new_run_id`)
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")
    return f"spark-predict-{slug[:42].strip('-')}-driver"


class KubernetesDeployment(Deployment):
    """A Kubernetes cluster. Kill: the provider's ``on_kill`` (deletes the driver pod); deferred: the
    trigger deletes it through the API."""

    name = "kubernetes"
    api_tracking_flag = "track_driver_via_k8s_api"

    #: The driver pod name :meth:`run_conf` gave the last run (when spark-submit's output did not name it).
    driver_pod: str | None = None

    def run_conf(self, run_id: str) -> dict[str, Any]:
        if not self.cluster_mode:
            return {}
        self.driver_pod = driver_pod_name(run_id)
        return {DRIVER_POD_CONF: self.driver_pod}

    def submitted_id(self, hook: Any) -> str | None:
        """The driver pod spark-submit named in its output, else the one :meth:`run_conf` chose."""
        return getattr(hook, "_kubernetes_driver_pod", None) or self.driver_pod

    def follow(self, hook: Any, application_id: str) -> None:
        # The provider's pod polling loop (private, like the YARN one); None: the pod vanished (killed).
        phase = hook._poll_k8s_driver_via_api()
        if phase not in (None, "Succeeded"):
            raise JobError(f"driver pod {application_id} ended in phase {phase}")

    def attach(self, application_id: str) -> tuple[Any, str, bool] | None:
        """Re-attach to a recorded driver pod: its phase from the API (``gone`` when it no longer exists)."""
        if not self.track_via_api:
            return None
        phase = self.pod_phase(application_id)
        hook = self.submit_hook()
        hook._kubernetes_driver_pod = application_id  # so the provider's on_kill deletes it
        return hook, phase, phase in POD_ACTIVE

    def application_id(self, hook: Any) -> str | None:
        return self.submitted_id(hook)

    # -- the Kubernetes API ------------------------------------------------------------------------------
    def api_access(self) -> dict[str, Any]:
        """``api_server``, ``namespace``, ``token``, ``token_file`` and ``verify`` from the connection extras.

        :raises SpecError: no ``namespace`` extra, or the API server cannot be told from the master
        """
        extra = self.target.extra
        namespace = extra.get("namespace")
        if not namespace:
            raise SpecError(f"the Spark connection {self.target.conn_id!r} needs the extra 'namespace' to follow "
                            "the driver pod through the Kubernetes API")
        server = str(extra.get("k8s_api_server") or self.master.removeprefix("k8s://"))
        if not server.startswith(("http://", "https://")):
            raise SpecError(f"cannot tell the Kubernetes API server from the master {self.master!r}: set the "
                            f"extra 'k8s_api_server' (e.g. https://k8s.example.com:6443) on {self.target.conn_id!r}")
        token_file = extra.get("k8s_token_file") or (SA_TOKEN if os.path.exists(SA_TOKEN) else None)
        verify: bool | str = str(extra.get("k8s_verify_ssl", "true")).lower() not in ("false", "0", "no")
        if verify:
            ca = extra.get("k8s_ca_cert") or (SA_CA if os.path.exists(SA_CA) else None)
            verify = str(ca) if ca else True
        return {"api_server": server, "namespace": str(namespace), "token": extra.get("k8s_token"),
                "token_file": token_file, "verify": verify}

    def check_deferrable(self) -> None:
        """:raises SpecError: client mode, no ``namespace`` extra or no API server"""
        if not self.track_via_api:
            super().check_deferrable()
        self.api_access()

    def trigger(self, application_id: str, **kwargs: Any) -> Any:
        from airflow_provider_spark_predict.triggers.kubernetes import KubernetesDriverPodTrigger

        return KubernetesDriverPodTrigger(application_id, **self.api_access(), **kwargs)

    def pod_phase(self, pod: str) -> str:
        """The driver pod's phase now (``gone`` when it no longer exists).

        :raises JobError: the API could not be asked
        """
        import httpx

        from airflow_provider_spark_predict.triggers.kubernetes import KubernetesDriverPodTrigger

        probe = KubernetesDriverPodTrigger(pod, **self.api_access())
        try:
            with httpx.Client(timeout=probe.timeout, verify=probe.verify, headers=probe.headers()) as client:
                answer = client.get(probe.url)
                if answer.status_code == 404:
                    return "gone"
                answer.raise_for_status()
                return str(answer.json()["status"]["phase"])
        except (httpx.HTTPError, ValueError, KeyError) as err:
            raise JobError(f"could not ask {probe.endpoint} about driver pod {pod}: {err}") from err
