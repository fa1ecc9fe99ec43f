"""The local AWS server: moto, its patches, IAM enforcement, Lambda, events and Step Functions.

`python -m fleetops.local_aws.server --port 4566 --state-dir .local-aws` (or `local-aws up`)
starts it on loopback. AWS SDKs and Terraform reach it through `AWS_ENDPOINT_URL`; the account is
moto's 123456789012. Besides the AWS APIs it serves a small control API under `/_localaws/`:

| method and path | what |
|---|---|
| GET `/_localaws/health` | liveness, endpoint, versions |
| GET `/_localaws/iam/audit?since=N` | IAM decisions for role sessions (see `iam_enforcement`) |
| GET `/_localaws/lambda/invocations?since=N` | every invocation and attempt (see `lambda_service`) |
| POST `/_localaws/lambda/wait` `{"timeout": s}` | wait until no asynchronous invocation is pending |
| POST `/_localaws/lambda/reset` | close warm environments (next invocations are cold) |
| POST `/_localaws/events/fire` `{"region", "rule"}` | fire a schedule rule once |
| GET `/_localaws/alarms/actions?since=N` | alarm actions run after SetAlarmState |
| GET `/_localaws/xray/segments` | trace segments the functions sent (count, names) |
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

ACCOUNT_ID = "123456789012"


class XRayDaemon:
    """A UDP socket where functions' X-Ray SDKs send segments (AWS_XRAY_DAEMON_ADDRESS)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.count = 0
        self.names: dict[str, int] = {}
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._sock.getsockname()[1]}"

    def _loop(self) -> None:
        while True:
            data, _ = self._sock.recvfrom(65536)
            _, _, body = data.partition(b"\n")
            try:
                segment = json.loads(body)
            except ValueError:
                continue
            self.count += 1
            name = str(segment.get("name", "?"))
            self.names[name] = self.names.get(name, 0) + 1


