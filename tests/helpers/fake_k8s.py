"""A fake Kubernetes API (pods only) on 127.0.0.1: Kubernetes itself cannot run on these test machines.

``GET /api/v1/namespaces/{ns}/pods/{name}`` answers the pod's next scripted phase (one step per GET, then it
stays in the last one): e.g. ``Pending`` -> ``Running`` -> ``Succeeded``; ``Failed:1`` is phase Failed with a
driver container terminated with exit code 1. Unknown pods answer 404, as the real API does.
``DELETE`` of the same URL deletes the pod (later GETs: 404), or answers ``delete_status`` (401/403) without
deleting. Every request is recorded in ``requests`` with its ``Authorization`` header.
"""

from __future__ import annotations

from typing import Any

from tests.helpers.fake_http import FakeServer, JsonHandler

PODS = "/api/v1/namespaces/{ns}/pods/{name}"


def pod_body(ns: str, name: str, step: str) -> dict[str, Any]:
    """The pod object of a scripted step (``Phase`` or ``Phase:exit code``)."""
    phase, _, code = step.partition(":")
    status: dict[str, Any] = {"phase": phase}
    if code:
        status["containerStatuses"] = [{"name": "spark-kubernetes-driver", "state": {"terminated": {
            "exitCode": int(code), "reason": "Completed" if code == "0" else "Error",
            "message": f"fake driver exited with {code}"}}}]
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns}, "status": status}


class FakeKubernetesApi(FakeServer):
    """The server, in a daemon thread.

    :param delete_status: HTTP status of a pod delete (200 deletes; 401/403 refuse)
    """

    def __init__(self, delete_status: int = 200) -> None:
        self.pods: dict[tuple[str, str], list[str]] = {}
        self.delete_status = delete_status
        api = self

        class Handler(JsonHandler):
            def _pod(self) -> tuple[str, str] | None:
                parts = self.path.strip("/").split("/")
                if len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods":
                    return parts[3], parts[5]
                return None

            def _not_found(self, key: tuple[str, str] | None) -> None:
                name = key[1] if key else self.path
                self.send_json(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                                 "message": f'pods "{name}" not found'})

            def do_GET(self) -> None:  # noqa: N802
                api.record("GET", self.path, self.headers.get("Authorization"))
                key = self._pod()
                step = api.step(key) if key else None
                if key is None or step is None:
                    self._not_found(key)
                    return
                self.send_json(200, pod_body(key[0], key[1], step))

            def do_DELETE(self) -> None:  # noqa: N802
                api.record("DELETE", self.path, self.headers.get("Authorization"))
                key = self._pod()
                if api.delete_status != 200:
                    code = api.delete_status
                    self.send_json(code, {"kind": "Status", "status": "Failure", "code": code,
                                      "reason": "Forbidden" if code == 403 else "Unauthorized",
                                      "message": "fake API: delete refused"})
                    return
                with api.lock:
                    found = key is not None and api.pods.pop(key, None) is not None
                if not found:
                    self._not_found(key)
                    return
                self.send_json(200, {"kind": "Status", "status": "Success"})

        super().__init__(Handler)

    def add(self, namespace: str, name: str, phases: list[str]) -> None:
        """Create a pod that walks ``phases`` (one per GET)."""
        with self.lock:
            self.pods[(namespace, name)] = list(phases)

    def step(self, key: tuple[str, str]) -> str | None:
        with self.lock:
            steps = self.pods.get(key)
            if not steps:
                return None
            return steps.pop(0) if len(steps) > 1 else steps[0]

    def calls(self, method: str) -> list[str]:
        """Paths of the requests with ``method``."""
        with self.lock:
            return [p for m, p, _ in self.requests if m == method]
