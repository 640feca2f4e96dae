"""A fake YARN ResourceManager REST API on 127.0.0.1 (YARN itself cannot run on these test machines).

Each application walks the states it was given, one step per ``GET /ws/v1/cluster/apps/{id}``
(e.g. ACCEPTED -> RUNNING -> FINISHED) and then stays in the last one. ``PUT /ws/v1/cluster/apps/{id}/state``
with ``{"state": "KILLED"}`` kills it, or answers 401 when ``kill_status=401`` was set. A step that is a
number (``"503"``) answers that HTTP error instead (an RM that is down for a while). ``on_get(app_id)``, if
given, is called before each GET is answered. Every request is recorded in ``requests``. Run with ``python tests/helpers/fake_rm.py APP_ID=ACCEPTED,RUNNING,FINISHED:SUCCEEDED``
to serve from another process (the port is printed as ``PORT <n>``).
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from tests.helpers.fake_http import FakeServer, JsonHandler

APPS = "/ws/v1/cluster/apps/"


class FakeResourceManager(FakeServer):
    """The server, in a daemon thread.

    :param kill_status: HTTP status of a kill request (200 kills; 401 refuses)
    :param on_get: called with the application id before each GET is answered
    """

    def __init__(self, kill_status: int = 200, on_get: Any = None) -> None:
        self.apps: dict[str, list[tuple[str, str]]] = {}
        self.kill_status = kill_status
        self.on_get = on_get
        rm = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802
                rm.record("GET", self.path, None)
                app_id = self.path[len(APPS):] if self.path.startswith(APPS) else ""
                if rm.on_get is not None:
                    rm.on_get(app_id)
                state = rm.step(app_id)
                if state is not None and state[0].isdigit():
                    self.send_json(int(state[0]), {"RemoteException": {"message": f"fake RM: HTTP {state[0]}"}})
                    return
                if state is None:
                    self.send_json(404, {"RemoteException": {"message": f"application {app_id} not found"}})
                    return
                self.send_json(200, {"app": {"id": app_id, "state": state[0], "finalStatus": state[1],
                                         "progress": 100.0 if state[1] != "UNDEFINED" else 50.0,
                                         "diagnostics": f"fake RM: {state[0]}/{state[1]}",
                                         "trackingUrl": f"http://fake-rm/proxy/{app_id}/"}})

            def do_PUT(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                rm.record("PUT", self.path, body)
                if not (self.path.startswith(APPS) and self.path.endswith("/state")):
                    self.send_json(404, {})
                    return
                app_id = self.path[len(APPS):-len("/state")]
                if rm.kill_status != 200:
                    self.send_json(rm.kill_status, {"RemoteException": {"message": "Unauthorized: kill refused"}})
                    return
                with rm.lock:
                    if app_id not in rm.apps:
                        self.send_json(404, {})
                        return
                    rm.apps[app_id] = [("KILLED", "KILLED")]
                self.send_json(200, {"state": "KILLED"})

        super().__init__(Handler)

    def add(self, app_id: str, states: list[str]) -> None:
        """Script an application: ``["ACCEPTED", "RUNNING", "FINISHED:SUCCEEDED"]`` (finalStatus after ``:``,
        ``UNDEFINED`` when absent)."""
        steps = [(s.split(":")[0], s.split(":")[1] if ":" in s else "UNDEFINED") for s in states]
        with self.lock:
            self.apps[app_id] = steps

    def step(self, app_id: str) -> tuple[str, str] | None:
        with self.lock:
            steps = self.apps.get(app_id)
            if not steps:
                return None
            return steps.pop(0) if len(steps) > 1 else steps[0]

    def kills(self) -> list[str]:
        """Application ids a kill (PUT state KILLED) was requested for."""
        with self.lock:
            return [p[len(APPS):-len("/state")] for m, p, b in self.requests
                    if m == "PUT" and (b or {}).get("state") == "KILLED"]


if __name__ == "__main__":
    with FakeResourceManager() as fake:
        for arg in sys.argv[1:]:
            app, _, states = arg.partition("=")
            fake.add(app, states.split(","))
        print(f"PORT {fake.port}", flush=True)
        threading.Event().wait()
