"""A real HTTP webhook receiver on 127.0.0.1 for tests: records requests, answers as scripted.

`Receiver().start()`; `receiver.url`; `receiver.script(500, 500)` makes the next two requests fail;
`receiver.delay_s` slows every answer; `receiver.requests` holds (headers, body) of every request.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self):
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.delay_s = 0.0
        self.default_status = 200
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def script(self, *statuses: int) -> None:
        """The next requests get these statuses, in order; then `default_status`."""
        with self._lock:
            self.statuses.extend(statuses)

    def _next_status(self) -> int:
        with self._lock:
            return self.statuses.pop(0) if self.statuses else self.default_status

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                status = receiver._next_status()
                with receiver._lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                if status in (301, 302, 307):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        return Handler

    def start(self) -> "Receiver":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
