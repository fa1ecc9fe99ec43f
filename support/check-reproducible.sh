#!/usr/bin/env bash
# Proves byte-reproducibility: two clean builds of the committed tree in two different directories
# (no Pants cache shared, no pantsd) must give identical sha256 for every artifact in dist/lambdas.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$(mktemp -d /tmp/fleetops-repro.XXXXXX)}"
rm -rf "$work/a" "$work/b"
mkdir -p "$work"
for side in a b; do
  git clone -q --no-hardlinks "$repo" "$work/$side"
  echo "+ (cd $work/$side && ./pants --no-pantsd --no-local-cache package ::)"
  (cd "$work/$side" && ./pants --no-pantsd --no-local-cache --no-remote-cache-read package ::) >"$work/$side.log" 2>&1 ||
    { tail -40 "$work/$side.log"; echo "build $side failed" >&2; exit 1; }
done
(cd "$work/a/dist/lambdas" && sha256sum ./*.zip | sort) >"$work/a.sha256"
(cd "$work/b/dist/lambdas" && sha256sum ./*.zip | sort) >"$work/b.sha256"
cat "$work/a.sha256"
if diff -u "$work/a.sha256" "$work/b.sha256"; then
  echo "reproducible: $(wc -l <"$work/a.sha256") artifacts byte-identical across two clean builds"
else
  echo "NOT reproducible: artifacts differ between two clean builds" >&2
  exit 1
fi
