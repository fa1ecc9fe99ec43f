"""Mark then sweep of fleet resources against moto EC2, across runs and regions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fleetops.cleanup import marks
from fleetops.cleanup.cleanup import CleanupDeps, Skipped, run_cleanup
from fleetops.cleanup.report import CleanupFailedError, CleanupReport
from fleetops.cleanup.request import CleanupRequest
from fleetops_tests.backup import helpers
from fleetops_tests.cleanup import builders
from fleetops_tests.cleanup.builders import Clock, RegionWorld
from fleetops_tests.support import aws_fleet
from fleetops_tests.support.counting import RequestCounter
from fleetops_tests.support.faults import before_first, closed_port_endpoint, fail_first

REGIONS = ("us-east-1", "us-west-2")


def request(regions: tuple[str, ...] = REGIONS, dry_run: bool = False) -> CleanupRequest:
    return CleanupRequest(trigger="schedule", regions=regions, dry_run=dry_run)


def cleanup(
    deps: CleanupDeps, regions: tuple[str, ...] = REGIONS, dry_run: bool = False, owner: str = "run"
) -> CleanupReport:
    outcome = run_cleanup(request(regions, dry_run), deps, owner=owner, lease_seconds=600)
    assert isinstance(outcome, CleanupReport)
    return outcome


def actions(report: CleanupReport, action: str) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in report.actions if entry["action"] == action}


@pytest.fixture
def worlds(world: None) -> dict[str, RegionWorld]:
    return {region: builders.build_region(region) for region in REGIONS}


def test_orphans_are_marked_on_the_first_run_and_deleted_after_the_grace_period(
    deps: CleanupDeps, clock: Clock, worlds: dict[str, RegionWorld], inbox: aws_fleet.SnsInbox
) -> None:
    first = cleanup(deps)

    marked = actions(first, "marked")
    expected = {rid: kind for w in worlds.values() for rid, kind in w.orphans().items()}
    assert {rid: entry["type"] for rid, entry in marked.items()} == expected
    assert actions(first, "deleted") == {}
    for w in worlds.values():
        for rid in w.orphans():
            tags = builders.tags_of(w.region, rid)
            assert tags[marks.DELETE_AFTER_TAG] == marked[rid]["delete_after"]
            assert marks.parse_time(tags[marks.DELETE_AFTER_TAG]) == pytest.approx(
                clock.now + 7 * 86400, abs=1
            )
            assert tags[marks.REASON_TAG]
        for rid in w.kept():
            assert marks.DELETE_AFTER_TAG not in builders.tags_of(w.region, rid)
    assert marked[worlds["us-east-1"].orphan_volume]["reason"] == "unattached EBS volume"

    clock.advance(3)
    second = cleanup(deps)
    assert set(actions(second, "pending")) == set(expected)
    assert actions(second, "deleted") == {}
    assert all(builders.exists(w.region, rid) for w in worlds.values() for rid in w.orphans())

    clock.advance(5)
    third = cleanup(deps)
    deleted = actions(third, "deleted")
    assert set(deleted) == set(expected)
    for w in worlds.values():
        assert not any(builders.exists(w.region, rid) for rid in w.orphans())
        assert all(builders.exists(w.region, rid) for rid in w.kept())
    assert third.regions["us-east-1"].counts["volume"]["deleted"] == 1
    assert third.totals["deleted"] == 8
    assert third.status == "ok"

    messages = inbox.receive()
    assert [m["body"]["kind"] for m in messages] == ["cleanup.report"] * 3
    last = messages[-1]["body"]
    assert last["details"]["totals"]["deleted"] == 8
    assert "deleted 8" in last["summary"]
    assert {a["id"] for a in last["details"]["actions"] if a["action"] == "deleted"} == set(
        expected
    )


def test_referenced_amis_and_their_snapshots_are_never_marked_or_deleted(
    deps: CleanupDeps, clock: Clock, worlds: dict[str, RegionWorld]
) -> None:
    w = worlds["us-east-1"]
    first = cleanup(deps, ("us-east-1",))
    skipped = actions(first, "skipped")
    assert skipped[w.lt_image]["reason"].startswith(
        f"referenced by launch template {w.template_id} (web-cleanup-lt) version 1"
    )
    assert skipped[w.instance_image]["reason"].startswith("referenced by instance i-")
    assert skipped[w.lt_image_snapshot]["reason"] == f"referenced by AMI {w.lt_image}"

    clock.advance(30)
    cleanup(deps, ("us-east-1",))
    for rid in (w.lt_image, w.instance_image, w.lt_image_snapshot):
        assert builders.exists("us-east-1", rid)
        assert marks.DELETE_AFTER_TAG not in builders.tags_of("us-east-1", rid)


def test_young_snapshots_and_amis_are_retained(
    deps: CleanupDeps, clock: Clock, world: None
) -> None:
    clock.now = builders.MOTO_NOW + 5 * 86400
    image = builders.tagged_image("us-east-1", "young")
    report = cleanup(deps, ("us-east-1",))
    assert report.regions["us-east-1"].counts["image"]["retained"] == 1
    assert image not in {a["id"] for a in report.actions}
    assert marks.DELETE_AFTER_TAG not in builders.tags_of("us-east-1", image)


def test_a_resource_that_stopped_being_an_orphan_is_unmarked_not_deleted(
    deps: CleanupDeps, clock: Clock, worlds: dict[str, RegionWorld]
) -> None:
    w = worlds["us-east-1"]
    cleanup(deps, ("us-east-1",))
    client = builders.ec2("us-east-1")
    client.attach_volume(VolumeId=w.orphan_volume, InstanceId=w.instance_id, Device="/dev/sdg")
    client.create_launch_template_version(
        LaunchTemplateId=w.template_id, LaunchTemplateData={"ImageId": w.orphan_image}
    )

    clock.advance(8)
    report = cleanup(deps, ("us-east-1",))

    unmarked = actions(report, "unmarked")
    assert unmarked[w.orphan_volume]["reason"] == "no longer an orphan: volume is in-use"
    assert unmarked[w.orphan_image]["reason"].startswith(
        f"no longer an orphan: referenced by launch template {w.template_id}"
    )
    for rid in (w.orphan_volume, w.orphan_image):
        assert builders.exists("us-east-1", rid)
        assert marks.DELETE_AFTER_TAG not in builders.tags_of("us-east-1", rid)
    assert set(actions(report, "deleted")) == {w.orphan_snapshot, w.orphan_eni}


def test_orphan_status_is_rechecked_right_before_the_delete(
    deps: CleanupDeps, clock: Clock, worlds: dict[str, RegionWorld]
) -> None:
    w = worlds["us-east-1"]
    cleanup(deps, ("us-east-1",))
    clock.advance(8)
    client = builders.ec2("us-east-1")

    calls = {"n": 0}

    def second_listing(**_: Any) -> None:
        # The sweep collects references again after the listing: attach the volume right then.
        calls["n"] += 1
        if calls["n"] == 2:
            client.attach_volume(
                VolumeId=w.orphan_volume, InstanceId=w.instance_id, Device="/dev/sdh"
            )

    deps.clients.register("before-call.ec2.DescribeLaunchTemplates", second_listing)
    report = cleanup(deps, ("us-east-1",))

    assert actions(report, "unmarked")[w.orphan_volume]["reason"] == (
        "no longer an orphan: volume is in-use"
    )
    assert builders.exists("us-east-1", w.orphan_volume)
    assert w.orphan_volume not in actions(report, "deleted")


def test_the_deletion_cap_is_respected_across_regions(
    make_deps: Callable[..., CleanupDeps],
    clock: Clock,
    world: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLEANUP_MAX_DELETIONS", "3")
    deps = make_deps()
    volumes = {region: [builders.orphan_volume(region) for _ in range(3)] for region in REGIONS}
    cleanup(deps)
    clock.advance(8)

    report = cleanup(deps)

    assert len(actions(report, "deleted")) == 3
    capped = [a for a in report.actions if a["reason"] == "deletion cap reached"]
    assert len(capped) == 3
    assert report.budget.as_dict() == {"max_deletions": 3, "used": 3, "reached": True, "refused": 3}
    remaining = [v for region, ids in volumes.items() for v in ids if builders.exists(region, v)]
    assert len(remaining) == 3

    follow_up = cleanup(deps)
    assert len(actions(follow_up, "deleted")) == 3
    assert not any(builders.exists(region, v) for region, ids in volumes.items() for v in ids)


def test_dry_run_decides_and_reports_but_changes_nothing(
    deps: CleanupDeps, clock: Clock, worlds: dict[str, RegionWorld], inbox: aws_fleet.SnsInbox
) -> None:
    w = worlds["us-east-1"]
    builders.ec2("us-east-1").create_tags(
        Resources=[w.orphan_volume, w.attached_volume],
        Tags=marks.mark_tags(clock.now - 86400, "marked earlier"),
    )
    before = {rid: builders.tags_of("us-east-1", rid) for rid in [*w.orphans(), *w.kept()]}
    counter = RequestCounter().attach(deps.clients)

    report = cleanup(deps, ("us-east-1",), dry_run=True)

    assert report.dry_run
    assert set(actions(report, "would_delete")) == {w.orphan_volume}
    assert set(actions(report, "would_mark")) == {w.orphan_snapshot, w.orphan_image, w.orphan_eni}
    assert set(actions(report, "would_unmark")) == {w.attached_volume}
    assert actions(report, "deleted") == actions(report, "marked") == {}
    assert {rid: builders.tags_of("us-east-1", rid) for rid in before} == before
    assert all(builders.exists("us-east-1", rid) for rid in before)
    mutating = {
        op: n
        for op, n in counter.by_operation().items()
        if op.split(".", 1)[1].startswith(
            ("Create", "Delete", "Deregister", "Put", "Update", "Batch")
        )
    }
    assert mutating == {}
    (message,) = inbox.receive()
    assert message["body"]["title"].startswith("[dry run]")
    assert "would delete 1" in message["body"]["summary"]


def test_throttling_is_retried(
    deps: CleanupDeps, clock: Clock, worlds: dict[str, RegionWorld]
) -> None:
    clients = deps.clients
    faults = [
        fail_first(clients, "ec2", "DescribeVolumes", times=2, code="RequestLimitExceeded"),
        fail_first(clients, "ec2", "DescribeLaunchTemplateVersions", times=1, code="Throttling"),
        fail_first(clients, "ec2", "CreateTags", times=2, code="RequestLimitExceeded"),
    ]
    cleanup(deps, ("us-east-1",))
    clock.advance(8)
    faults.append(fail_first(clients, "ec2", "DeleteVolume", times=2, code="RequestLimitExceeded"))
    faults.append(
        fail_first(clients, "ec2", "DeregisterImage", times=1, code="InternalError", status=500)
    )

    report = cleanup(deps, ("us-east-1",))

    assert all(fault.injected for fault in faults)
    assert set(actions(report, "deleted")) == set(worlds["us-east-1"].orphans())
    assert report.status == "ok"


def test_a_region_down_is_isolated_and_reported(
    make_deps: Callable[..., CleanupDeps],
    clock: Clock,
    worlds: dict[str, RegionWorld],
    inbox: aws_fleet.SnsInbox,
) -> None:
    deps = make_deps(endpoint_overrides={"us-west-2": closed_port_endpoint()})

    report = cleanup(deps)

    assert report.status == "partial"
    assert report.regions["us-west-2"].status == "failed"
    assert "Could not connect" in (report.regions["us-west-2"].error or "")
    assert set(actions(report, "marked")) == set(worlds["us-east-1"].orphans())
    for rid in worlds["us-west-2"].orphans():
        assert marks.DELETE_AFTER_TAG not in builders.tags_of("us-west-2", rid)
    (message,) = inbox.receive()
    assert message["body"]["severity"] == "warning"
    assert "failed: us-west-2" in message["body"]["summary"]


def test_every_region_down_fails_the_run_after_reporting(
    make_deps: Callable[..., CleanupDeps], world: None, inbox: aws_fleet.SnsInbox
) -> None:
    down = closed_port_endpoint()
    deps = make_deps(endpoint_overrides={"us-west-2": down, "eu-west-1": down})
    with pytest.raises(CleanupFailedError, match="every region"):
        run_cleanup(request(("us-west-2", "eu-west-1")), deps, owner="run")
    (message,) = inbox.receive()
    assert message["body"]["title"].startswith("Cleanup failed")


def test_a_concurrent_run_stops_at_the_lease(
    make_deps: Callable[..., CleanupDeps], clock: Clock, worlds: dict[str, RegionWorld]
) -> None:
    first_deps = make_deps()
    outcomes: list[Any] = []

    def second_run() -> None:
        outcomes.append(run_cleanup(request(), make_deps(), owner="second", lease_seconds=600))

    before_first(first_deps.clients, "ec2", "DescribeVolumes", second_run)
    report = cleanup(first_deps, owner="first")

    (second,) = outcomes
    assert isinstance(second, Skipped)
    assert second.as_dict()["holder"]["owner"] == "first"
    assert report.totals["marked"] == 8  # the first run did its work once
    # the lease is released: a later run goes ahead
    clock.advance(1)
    assert isinstance(run_cleanup(request(), make_deps(), owner="third"), CleanupReport)


def test_a_lapsed_lease_is_taken_over(deps: CleanupDeps, clock: Clock, world: None) -> None:
    helpers.put_items(
        [
            {
                "pk": {"S": "CLEANUP"},
                "sk": {"S": "LEASE"},
                "owner": {"S": "crashed"},
                "lease_expires_at": {"N": str(int(clock.now) - 1)},
            }
        ]
    )
    assert isinstance(run_cleanup(request(), deps, owner="me"), CleanupReport)
    held = {(i["pk"], i["sk"]): i for i in aws_fleet.scan_table()}[("CLEANUP", "LEASE")]
    assert held["owner"] == "me" and held["lease_expires_at"] == 0
