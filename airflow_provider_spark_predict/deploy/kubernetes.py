"""Kubernetes masters (``k8s://``): client or cluster mode; cluster mode can be followed via the k8s API.

With ``track_via_api`` in cluster mode, spark-submit returns once the driver pod exists and the pod is
polled through the Kubernetes API (the provider's ``track_driver_via_k8s_api``; needs the
cncf.kubernetes provider and a namespace). There is no re-attach: a retry submits again.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.deploy.base import Deployment
from airflow_provider_spark_predict.exceptions import JobError


class KubernetesDeployment(Deployment):
    """A Kubernetes cluster. Kill: the provider's ``on_kill`` (deletes the driver pod)."""

    name = "kubernetes"
    api_tracking_flag = "track_driver_via_k8s_api"

    def submitted_id(self, hook: Any) -> str | None:
        return getattr(hook, "_kubernetes_driver_pod", None)

    def follow(self, hook: Any, application_id: str) -> None:
        # The provider's pod polling loop (private, like the YARN one); None: the pod vanished (killed).
        phase = hook._poll_k8s_driver_via_api()
        if phase not in (None, "Succeeded"):
            raise JobError(f"driver pod {application_id} ended in phase {phase}")
