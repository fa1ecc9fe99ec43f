"""IAM enforcement in the local AWS, for requests signed with a role's temporary credentials.

Scope, and why: only requests whose access key is a session issued by `sts:AssumeRole` of an IAM
role are authorized; everything else (Terraform applying the stack, tests seeding a fleet, an
operator's CLI) passes, as it would for an administrator. Every function the local Lambda
runtime runs, and every Step Functions task, uses such a session of its own execution role, so
the roles Terraform created are exactly what is enforced.

What is enforced (see `iam_requests` for how each request becomes checks):
- the action names AWS uses, on the resources the request names (`*` for APIs without
  resource-level permissions), against the role's inline and attached policies and its
  permissions boundary; explicit Deny wins;
- conditions on keys the local AWS knows: principal, Region, resource tags of EC2 / Auto
  Scaling / ELB resources (`aws:ResourceTag/...`), request tags, `kms:ViaService` of implied KMS
  checks; an Allow whose condition uses a key the local AWS cannot know is honoured and the key
  is recorded (`unevaluated_keys` in the audit);
- the session token and the SigV4 signature of each request.

Not enforced: resource-based policies (bucket, topic, queue and key policies; Lambda permissions
are checked by the event sources in `events`), session policies, SCPs, VPC endpoint policies.

Every decision is kept in an audit trail (`AuditTrail`): which role asked for which action on
which resource, the outcome and the statements that decided it. The deployed-run tests read it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError, _RESTError

from fleetops.local_aws import iam_requests
from fleetops.local_aws.iam_policy import Decision, Policy, Request, evaluate
from fleetops.local_aws.iam_requests import Call, Check
from fleetops.local_aws.moto_lookups import MotoLookups, role_policies


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    time: float
    role: str
    session: str
    action: str
    resource: str | None
    decision: str
    allowed_by: tuple[str, ...]
    denied_by: tuple[str, ...]
    unevaluated_keys: tuple[str, ...]
    operation: str
    region: str
    via: str
    """`api` for the role's own requests; `lambda`, `states`, ... for calls a service makes with
    the role (log delivery, dead-letter queue, ...)."""
    implied_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class AuditTrail:
    """Thread-safe, append-only record of every authorization decision."""

    def __init__(self, limit: int = 200_000) -> None:
        self._records: list[AuditRecord] = []
        self._lock = threading.Lock()
        self._seq = 0
        self._limit = limit

    def add(self, **fields: Any) -> AuditRecord:
        with self._lock:
            self._seq += 1
            record = AuditRecord(seq=self._seq, time=time.time(), **fields)
            self._records.append(record)
            if len(self._records) > self._limit:
                del self._records[: len(self._records) - self._limit]
            return record

    def since(self, seq: int = 0) -> list[AuditRecord]:
        with self._lock:
            return [r for r in self._records if r.seq > seq]

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq


@dataclass(frozen=True)
class Session:
    account: str
    partition: str
    role_arn: str
    role_name: str
    session_name: str
    access_key_id: str
    secret_access_key: str
    session_token: str

    @property
    def principal_arn(self) -> str:
        return f"arn:{self.partition}:sts::{self.account}:assumed-role/{self.role_name}/{self.session_name}"


class AccessDenied(Exception):
    def __init__(self, message: str, action: str) -> None:
        super().__init__(message)
        self.action = action


class Enforcer:
    """Authorizes role sessions' requests; installed into moto by `install()`."""

    def __init__(self, audit: AuditTrail | None = None) -> None:
        self.audit = audit or AuditTrail()
        self._policy_cache: dict[str, Policy] = {}
        self._lock = threading.Lock()

    # ---- sessions ----

    def session_for(self, account: str, partition: str, access_key_id: str) -> Session | None:
        from moto.sts.models import sts_backends

        for assumed in reversed(sts_backends[account][partition].assumed_roles):
            if assumed.access_key_id == access_key_id:
                role_name = assumed.role_arn.split("/")[-1]
                return Session(
                    account=account,
                    partition=partition,
                    role_arn=assumed.role_arn,
                    role_name=role_name,
                    session_name=assumed.session_name,
                    access_key_id=assumed.access_key_id,
                    secret_access_key=assumed.secret_access_key,
                    session_token=assumed.session_token,
                )
        return None

    # ---- decisions ----

    def _parsed(self, name: str, document: str) -> Policy:
        key = hashlib.sha256(f"{name}\0{document}".encode()).hexdigest()
        with self._lock:
            if key not in self._policy_cache:
                self._policy_cache[key] = Policy.parse(name, document)
            return self._policy_cache[key]

    def decide(
        self,
        session: Session,
        checks: list[Check],
        operation: str,
        region: str,
        via: str = "api",
    ) -> None:
        """Raise AccessDenied (AWS's message) unless the role allows every check."""
        identity, boundary = role_policies(session.account, session.partition, session.role_name)
        policies = [self._parsed(n, d) for n, d in identity]
        boundary_policies = [self._parsed(n, d) for n, d in boundary]
        for check in checks:
            if check.action in iam_requests.ALWAYS_ALLOWED:
                continue
            request = Request(check.action, check.resource, check.context)
            result = evaluate(policies, request)
            decision = result.decision
            if decision is Decision.ALLOW and boundary_policies:
                bounded = evaluate(boundary_policies, request)
                if bounded.decision is not Decision.ALLOW:
                    decision = bounded.decision
            self.audit.add(
                role=session.role_name,
                session=session.session_name,
                action=check.action,
                resource=check.resource,
                decision=decision.value,
                allowed_by=result.allowed_by,
                denied_by=result.denied_by,
                unevaluated_keys=result.unevaluated_keys,
                operation=operation,
                region=region,
                via=via,
                implied_by=check.implied_by,
            )
            if decision is not Decision.ALLOW:
                raise AccessDenied(_denied_message(session, check, decision), check.action)

    # ---- the hook ----

    def authorize_moto_request(self, response: Any, iam_request_cls: type, resource: str) -> None:
        headers = response.headers
        token = headers.get("X-Amz-Security-Token")
        authorization = headers.get("Authorization") or ""
        if not token or "Credential=" not in authorization:
            return
        scope = authorization.partition("Credential=")[2].partition(",")[0].split("/")
        if len(scope) < 4:
            return
        access_key_id, region, signing_name = scope[0], scope[2], scope[3]
        from moto.utilities.utils import get_partition

        account = response.current_account
        partition = get_partition(region)
        session = self.session_for(account, partition, access_key_id)
        if session is None:
            return  # not a role session: administrator traffic
        if token != session.session_token:
            raise _error_for(
                response,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
                403,
            )
        self._check_signature(response, iam_request_cls)
        lookups = MotoLookups(account, partition)
        is_s3 = iam_request_cls.__name__ == "S3IAMRequest"
        operation = str(response.data.get("Action") if is_s3 else response._get_action())
        call = Call(
            signing_name=signing_name,
            operation=operation,
            params=None if is_s3 else _parsed_params(response),
            region=region,
            account=account,
            principal_arn=session.principal_arn,
            partition=partition,
        )
        checks = (
            iam_requests.s3_checks(call, resource, lookups)
            if is_s3
            else iam_requests.checks_for(call, lookups)
        )
        try:
            self.decide(session, checks, operation, region)
        except AccessDenied as denied:
            raise _access_denied_for(response, str(denied), is_s3) from None

    def _check_signature(self, response: Any, iam_request_cls: type) -> None:
        from urllib.parse import urlparse

        parsed_url = urlparse(response.uri)
        path = response.raw_path + (f"?{parsed_url.query}" if parsed_url.query else "")
        request = iam_request_cls(
            account_id=response.current_account,
            method=response.method,
            path=path,
            data=response.data,
            body=response.raw_body,
            headers=response.headers,
            action=(
                response._get_action()
                if iam_request_cls.__name__ != "S3IAMRequest"
                else response.data.get("Action")
            ),
        )
        try:
            request.check_signature()
        except _RESTError as exc:  # moto renders it as XML whatever the service's protocol
            raise _error_for(response, exc.error_type, exc.message, int(exc.code)) from None


