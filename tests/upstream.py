"""A small real HTTP server for tests: records every request and answers as told."""

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: str | bytes = "{}"
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.server.owner
        owner.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
        reply = owner.reply_for(self.path)
        payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, *args):  # keep test output quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "RecordingUpstream"


class RecordingUpstream:
    def __init__(self):
        self.requests: list[Recorded] = []
        self.reply = Reply()
        self.routes: dict[str, Reply] = {}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def reply_with(self, status=200, body="{}", *, content_type="application/json", headers=None):
        self.reply = Reply(status, body, content_type, headers or {})

    def route(
        self, prefix, status=200, body="{}", *, content_type="application/json", headers=None
    ):
        """Answer requests whose path starts with `prefix` this way (others get `reply`)."""
        self.routes[prefix] = Reply(status, body, content_type, headers or {})

    def reply_for(self, path: str) -> Reply:
        for prefix, reply in self.routes.items():
            if path.startswith(prefix):
                return reply
        return self.reply

    def close(self):
        self._server.shutdown()
        self._server.server_close()
