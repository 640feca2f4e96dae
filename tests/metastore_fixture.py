"""Stop every embedded Hive metastore service the test session started (pytest plugin).

Each data folder (``SPARK_PREDICT_HOME``) gets its own metastore service on first use, started by
whichever process needs it (a spark-submit's hook, ``generate_demo_data.py``, a query helper). Those
services outlive the process that started them, so the session records them through
``SPARK_PREDICT_METASTORE_REGISTRY`` (set here at import time, before any subprocess starts) and stops
them all at the end. Enable with ``pytest_plugins = ["tests.metastore_fixture"]`` in ``tests/conftest.py``
or by importing :func:`stop_session_metastores` into a test module.
"""

from __future__ import annotations

import os
import tempfile

import pytest

from airflow_provider_spark_predict import metastore

if not os.environ.get(metastore.REGISTRY_ENV):
    _fd, _registry = tempfile.mkstemp(prefix="spark-predict-metastores-", suffix=".txt")
    os.close(_fd)
    os.environ[metastore.REGISTRY_ENV] = _registry


@pytest.fixture(scope="session", autouse=True)
def stop_session_metastores():
    """At the end of the session, stop every metastore service recorded in the registry."""
    yield
    metastore.stop_registered(os.environ[metastore.REGISTRY_ENV])