def install(enforcer: Enforcer) -> Callable[[], None]:
    """Route moto's authorization hook through `enforcer`; returns the undo function."""
    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def _authenticate_and_authorize_action(
        self: Any, iam_request_cls: type, resource: str = "*"
    ) -> None:
        enforcer.authorize_moto_request(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = (  # type: ignore[method-assign]
        _authenticate_and_authorize_action
    )

    def undo() -> None:
        ActionAuthenticatorMixin._authenticate_and_authorize_action = original  # type: ignore[method-assign]

    return undo


def _denied_message(session: Session, check: Check, decision: Decision) -> str:
    resource = check.resource or "*"
    why = (
        "with an explicit deny in an identity-based policy"
        if decision is Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {check.action} action"
    )
    if check.implied_by:
        why += f" (needed by {check.implied_by})"
    return (
        f"User: {session.principal_arn} is not authorized to perform: {check.action} "
        f"on resource: {resource} {why}"
    )


def _parsed_params(response: Any) -> Mapping[str, Any] | None:
    """The request's parameters in the boto3 input shape, via moto's own protocol parsers."""
    try:
        response.parse_parameters(response.normalized_request)
    except Exception:  # a protocol moto cannot parse: the resource stays unknown
        return None
    params = response.params
    return params.original_dict() if hasattr(params, "original_dict") else dict(params)


def _protocol(response: Any) -> str:
    from moto.core.model import ServiceModel  # noqa: F401  (moto's model wrapper)
    from moto.core.request import determine_request_protocol
    from moto.core.responses import get_service_model

    try:
        model = get_service_model(response.boto3_service_name)
        return determine_request_protocol(model, response.headers.get("Content-Type"))
    except Exception:
        return "json"


class _Ec2Error(_RESTError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        from xmltodict import unparse  # pants: no-infer-dep (a dependency of moto)

        self.description = unparse(
            {
                "Response": {
                    "Errors": {"Error": {"Code": code, "Message": message}},
                    "RequestID": "00000000-0000-0000-0000-000000000000",
                }
            },
            full_document=True,
        )


def _error_for(response: Any, code: str, message: str, status: int) -> Exception:
    protocol = _protocol(response)
    error: _RESTError
    if protocol in {"json", "rest-json", "smithy-rpc-v2-cbor"}:
        error = JsonRESTError(code if code != "AccessDenied" else "AccessDeniedException", message)
    elif protocol == "ec2":
        error = _Ec2Error("UnauthorizedOperation" if code == "AccessDenied" else code, message)
    else:
        error = _RESTError(code, message)
    error.code = status
    return error


def _access_denied_for(response: Any, message: str, is_s3: bool) -> Exception:
    if is_s3:
        from moto.s3.exceptions import S3ClientError

        error = S3ClientError("AccessDenied", message)
        error.http_status_code = 403  # type: ignore[attr-defined]
        return error
    return _error_for(response, "AccessDenied", message, 403)
