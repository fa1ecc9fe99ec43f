"""What the local AWS knows about its resources, read from moto's backends (in-process).

Used by IAM enforcement (resource tags, KMS keys behind topics, queues and buckets, a role's
policies) and by the Lambda runtime. Every lookup answers `None` for "unknown", never guesses.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote


def _parse_arn(arn: str) -> tuple[str, str, str, str] | None:
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return None
    return parts[2], parts[3], parts[4], parts[5]


class MotoLookups:
    """`iam_requests.Lookups` over moto's backends of one account."""

    def __init__(self, account: str, partition: str = "aws") -> None:
        self.account = account
        self.partition = partition

    # ---- tags ----

    def resource_tags(self, arn: str) -> dict[str, str] | None:
        parsed = _parse_arn(arn)
        if parsed is None:
            return None
        service, region, _, resource = parsed
        try:
            if service == "ec2":
                return self._ec2_tags(region, resource)
            if service == "autoscaling":
                return self._asg_tags(region, resource)
            if service == "elasticloadbalancing":
                return self._elb_tags(region, arn)
        except (KeyError, AttributeError):
            return None
        return None

    def _ec2_tags(self, region: str, resource: str) -> dict[str, str] | None:
        from moto.ec2.models import ec2_backends

        resource_id = resource.split("/", 1)[-1]
        backend = ec2_backends[self.account][region]
        if not self._ec2_exists(backend, resource_id):
            return None
        return dict(backend.tags.get(resource_id, {}))

    @staticmethod
    def _ec2_exists(backend: Any, resource_id: str) -> bool:
        prefix = resource_id.split("-", 1)[0]
        try:
            if prefix == "i":
                return backend.get_instance(resource_id) is not None
            if prefix == "vol":
                return backend.get_volume(resource_id) is not None
            if prefix == "snap":
                return backend.get_snapshot(resource_id) is not None
            if prefix == "ami":
                return backend.describe_images(image_ids=[resource_id]) != []
            if prefix == "eni":
                return backend.get_network_interface(resource_id) is not None
        except Exception:  # moto raises its own NotFound types
            return False
        return resource_id in backend.tags

    def _asg_tags(self, region: str, resource: str) -> dict[str, str] | None:
        from moto.autoscaling.models import autoscaling_backends

        name = resource.split("autoScalingGroupName/", 1)[-1]
        group = autoscaling_backends[self.account][region].autoscaling_groups.get(name)
        if group is None:
            return None
        return {str(t["Key"]): str(t.get("Value", "")) for t in group.tags}

    def _elb_tags(self, region: str, arn: str) -> dict[str, str] | None:
        from moto.elbv2.models import elbv2_backends

        backend = elbv2_backends[self.account][region]
        known = (
            arn in backend.target_groups
            or arn in backend.load_balancers
            or any(arn in lb.listeners for lb in backend.load_balancers.values())
            or any(
                arn in listener.rules
                for lb in backend.load_balancers.values()
                for listener in lb.listeners.values()
            )
        )
        if not known:
            return None
        return dict(backend.tagging_service.get_tag_dict_for_resource(arn))

    # ---- Auto Scaling ----

    def asg_arn(self, region: str, name: str) -> str | None:
        from moto.autoscaling.models import autoscaling_backends

        group = autoscaling_backends[self.account][region].autoscaling_groups.get(name)
        return None if group is None else str(group.arn)

    def asg_of_instance(self, region: str, instance_id: str) -> str | None:
        from moto.autoscaling.models import autoscaling_backends

        for name, group in autoscaling_backends[self.account][region].autoscaling_groups.items():
            if any(state.instance.id == instance_id for state in group.instance_states):
                return str(name)
        return None

    # ---- KMS behind other services ----

    def kms_key_arn(self, region: str, key_id: str) -> str | None:
        from moto.kms.models import kms_backends

        parsed = _parse_arn(key_id) if key_id.startswith("arn:") else None
        key_region = parsed[1] if parsed else region
        if key_id.startswith("alias/aws/") or ":alias/aws/" in key_id:
            return f"arn:{self.partition}:kms:{key_region}:{self.account}:{key_id.split(':')[-1]}"
        try:
            return str(kms_backends[self.account][key_region].describe_key(key_id).arn)
        except Exception:  # unknown key or alias
            return None

    def topic_kms_key(self, topic_arn: str) -> str | None:
        from moto.sns.models import sns_backends

        parsed = _parse_arn(topic_arn)
        if parsed is None:
            return None
        try:
            key = sns_backends[self.account][parsed[1]].get_topic(topic_arn).kms_master_key_id
        except Exception:  # unknown topic
            return None
        return self.kms_key_arn(parsed[1], key) if key else None

    def queue_kms_key(self, queue_arn: str) -> str | None:
        from moto.sqs.models import sqs_backends

        parsed = _parse_arn(queue_arn)
        if parsed is None:
            return None
        try:
            queue = sqs_backends[self.account][parsed[1]].get_queue(parsed[3])
        except Exception:  # unknown queue
            return None
        key = getattr(queue, "kms_master_key_id", None)
        return self.kms_key_arn(parsed[1], key) if key else None

    def bucket_kms_key(self, bucket: str) -> str | None:
        from moto.s3.models import s3_backends

        try:
            found = s3_backends[self.account][self.partition].get_bucket(bucket)
        except Exception:  # unknown bucket
            return None
        rules = (found.encryption or {}).get("Rule") or []
        for rule in rules if isinstance(rules, list) else [rules]:
            default = rule.get("ApplyServerSideEncryptionByDefault") or {}
            if default.get("SSEAlgorithm") in {"aws:kms", "aws:kms:dsse"}:
                key = default.get("KMSMasterKeyID") or "alias/aws/s3"
                return self.kms_key_arn(found.region_name, str(key))
        return None

    def object_kms_key(self, bucket: str, key: str) -> str | None:
        from moto.s3.models import s3_backends

        try:
            backend = s3_backends[self.account][self.partition]
            found = backend.get_object(bucket, unquote(key))
            region = backend.get_bucket(bucket).region_name
        except Exception:  # unknown object
            return None
        if found is None or found.encryption != "aws:kms":
            return None
        return self.kms_key_arn(region, str(found.kms_key_id or "alias/aws/s3"))


def role_policies(
    account: str, partition: str, role_name: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The role's identity policies (inline + attached) and its permissions boundary, as
    (name, JSON document) pairs. A role that does not exist has none: everything is denied."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account][partition]
    try:
        role = backend.get_role(role_name)
    except Exception:  # no such role
        return [], []
    identity: list[tuple[str, str]] = []
    for name in backend.list_role_policies(role_name):
        _, document = backend.get_role_policy(role_name, name)
        identity.append((name, _text(document)))
    attached, _ = backend.list_attached_role_policies(role_name)
    identity.extend((policy.name, _default_version(policy)) for policy in attached)
    boundary: list[tuple[str, str]] = []
    boundary_arn = getattr(role, "permissions_boundary_arn", None)
    if boundary_arn:
        try:
            policy = backend.get_policy(boundary_arn)
            boundary.append((policy.name, _default_version(policy)))
        except Exception:  # a boundary that does not exist allows nothing
            boundary.append(("missing-boundary", json.dumps({"Statement": []})))
    return identity, boundary


def _default_version(policy: Any) -> str:
    version = next(v for v in policy.versions if v.is_default)
    return _text(version.document)


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)
