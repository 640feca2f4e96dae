"""What the fake cluster APIs share (``fake_rm.py``, ``fake_k8s.py``): a JSON HTTP server on 127.0.0.1 in a
daemon thread that records every request."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """Quiet request handler with a JSON answer helper."""

    def log_message(self, *args: Any) -> None:
        pass

    def send_json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeServer:
    """Serve ``handler`` on a free port of 127.0.0.1 (``address``); ``requests`` holds
    ``(method, path, detail)`` of every request; use as a context manager."""

    def __init__(self, handler: type[JsonHandler]) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.address = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def record(self, method: str, path: str, detail: Any) -> None:
        with self.lock:
            self.requests.append((method, path, detail))

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
