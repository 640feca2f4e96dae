"""YARN masters: client or cluster mode; cluster mode can be followed through the ResourceManager.

With ``track_via_api`` in cluster mode, spark-submit returns once YARN accepted the application; the
application id is recorded and the ResourceManager REST API is polled (the provider's
``yarn_track_via_rm_api``; the connection extra needs ``yarn_resourcemanager_webapp_address``). A retry
re-attaches to a recorded application that is still active instead of submitting it again.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.deploy.base import Deployment
from airflow_provider_spark_predict.exceptions import SpecError

#: Connection extra with the ResourceManager web address.
RM_EXTRA = "yarn_resourcemanager_webapp_address"

#: YARN application states of a running application (ResourceManager REST API).
YARN_ACTIVE = frozenset({"NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING"})


class YarnDeployment(Deployment):
    """A YARN cluster. Kill: the provider's ``on_kill`` (``yarn application -kill``, or the RM REST
    API when tracked through it)."""

    name = "yarn"
    api_tracking_flag = "yarn_track_via_rm_api"

    def submitted_id(self, hook: Any) -> str | None:
        return self.application_id(hook)

    def follow(self, hook: Any, application_id: str) -> None:
        # The provider's RM polling loop (private: the SparkSubmitOperator drives it, the hook has no
        # public method); raises when the application fails.
        hook._start_yarn_application_status_tracking(application_id)

    def attach(self, application_id: str) -> tuple[Any, str, bool] | None:
        if not self.track_via_api:
            return None
        hook = self.submit_hook()
        status = str(hook.query_yarn_application_status(application_id))
        hook._yarn_application_id = application_id  # so on_kill kills it through the RM REST API
        return hook, status, status.upper() in YARN_ACTIVE

    def application_id(self, hook: Any) -> str | None:
        return getattr(hook, "_yarn_application_id", None)

    def rm_address(self, required: bool = False) -> str | None:
        """The ResourceManager web address (connection extra ``yarn_resourcemanager_webapp_address``).

        :param required: raise instead of returning ``None`` when the extra is missing
        :raises SpecError: ``required`` and the extra is missing
        """
        rm = self.target.extra.get(RM_EXTRA)
        if not rm and required:
            raise SpecError(f"the Spark connection {self.target.conn_id!r} needs the extra {RM_EXTRA!r} "
                            "(e.g. http://rm:8088) to follow the application through the ResourceManager")
        return str(rm) if rm else None

    def check_deferrable(self) -> None:
        """:raises SpecError: client mode, or no ``yarn_resourcemanager_webapp_address`` extra"""
        if not self.track_via_api:
            super().check_deferrable()
        self.rm_address(required=True)

    def trigger(self, application_id: str, **kwargs: Any) -> Any:
        from airflow_provider_spark_predict.triggers.yarn import YarnApplicationTrigger

        return YarnApplicationTrigger(application_id, str(self.rm_address(required=True)), **kwargs)

    def tracking_url(self, application_id: str | None) -> str | None:
        """The ResourceManager's application page when the connection extra has
        ``yarn_resourcemanager_webapp_address``; else ``None``."""
        rm = self.rm_address()
        if not application_id or not rm:
            return None
        return f"{str(rm).rstrip('/')}/cluster/app/{application_id}"
