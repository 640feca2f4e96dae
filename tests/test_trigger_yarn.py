"""YarnApplicationTrigger against a fake YARN ResourceManager HTTP server on 127.0.0.1.

YARN itself cannot run on these machines: the ResourceManager REST API is played by
``tests/helpers/fake_rm.py`` (same URLs and JSON shape as YARN's ``/ws/v1/cluster/apps/{id}``).
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.triggers.yarn import YarnApplicationTrigger
from tests.helpers.fake_rm import FakeResourceManager


def first_event(trigger: YarnApplicationTrigger) -> dict:
    async def go() -> dict:
        gen = trigger.run()
        event = await asyncio.wait_for(gen.__anext__(), timeout=60)
        await gen.aclose()
        return event.payload

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("final", "status"),
    [("FINISHED:SUCCEEDED", "success"), ("FINISHED:FAILED", "failed"), ("FAILED:FAILED", "failed"),
     ("KILLED:KILLED", "failed")],
)
def test_trigger_fires_once_the_application_ends(final, status):
    app = "application_1700000000000_0001"
    with FakeResourceManager() as rm:
        rm.add(app, ["ACCEPTED", "RUNNING", "RUNNING", final])
        trigger = YarnApplicationTrigger(app, rm.address, poll_interval=0.05, context={"report_uri": "file:///r.json"})
        event = first_event(trigger)
        polls = [p for m, p, _ in rm.requests if m == "GET"]
    state, final_status = final.split(":")
    assert event["status"] == status
    assert event["application_id"] == app
    assert (event["state"], event["final_status"]) == (state, final_status)
    assert event["context"] == {"report_uri": "file:///r.json"}
    assert polls == [f"/ws/v1/cluster/apps/{app}"] * 4  # walked every state, stopped at the final one


def test_error_event_when_the_rm_cannot_be_reached():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    trigger = YarnApplicationTrigger("application_1_0002", f"http://127.0.0.1:{port}", poll_interval=0.01,
                                     max_failures=3, timeout=2)
    event = first_event(trigger)
    assert event["status"] == "error"
    assert "after 3 attempts" in event["message"] and f"127.0.0.1:{port}" in event["message"]


def test_error_event_when_the_rm_does_not_know_the_application():
    with FakeResourceManager() as rm:
        trigger = YarnApplicationTrigger("application_1_0404", rm.address, poll_interval=0.01, max_failures=2)
        event = first_event(trigger)
    assert event["status"] == "error" and "404" in event["message"]


def test_serialize_round_trip():
    trigger = YarnApplicationTrigger("application_1_0003", "http://rm:8088", poll_interval=7, max_failures=4,
                                     timeout=9, verify="/etc/ca.pem", context={"run_id": "r1"})
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_spark_predict.triggers.yarn.YarnApplicationTrigger"
    module, _, name = path.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    again = cls(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert kwargs == {"application_id": "application_1_0003", "rm_address": "http://rm:8088", "poll_interval": 7,
                      "max_failures": 4, "timeout": 9, "verify": "/etc/ca.pem", "context": {"run_id": "r1"}}


def test_on_kill_sends_the_kill_to_the_rm():
    app = "application_1_0005"
    with FakeResourceManager() as rm:
        rm.add(app, ["RUNNING"])
        asyncio.run(YarnApplicationTrigger(app, rm.address).on_kill())
        assert rm.kills() == [app]
        assert rm.step(app) == ("KILLED", "KILLED")


def test_on_kill_reports_a_refused_kill():
    app = "application_1_0006"
    with FakeResourceManager(kill_status=401) as rm:
        rm.add(app, ["RUNNING"])
        with pytest.raises(JobError, match=r"refused to kill application_1_0006: HTTP 401 .*Unauthorized"):
            asyncio.run(YarnApplicationTrigger(app, rm.address).on_kill())
        assert rm.kills() == [app]  # the kill was sent, and its refusal surfaced