class LocalAws:
    """Everything the server adds to moto, composed and installed in one place."""

    def __init__(self, state_dir: Path, port: int, retry_delays: tuple[float, ...]) -> None:
        from fleetops.local_aws import iam_enforcement, patches, sfn_tasks
        from fleetops.local_aws.events import EventDelivery
        from fleetops.local_aws.iam_enforcement import Enforcer
        from fleetops.local_aws.lambda_service import LambdaService

        self.state_dir = state_dir
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self.xray = XRayDaemon()
        self.enforcer = Enforcer()
        self.lambdas = LambdaService(
            state_dir, self.endpoint_url, self.enforcer, self.xray.address, retry_delays
        )
        self.events = EventDelivery(self.lambdas)
        self.alarm_actions: list[dict[str, Any]] = []
        patches.install_for_good()
        iam_enforcement.install(self.enforcer)
        sfn_tasks.install(self.lambdas, self.endpoint_url)
        self._install_lambda_invoke()
        self._install_alarm_actions()

    def _install_lambda_invoke(self) -> None:
        """moto's Lambda invoke (Docker, or with `use_docker: False` a canned echo) becomes
        a run of the deployed function (`lambda_service`)."""
        from moto.awslambda.models import LambdaBackend
        from moto.awslambda_simple.models import LambdaSimpleBackend

        lambdas = self.lambdas

        def invoke(
            backend: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: dict[str, Any],
        ) -> bytes:
            return lambdas.invoke(
                backend.account_id,
                backend.region_name,
                function_name,
                qualifier,
                body,
                headers,
                response_headers,
            )

        LambdaBackend.invoke = invoke  # type: ignore[method-assign,assignment]
        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]

    def _install_alarm_actions(self) -> None:
        from moto.cloudwatch.models import CloudWatchBackend

        from fleetops.local_aws.events import previous_state

        original = CloudWatchBackend.set_alarm_state
        local = self

        def set_alarm_state(
            backend: Any, alarm_name: str, reason: str, reason_data: str, state_value: str
        ) -> None:
            alarm = backend.alarms.get(alarm_name)
            before = previous_state(alarm) if alarm is not None else None
            original(backend, alarm_name, reason, reason_data, state_value)
            if alarm is not None and before is not None:
                for result in local.events.alarm_transition(alarm, before):
                    local.alarm_actions.append({"seq": len(local.alarm_actions) + 1, **result})

        CloudWatchBackend.set_alarm_state = set_alarm_state  # type: ignore[method-assign,assignment]

    # ---- control API ----

    def control(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Any:
        since = int((query.get("since") or ["0"])[0])
        request = json.loads(body) if body else {}
        if path == "/_localaws/health":
            import moto

            return {
                "status": "ok",
                "endpoint": self.endpoint_url,
                "moto": moto.__version__,
                "account": ACCOUNT_ID,
            }
        if path == "/_localaws/iam/audit":
            return [r.to_json() for r in self.enforcer.audit.since(since)]
        if path == "/_localaws/lambda/invocations":
            return [e.to_json() for e in self.lambdas.journal.since(since)]
        if path == "/_localaws/lambda/wait" and method == "POST":
            return {"idle": self.lambdas.wait_idle(float(request.get("timeout", 60)))}
        if path == "/_localaws/lambda/reset" and method == "POST":
            return {"closed": self.lambdas.reset_environments()}
        if path == "/_localaws/events/fire" and method == "POST":
            return self.events.fire_rule(
                str(request.get("account", ACCOUNT_ID)),
                str(request["region"]),
                str(request["rule"]),
            )
        if path == "/_localaws/alarms/actions":
            return [a for a in self.alarm_actions if a["seq"] > since]
        if path == "/_localaws/xray/segments":
            return {"count": self.xray.count, "names": self.xray.names}
        raise KeyError(path)

    def wsgi(self, moto_app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if not path.startswith("/_localaws/"):
                return moto_app(environ, start_response)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            try:
                result = self.control(
                    environ["REQUEST_METHOD"], path, parse_qs(environ.get("QUERY_STRING", "")), body
                )
                status, payload = "200 OK", json.dumps(result, default=str).encode()
            except KeyError as exc:
                status, payload = "404 Not Found", json.dumps({"error": f"unknown: {exc}"}).encode()
            except Exception as exc:  # a control request's error goes back to its caller
                status, payload = "400 Bad Request", json.dumps({"error": repr(exc)}).encode()
            start_response(
                status,
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]

        return app


def serve(
    host: str, port: int, state_dir: Path, ready_file: Path | None, retry_delays: tuple[float, ...]
) -> None:
    # moto reads these when its modules load: set them first.
    if port == 0:
        with socket.socket() as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
    os.environ["MOTO_PORT"] = str(port)
    from moto.core.config import default_user_config
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server  # pants: no-infer-dep (a dependency of moto)

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    default_user_config.setdefault("lambda", {})["use_docker"] = False
    state_dir.mkdir(parents=True, exist_ok=True)
    local = LocalAws(state_dir, port, retry_delays)
    app = local.wsgi(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    info = {"endpoint": local.endpoint_url, "pid": os.getpid(), "state_dir": str(state_dir)}
    if ready_file:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info))
        tmp.rename(ready_file)
    print(json.dumps(info), flush=True)

    def stop(*_: Any) -> None:
        local.lambdas.stop()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        local.lambdas.stop()
        if ready_file and ready_file.exists():
            ready_file.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local-aws", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566, help="0: any free port")
    parser.add_argument("--state-dir", type=Path, default=Path(".local-aws"))
    parser.add_argument(
        "--ready-file", type=Path, help="written (JSON: endpoint, pid) once serving"
    )
    parser.add_argument(
        "--async-retry-delays",
        default="1,2",
        help="seconds between retries of a failed asynchronous invocation (AWS: ~60,120)",
    )
    args = parser.parse_args(argv)
    delays = tuple(float(x) for x in args.async_retry_delays.split(",") if x)
    serve(args.host, args.port, args.state_dir.resolve(), args.ready_file, delays or (1.0,))
    return 0


if __name__ == "__main__":
    sys.exit(main())
