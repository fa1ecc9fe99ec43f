"""A local AWS Lambda Runtime API endpoint: how a function's own runtime gets its events.

Why: the faithful way to run a built artifact as Lambda does is to let its runtime poll the
Runtime API exactly as in AWS: awslambdaric (the runtime interface client of AWS's python3.11
runtime) for the Python zips, aws-lambda-go for the Go `bootstrap`. The protocol is small and
documented (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html); this serves the
invocations of one execution environment on loopback and records each response or error.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PREFIX = "/2018-06-01/runtime"


@dataclass
class Invocation:
    request_id: str
    event: Any
    deadline_ms: int = 9_999_999_999_999
    trace_id: str = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=0"
    client_context: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    taken: threading.Event = field(default_factory=threading.Event)
    response: Any = None
    raw_response: bytes = b""
    error: dict[str, Any] | None = None


class LocalRuntimeApi:
    """Serve invocations to one runtime process.

    `submit()` queues an invocation for the runtime's next `GET .../invocation/next`;
    `invoke()` does that and blocks until the runtime answers. `initialized` is set when the
    runtime first asks for an event (its init phase is over); `init_error` when it reports one.
    """

    def __init__(self, function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"):
        self.function_arn = function_arn
        self.init_error: dict[str, Any] | None = None
        self.init_error_event = threading.Event()
        self.initialized = threading.Event()
        self.initialized_at: float | None = None
        self._pending: queue.Queue[Invocation] = queue.Queue()
        self._by_id: dict[str, Invocation] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LocalRuntimeApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def submit(self, inv: Invocation) -> Invocation:
        self._by_id[inv.request_id] = inv
        self._pending.put(inv)
        return inv

    def invoke(self, event: Any, timeout: float = 30.0) -> Invocation:
        inv = self.submit(Invocation(request_id=str(uuid.uuid4()), event=event))
        if not inv.done.wait(timeout):
            raise TimeoutError(f"runtime did not answer invocation {inv.request_id} in {timeout}s")
        return inv

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(
                self, status: int, body: bytes = b"{}", headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                # aws-lambda-go posts results chunked (with error trailers); awslambdaric does not.
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks = []
                    while size := int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline(8)  # the CRLF closing the chunk
                    while self.rfile.readline(65536).strip():  # trailers, up to the blank line
                        pass
                    return b"".join(chunks)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_GET(self) -> None:
                if self.path != f"{_PREFIX}/invocation/next":
                    self._reply(404, b'{"errorMessage":"unknown path"}')
                    return
                if not api.initialized.is_set():
                    api.initialized_at = time.monotonic()
                    api.initialized.set()
                inv = api._pending.get()  # long poll, as the real endpoint does
                inv.taken.set()
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                    "Lambda-Runtime-Trace-Id": inv.trace_id,
                }
                if inv.client_context:
                    headers["Lambda-Runtime-Client-Context"] = inv.client_context
                self._reply(200, json.dumps(inv.event).encode(), headers)

            def do_POST(self) -> None:
                body = self._body()
                if self.path == f"{_PREFIX}/init/error":
                    api.init_error = _json_or_text(body)
                    api.init_error_event.set()
                    self._reply(202)
                    return
                parts = self.path[len(_PREFIX) :].strip("/").split("/")
                if len(parts) == 3 and parts[0] == "invocation" and parts[1] in api._by_id:
                    inv = api._by_id.pop(parts[1])
                    if parts[2] == "response":
                        inv.raw_response = body
                        inv.response = json.loads(body) if body else None
                    elif parts[2] == "error":
                        inv.error = _json_or_text(body)
                    else:
                        self._reply(404)
                        return
                    inv.done.set()
                    self._reply(202)
                    return
                self._reply(404, b'{"errorMessage":"unknown invocation"}')

        return Handler


def _json_or_text(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return {
            "errorType": "Runtime.InvalidErrorPayload",
            "errorMessage": body.decode(errors="replace"),
        }
    return parsed if isinstance(parsed, dict) else {"errorMessage": str(parsed)}
