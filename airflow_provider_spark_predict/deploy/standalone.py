"""Spark standalone masters (``spark://``, and ``local-cluster[...]`` in tests): client mode only."""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.deploy.base import Deployment
from airflow_provider_spark_predict.exceptions import SparkPredictError


class StandaloneDeployment(Deployment):
    """A Spark standalone cluster; the driver runs on the Airflow worker (client mode).

    Conf: with no shipped environment, this interpreter for driver and executors (it must exist at the
    same path on every worker). Kill: the provider kills spark-submit, which stops the driver.
    """

    name = "standalone"

    def validate(self) -> None:
        """:raises SparkPredictError: cluster deploy mode (Spark itself refuses Python applications
        there: "Cluster deploy mode is currently not supported for python applications on standalone
        clusters"), before anything is staged or submitted"""
        if self.cluster_mode:
            raise SparkPredictError(
                f"cluster deploy mode is not possible on the standalone master {self.master}: Spark does not "
                "run Python applications in cluster mode on standalone clusters. Use deploy_mode='client' "
                "(the driver then runs on the Airflow worker) or a YARN/Kubernetes master."
            )

    def base_conf(self, environment: Any) -> dict[str, Any]:
        conf = super().base_conf(environment)
        if environment is None:
            conf.update(self.this_interpreter_conf())
        return conf
