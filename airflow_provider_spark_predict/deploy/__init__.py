"""Deployment backends: one per kind of Spark master, chosen from the resolved connection.

================  ======================================  =============================================
master            backend                                 owns
================  ======================================  =============================================
``local[...]``    :class:`~.local.LocalDeployment`        embedded Hive conf, this interpreter, loopback
``spark://``      :class:`~.standalone.Standalone...`     client mode only; this interpreter w/o archive
``yarn``          :class:`~.yarn.YarnDeployment`          RM REST tracking, re-attach, RM tracking URL
``k8s://``        :class:`~.kubernetes.Kubernetes...`     driver pod tracking through the k8s API
================  ======================================  =============================================
"""

from __future__ import annotations

import logging

from airflow_provider_spark_predict.deploy.base import Deployment, Target, resolve_target
from airflow_provider_spark_predict.deploy.kubernetes import KubernetesDeployment
from airflow_provider_spark_predict.deploy.local import LocalDeployment
from airflow_provider_spark_predict.deploy.standalone import StandaloneDeployment
from airflow_provider_spark_predict.deploy.yarn import YarnDeployment
from airflow_provider_spark_predict.exceptions import SparkPredictError

__all__ = [
    "Deployment",
    "KubernetesDeployment",
    "LocalDeployment",
    "StandaloneDeployment",
    "Target",
    "YarnDeployment",
    "deployment_for",
    "resolve_target",
]


def backend_class(master: str) -> type[Deployment]:
    """The backend of a Spark master URL.

    :param master: ``local``, ``local[N]``, ``local-cluster[...]``, ``spark://...``, ``yarn``, ``k8s://...``
    :raises SparkPredictError: any other master
    """
    if master.startswith(("spark://", "local-cluster")):
        return StandaloneDeployment
    if master == "local" or master.startswith("local["):
        return LocalDeployment
    if master.startswith("yarn"):
        return YarnDeployment
    if master.startswith("k8s://"):
        return KubernetesDeployment
    raise SparkPredictError(f"unsupported Spark master {master!r} (expected local[...], spark://, yarn, k8s://)")


def deployment_for(target: Target, *, track_via_api: bool = False,
                   log: logging.Logger | None = None) -> Deployment:
    """The backend for ``target``; refuses impossible master/deploy-mode pairs before anything is staged.

    :param target: the resolved connection (:func:`resolve_target`)
    :param track_via_api: follow cluster-mode applications through the cluster's API
    :param log: logger
    """
    return backend_class(target.master)(target, track_via_api=track_via_api, log=log)
