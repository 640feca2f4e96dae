"""``local`` / ``local[N]`` masters: driver and Python workers on this machine, embedded Hive metastore."""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict import embedded
from airflow_provider_spark_predict.deploy.base import Deployment
from airflow_provider_spark_predict.exceptions import SparkPredictError

METASTORE_URIS = "spark.hadoop.hive.metastore.uris"


class LocalDeployment(Deployment):
    """Spark ``local[*]`` on this machine (the embedded default, or a ``local[N]`` connection).

    Conf: the embedded Hive metastore and warehouse, this interpreter for driver and workers; the
    spark-submit process gets a loopback-only environment. Kill: the provider kills spark-submit.
    """

    name = "local"

    def validate(self) -> None:
        if self.cluster_mode:
            raise SparkPredictError(f"cluster deploy mode makes no sense with the local master {self.master}")

    def base_conf(self, environment: Any) -> dict[str, Any]:
        return {**super().base_conf(environment), **self.this_interpreter_conf()}

    def conf(self, environment: Any, env_kind: str, user_conf: dict[str, Any]) -> dict[str, Any]:
        """The embedded Hive metastore service (started if needed) under everything else, unless the user's
        conf names a metastore of its own (``spark.hadoop.hive.metastore.uris``)."""
        conf = super().conf(environment, env_kind, user_conf)
        if METASTORE_URIS in user_conf:
            return conf
        return {**embedded.hive_conf(), **conf}

    def env_vars(self) -> dict[str, str] | None:
        return embedded.local_python_env()
