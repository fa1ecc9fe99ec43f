#!/usr/bin/env bash
# Build the Lambda artifacts of another revision (e.g. the previous release) side by side, for
# benchmarks that compare builds: support/build-at-revision.sh <rev> <dir> -> <dir>/dist/lambdas.
set -euo pipefail
rev="${1:?usage: build-at-revision.sh <rev> <dir>}"
dir="${2:?usage: build-at-revision.sh <rev> <dir>}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rm -rf "$dir"
git -C "$repo" worktree add --detach "$dir" "$rev" >/dev/null
trap 'git -C "$repo" worktree remove --force "$dir" >/dev/null 2>&1 || true' ERR
(cd "$dir" && ./pants --no-pantsd package ::) >&2
mkdir -p "$dir.dist" && cp -r "$dir/dist/lambdas" "$dir.dist/"
git -C "$repo" worktree remove --force "$dir"
echo "$dir.dist"
