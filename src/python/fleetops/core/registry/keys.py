"""Key construction for the registry table, the only place key formats are spelled out.

Components that are followed by further components (fleet, region, drift kind) must not
contain `#`, so that prefix queries such as `INSTANCE#<region>#` select exactly one region.
"""

from __future__ import annotations

from dataclasses import dataclass

FLEET_PREFIX = "FLEET#"
FLEET_INDEX_PK = "FLEETS"
META_SK = "META"
LOCK_SK = "LOCK"
POLICY_SK = "POLICY"
REGION_PREFIX = "REGION#"
ASG_PREFIX = "ASG#"
INSTANCE_PREFIX = "INSTANCE#"
DRIFT_PREFIX = "DRIFT#"
ALARM_PREFIX = "ALARM#"
DECISION_PREFIX = "DECISION#"
DEFAULT_POLICY_ALARM = "*"


@dataclass(frozen=True, slots=True, order=True)
class Key:
    """Primary key of one registry item."""

    pk: str
    sk: str

    def as_dict(self) -> dict[str, str]:
        return {"pk": self.pk, "sk": self.sk}

    def as_dynamo(self) -> dict[str, dict[str, str]]:
        """The key in DynamoDB's typed wire format."""
        return {"pk": {"S": self.pk}, "sk": {"S": self.sk}}


def _component(value: str, what: str) -> str:
    if not value or "#" in value:
        raise ValueError(f"{what} must be non-empty and contain no '#': {value!r}")
    return value


def fleet_pk(fleet: str) -> str:
    return FLEET_PREFIX + _component(fleet, "fleet")


def fleet_key(fleet: str) -> Key:
    return Key(fleet_pk(fleet), META_SK)


def fleet_index_key(fleet: str) -> Key:
    """The fleet's entry in the `FLEETS` partition, which lists every known fleet in one query."""
    return Key(FLEET_INDEX_PK, FLEET_PREFIX + _component(fleet, "fleet"))


def region_status_key(fleet: str, region: str) -> Key:
    return Key(fleet_pk(fleet), REGION_PREFIX + _component(region, "region"))


def asg_prefix(region: str) -> str:
    return f"{ASG_PREFIX}{_component(region, 'region')}#"


def asg_key(fleet: str, region: str, asg: str) -> Key:
    return Key(fleet_pk(fleet), asg_prefix(region) + asg)


def instance_prefix(region: str) -> str:
    return f"{INSTANCE_PREFIX}{_component(region, 'region')}#"


def instance_key(fleet: str, region: str, instance_id: str) -> Key:
    return Key(fleet_pk(fleet), instance_prefix(region) + instance_id)


def lock_key(fleet: str) -> Key:
    return Key(fleet_pk(fleet), LOCK_SK)


def drift_key(fleet: str, kind: str, subject: str) -> Key:
    return Key(fleet_pk(fleet), f"{DRIFT_PREFIX}{_component(kind, 'drift kind')}#{subject}")


def alarm_pk(alarm: str) -> str:
    return ALARM_PREFIX + alarm


def policy_key(alarm: str = DEFAULT_POLICY_ALARM) -> Key:
    return Key(alarm_pk(alarm), POLICY_SK)


def decision_key(alarm: str, state_change_time: str) -> Key:
    return Key(alarm_pk(alarm), DECISION_PREFIX + state_change_time)


def split_sk(sk: str, prefix: str) -> tuple[str, str]:
    """`("us-east-1", "i-0abc")` from `INSTANCE#us-east-1#i-0abc` and prefix `INSTANCE#`."""
    if not sk.startswith(prefix):
        raise ValueError(f"sort key {sk!r} does not start with {prefix!r}")
    region, _, rest = sk[len(prefix) :].partition("#")
    return region, rest


def fleet_of_pk(pk: str) -> str:
    if not pk.startswith(FLEET_PREFIX):
        raise ValueError(f"partition key {pk!r} is not a fleet partition")
    return pk[len(FLEET_PREFIX) :]
