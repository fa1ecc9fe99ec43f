"""fleetctl command line: manifest, publish, promote, verify, status.

    fleetctl manifest --dist dist                       # writes dist/manifest.json
    fleetctl publish --env dev [--dist dist]            # dist/ -> dev's artifact bucket
    fleetctl promote --from dev --to staging [--release ID]
    fleetctl verify --env prod [--head-only]
    fleetctl status [--env dev --env staging ...]

Buckets: --bucket (promote: --from-bucket/--to-bucket; status: --bucket ENV=NAME) or
$FLEETOPS_ARTIFACT_BUCKET_<ENV>. Region: --region, $AWS_REGION or $AWS_DEFAULT_REGION;
$AWS_ENDPOINT_URL is honoured by boto3. Progress goes to stderr, the summary table (or, with
--json, one JSON document) to stdout. Exit status: 0 success, 1 failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError

from fleetops.fleetctl import release
from fleetops.fleetctl.errors import ConfigError, FleetctlError
from fleetops.fleetctl.manifest import (
    Manifest,
    build_manifest,
    find_build_root,
    git_head,
    git_is_dirty,
    normalize_commit,
    read_manifest,
    read_pants_version,
    require_artifacts,
    uncatalogued_zips,
    write_manifest,
)
from fleetops.fleetctl.release import ArtifactRow, Report
from fleetops.fleetctl.s3 import (
    Bucket,
    RetryPolicy,
    caller_identity,
    make_s3_client,
    make_session,
    resolve_bucket,
    resolve_region,
)

DEFAULT_ENVS = ("dev", "staging", "prod")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise argparse.ArgumentTypeError(
            f"invalid environment {value!r} (lowercase letters, digits, '-')"
        )
    return value


def _env_bucket(value: str) -> tuple[str, str]:
    env, sep, bucket = value.partition("=")
    if not sep or not bucket:
        raise argparse.ArgumentTypeError(f"expected ENV=BUCKET, got {value!r}")
    return _env_name(env), bucket


def build_parser() -> argparse.ArgumentParser:
    # --json/--quiet are accepted before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document"
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress lines on stderr",
    )
    aws = argparse.ArgumentParser(add_help=False)
    aws.add_argument("--region", help="AWS region (default: $AWS_REGION / $AWS_DEFAULT_REGION)")

    parser = argparse.ArgumentParser(
        prog="fleetctl",
        description="Build once, promote everywhere: release artifacts between environments.",
    )
    parser.add_argument(
        "--json", action="store_true", default=False, help="print one JSON document"
    )
    parser.add_argument("-q", "--quiet", action="store_true", default=False, help="no progress")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "manifest", parents=[common], help="write dist/manifest.json from dist/ and the catalog"
    )
    p.add_argument("--dist", type=Path, default=Path("dist"), help="the dist directory (dist)")
    p.add_argument("--out", type=Path, help="where to write it (default: <dist>/manifest.json)")
    p.add_argument("--git-commit", help="the commit built (default: `git rev-parse HEAD`)")
    p.add_argument("--pants-toml", type=Path, help="pants.toml to read pants_version from")
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; fail unless the existing manifest has exactly these bytes",
    )

    p = sub.add_parser(
        "publish", parents=[common, aws], help="upload dist/ as a release to an environment"
    )
    p.add_argument("--env", required=True, type=_env_name, help="target environment, e.g. dev")
    p.add_argument("--bucket", help="artifact bucket (default: $FLEETOPS_ARTIFACT_BUCKET_<ENV>)")
    p.add_argument("--dist", type=Path, default=Path("dist"), help="the dist directory (dist)")
    p.add_argument("--manifest", type=Path, help="manifest to publish (<dist>/manifest.json)")
    p.add_argument("--profile", help="AWS profile for the bucket")
    p.add_argument("--manifest-out", type=Path, help="also write the release manifest here")

    p = sub.add_parser(
        "promote", parents=[common, aws], help="copy a release, verified, to the next environment"
    )
    p.add_argument("--from", dest="from_env", required=True, type=_env_name, metavar="ENV")
    p.add_argument("--to", dest="to_env", required=True, type=_env_name, metavar="ENV")
    p.add_argument("--release", help="release id (default: the source environment's current)")
    p.add_argument(
        "--from-bucket", help="source bucket (default: $FLEETOPS_ARTIFACT_BUCKET_<FROM>)"
    )
    p.add_argument("--to-bucket", help="target bucket (default: $FLEETOPS_ARTIFACT_BUCKET_<TO>)")
    p.add_argument("--from-profile", help="AWS profile for the source bucket")
    p.add_argument("--to-profile", help="AWS profile for the target bucket")
    p.add_argument("--manifest-out", type=Path, help="also write the release manifest here")

    p = sub.add_parser(
        "verify", parents=[common, aws], help="re-check an environment's release object by object"
    )
    p.add_argument("--env", required=True, type=_env_name)
    p.add_argument("--bucket", help="artifact bucket (default: $FLEETOPS_ARTIFACT_BUCKET_<ENV>)")
    p.add_argument("--release", help="release id (default: the environment's current)")
    p.add_argument(
        "--head-only",
        action="store_true",
        help="compare stored sizes and SHA-256 checksums only, without reading the bytes back",
    )
    p.add_argument(
        "--expect-manifest",
        type=Path,
        help="also require the stored release manifest to equal this file byte for byte",
    )
    p.add_argument("--profile", help="AWS profile for the bucket")
    p.add_argument("--manifest-out", type=Path, help="also write the release manifest here")

    p = sub.add_parser("status", parents=[common, aws], help="which release each environment runs")
    p.add_argument(
        "--env",
        dest="envs",
        action="append",
        type=_env_name,
        help=f"an environment (repeatable; default: {', '.join(DEFAULT_ENVS)} with a bucket set)",
    )
    p.add_argument(
        "--bucket",
        dest="buckets",
        action="append",
        type=_env_bucket,
        default=[],
        metavar="ENV=BUCKET",
        help="an environment's bucket (repeatable)",
    )
    p.add_argument("--profile", help="AWS profile")
    return parser


class _Context:
    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err
        self._retry: RetryPolicy | None = None
        self._sessions: dict[str | None, boto3.session.Session] = {}

    def progress(self, line: str) -> None:
        if not self.args.quiet:
            print(line, file=self.err, flush=True)

    def session(self, profile: str | None) -> boto3.session.Session:
        if profile not in self._sessions:
            self._sessions[profile] = make_session(resolve_region(self.args.region), profile)
        return self._sessions[profile]

    @property
    def retry(self) -> RetryPolicy:
        if self._retry is None:
            self._retry = RetryPolicy.from_env()
        return self._retry

    def bucket(self, env: str, explicit: str | None, profile: str | None) -> Bucket:
        name = resolve_bucket(env, explicit)
        return Bucket(make_s3_client(self.session(profile)), name, env=env, retry=self.retry)


def main(argv: Sequence[str] | None = None) -> int:
    return run(argv, sys.stdout, sys.stderr)


def run(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    ctx = _Context(args, out, err)
    if args.command == "manifest":
        return _manifest(ctx)
    report = Report(command=args.command)
    try:
        handlers = {"publish": _publish, "promote": _promote, "verify": _verify, "status": _status}
        handlers[args.command](ctx, report)
    except FleetctlError as exc:
        report.ok, report.error = False, str(exc)
    except BotoCoreError as exc:  # e.g. NoCredentialsError, endpoint unreachable
        report.ok, report.error = False, f"AWS: {exc}"
    except Exception as exc:  # one clear line + traceback, never a silent 0
        traceback.print_exc(file=err)
        report.ok, report.error = False, f"unexpected {type(exc).__name__}: {exc}"
    _emit(args, report, out)
    if report.error:
        print(f"fleetctl {args.command}: error: {report.error}", file=err)
    return 0 if report.ok else 1


# --- commands ----------------------------------------------------------------------------------


def _manifest(ctx: _Context) -> int:
    args = ctx.args
    dist: Path = args.dist
    out: Path = args.out or dist / "manifest.json"
    doc: dict[str, Any] = {"command": "manifest", "ok": False, "path": str(out)}
    try:
        require_artifacts(dist)
        pants_toml = args.pants_toml or find_build_root(Path.cwd()) / "pants.toml"
        pants_version = read_pants_version(pants_toml)
        if args.git_commit:
            commit = normalize_commit(args.git_commit)
        else:
            root = pants_toml.resolve().parent
            commit = git_head(root)
            if git_is_dirty(root):
                ctx.progress(
                    f"warning: {root} has uncommitted changes; the manifest names {commit}"
                )
        for extra in uncatalogued_zips(dist):
            ctx.progress(f"warning: {dist / extra} is not in the artifact catalog (catalog.py)")
        manifest = build_manifest(dist, git_commit=commit, pants_version=pants_version)
        doc.update(release_id=manifest.release_id, manifest=manifest.to_dict())
        if args.check:
            same = out.is_file() and out.read_bytes() == manifest.to_bytes()
            doc["status"] = "identical" if same else "different"
            if not same:
                doc["error"] = f"{out} does not match dist/ (missing, stale or not deterministic)"
        else:
            doc["status"] = "written" if write_manifest(manifest, out) else "unchanged"
        doc["ok"] = "error" not in doc
    except FleetctlError as exc:
        doc["error"] = str(exc)
    if ctx.args.json:
        print(json.dumps(doc, sort_keys=True, indent=2), file=ctx.out)
    elif "manifest" in doc:
        _print_manifest_table(ctx.out, doc)
    if "error" in doc:
        print(f"fleetctl manifest: error: {doc['error']}", file=ctx.err)
    return 0 if doc["ok"] else 1


def _publish(ctx: _Context, report: Report) -> None:
    args = ctx.args
    manifest = read_manifest(args.manifest or args.dist / "manifest.json")
    bucket = ctx.bucket(args.env, args.bucket, args.profile)
    release.publish(args.dist, manifest, bucket, report=report, progress=ctx.progress)
    _write_manifest_out(args, report.manifest)


def _promote(ctx: _Context, report: Report) -> None:
    args = ctx.args
    if args.from_env == args.to_env:
        raise ConfigError("--from and --to name the same environment")
    source = ctx.bucket(args.from_env, args.from_bucket, args.from_profile)
    dest = ctx.bucket(args.to_env, args.to_bucket, args.to_profile)
    who = caller_identity(ctx.session(args.to_profile), os.environ)
    release.promote(
        source,
        dest,
        release_id=args.release,
        who=who,
        report=report,
        progress=ctx.progress,
    )
    _write_manifest_out(args, report.manifest)


def _verify(ctx: _Context, report: Report) -> None:
    args = ctx.args
    expect = read_manifest(args.expect_manifest) if args.expect_manifest else None
    bucket = ctx.bucket(args.env, args.bucket, args.profile)
    release.verify(
        bucket,
        release_id=args.release,
        deep=not args.head_only,
        expect=expect,
        report=report,
        progress=ctx.progress,
    )
    _write_manifest_out(args, report.manifest)


def _status(ctx: _Context, report: Report) -> None:
    args = ctx.args
    explicit = dict(args.buckets)
    if args.envs:
        envs = list(dict.fromkeys(args.envs))
    else:
        envs = [e for e in DEFAULT_ENVS if e in explicit or _has_bucket(e)]
        envs += [e for e in explicit if e not in envs]
        if not envs:
            raise ConfigError(
                "no environments: pass --env/--bucket ENV=BUCKET "
                "or set FLEETOPS_ARTIFACT_BUCKET_<ENV>"
            )
    buckets = [ctx.bucket(env, explicit.get(env), args.profile) for env in envs]
    release.status(buckets, report=report)


def _has_bucket(env: str) -> bool:
    try:
        resolve_bucket(env, None)
    except ConfigError:
        return False
    return True


def _write_manifest_out(args: argparse.Namespace, manifest: Manifest | None) -> None:
    if getattr(args, "manifest_out", None) and manifest is not None:
        write_manifest(manifest, args.manifest_out)


# --- output ------------------------------------------------------------------------------------


def _emit(args: argparse.Namespace, report: Report, out: TextIO) -> None:
    if args.json:
        print(json.dumps(report.to_dict(), sort_keys=True, indent=2), file=out)
    elif report.command == "status":
        _print_status(out, report)
    else:
        _print_release_report(out, report)


def _table(out: TextIO, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip(), file=out)


def _print_release_report(out: TextIO, r: Report) -> None:
    if r.command == "promote":
        target = f"{r.from_env} (s3://{r.from_bucket}) -> {r.to_env} (s3://{r.to_bucket})"
    else:
        target = f"{r.env} (s3://{r.bucket})" if r.bucket else str(r.env)
    if r.release_id:
        print(f"{r.command} release {r.release_id} (commit {r.git_commit}): {target}", file=out)
    else:
        print(f"{r.command}: {target}", file=out)
    if r.artifacts:
        _table(
            out,
            ("ARTIFACT", "STATUS", "SIZE", "SHA256", "S3 KEY"),
            [_artifact_cells(a) for a in r.artifacts],
        )
    if r.manifest_status:
        print(f"release manifest: {r.manifest_status} ({r.manifest_key})", file=out)
    if r.promotion_log_key:
        print(f"promotion log:    {r.promotion_log_key}", file=out)
    if r.pointer_status:
        was = f"; was {r.previous_release_id}" if r.previous_release_id else ""
        print(f"current release:  {r.pointer_status} ({release.POINTER_KEY}{was})", file=out)
    for problem in r.problems:
        print(f"problem: {problem}", file=out)
    counts: dict[str, int] = {}
    for a in r.artifacts:
        counts[a.status] = counts.get(a.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    verdict = "OK" if r.ok else "FAILED"
    print(
        f"{verdict}: {len(r.artifacts)} artifacts" + (f" ({summary})" if summary else ""), file=out
    )


def _artifact_cells(a: ArtifactRow) -> tuple[str, str, str, str, str]:
    return (a.name, a.status, release.human_size(a.size), a.sha256[:12], a.s3_key)


def _print_status(out: TextIO, r: Report) -> None:
    rows = []
    for e in r.environments:
        if e.error:
            rows.append((e.env, str(e.bucket), "ERROR", "", e.error))
        else:
            rows.append(
                (
                    e.env,
                    str(e.bucket),
                    e.release_id or "(none)",
                    (e.git_commit or "")[:12],
                    e.updated or "",
                )
            )
    _table(out, ("ENV", "BUCKET", "RELEASE", "COMMIT", "UPDATED"), rows)


def _print_manifest_table(out: TextIO, doc: dict[str, Any]) -> None:
    m = doc["manifest"]
    _table(
        out,
        ("ARTIFACT", "SIZE", "SHA256", "RUNTIME", "ARCH", "HANDLER"),
        [
            (
                a["name"],
                release.human_size(a["size"]),
                a["sha256"][:12],
                a["runtime"],
                a["architecture"],
                a["handler"],
            )
            for a in m["artifacts"]
        ],
    )
    print(
        f"release {m['release_id']} (commit {m['git_commit']}, pants {m['pants_version']}): "
        f"{doc['path']} {doc.get('status', '')}".rstrip(),
        file=out,
    )


if __name__ == "__main__":
    sys.exit(main())
