#!/usr/bin/env bash
# Toolchain bootstrap for fleet-ops: the ONE set-up script, used by ./pants, the Dockerfile and CI.
#
# Why it exists: the newest Pants on PyPI is 2.17.1, whose wheel runs only on CPython 3.9, and whose
# Go backend only works with Go 1.21. Neither is on a current Debian. This script finds (or, on
# Debian/Ubuntu as root, installs from the distribution's own package archives) Python 3.9, Go 1.21
# and Python 3.11, installs pantsbuild.pants into a cached venv, builds the pex CLI Pants needs from
# PyPI (Pants would otherwise download it from GitHub), and writes an env file that ./pants sources.
#
# Usage: support/bootstrap.sh [--print-env-file]
# Env:   FLEETOPS_CACHE_DIR   cache root (default ${XDG_CACHE_HOME:-~/.cache}/fleet-ops)
#        FLEETOPS_PYTHON39    a python3.9 to use     FLEETOPS_GO121  a Go 1.21 `go` binary to use
#        FLEETOPS_PYTHON311   a python3.11 to use    FLEETOPS_NO_PYENV=1 ignore pyenv installs
#        FLEETOPS_NO_INSTALL=1 never install system packages, only report what is missing
set -euo pipefail

PANTS_VERSION="2.17.1"
PEX_VERSION="2.1.137"
GO_SERIES="1.21"
BOOTSTRAP_FORMAT="3" # bump to invalidate every cached env file

CACHE_DIR="${FLEETOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fleet-ops}"
ENV_FILE="${CACHE_DIR}/toolchain-${PANTS_VERSION}-f${BOOTSTRAP_FORMAT}.env"

export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '[bootstrap] %s\n' "$*" >&2; }
die() {
  printf 'fleet-ops bootstrap: %s\n' "$*" >&2
  exit 1
}

is_root() { [ "$(id -u)" = "0" ]; }
os_id() { (. /etc/os-release 2>/dev/null && echo "${ID:-unknown}") || echo unknown; }
os_codename() { (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || true; }
can_apt() {
  [ "${FLEETOPS_NO_INSTALL:-0}" != "1" ] && is_root && command -v apt-get >/dev/null 2>&1 &&
    case "$(os_id)" in debian | ubuntu) true ;; *) false ;; esac
}

# An empty XDG config dir hides machine-wide pip config (e.g. a `constraint =` line in
# /etc/xdg/pip/pip.conf) from every pip we and Pants run; /etc/pip.conf (TLS CA bundle) still applies.
EMPTY_XDG="${CACHE_DIR}/empty-xdg-config"

APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" = "0" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed: is the Debian package archive reachable?"
    APT_UPDATED=1
  fi
}

# Derive a deb822 source for other suites from the machine's own Debian sources, so no mirror host is
# ever written down here: every `Suites:` token <codename>[-x] becomes <target>[-x].
derive_debian_sources() { # $1 = target suite prefix (e.g. bullseye), $2 = output file, $3 = suites filter
  local target="$1" out="$2" only="${3:-}" codename src
  codename="$(os_codename)"
  [ -n "$codename" ] || die "cannot tell this Debian's codename from /etc/os-release"
  src=/etc/apt/sources.list.d/debian.sources
  if [ -f "$src" ]; then
    sed -E "/^Suites:/ s/\b${codename}\b/${target}/g" "$src" >"$out.tmp"
    if [ -n "$only" ]; then
      # Keep only the suites we were asked for (e.g. just bookworm-backports).
      sed -i -E "/^Suites:/ s/.*/Suites: ${only}/" "$out.tmp"
      awk -v RS= -v ORS='\n\n' '!/debian-security/' "$out.tmp" >"$out.tmp2" && mv "$out.tmp2" "$out.tmp"
    fi
    mv "$out.tmp" "$out"
  elif [ -f /etc/apt/sources.list ]; then
    out="${out%.sources}.list"
    grep -E "^deb .* ${codename}([ -])" /etc/apt/sources.list | sed -E "s/ ${codename}([ -])/ ${target}\1/" >"$out.tmp"
    if [ -n "$only" ]; then grep -v security "$out.tmp" | sed -E "s/ ${target}[^ ]* / ${only} /" | sort -u >"$out"; else mv "$out.tmp" "$out"; fi
    rm -f "$out.tmp"
  else
    die "no apt sources found to derive ${target} from"
  fi
}

# ---------------------------------------------------------------------------------------------- #
# Python 3.9 (runs Pants)
# ---------------------------------------------------------------------------------------------- #
py_ok() { # $1 = interpreter, $2 = X.Y
  [ -x "$1" ] || command -v "$1" >/dev/null 2>&1 || return 1
  "$1" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$2' else 1)" >/dev/null 2>&1
}
realpy() { "$1" -c 'import sys; print(sys.executable)'; }

find_python() { # $1 = X.Y, $2 = override var value
  local v="$1" override="$2" c
  if [ -n "$override" ]; then
    realpy "$override"
    return 0
  fi
  for c in "python$v" /usr/bin/python$v /usr/local/bin/python$v; do
    if py_ok "$c" "$v"; then realpy "$c"; return 0; fi
  done
  if [ "${FLEETOPS_NO_PYENV:-0}" != "1" ]; then
    for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v"*/bin/python"$v"; do
      if py_ok "$c" "$v"; then realpy "$c"; return 0; fi
    done
  fi
  return 1
}

install_python39_debian() {
  local id codename list pin
  id="$(os_id)"
  codename="$(os_codename)"
  if [ "$id" = "debian" ] && [ "$codename" != "bullseye" ]; then
    list=/etc/apt/sources.list.d/fleetops-bullseye.sources
    log "adding Debian bullseye sources (derived from this machine's) for python3.9"
    derive_debian_sources bullseye "$list"
    pin=/etc/apt/preferences.d/fleetops-bullseye
    # Only packages nothing newer provides (python3.9 and its libraries) come from bullseye.
    printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 100\n\nPackage: *\nPin: release n=bullseye-security\nPin-Priority: 100\n' >"$pin"
    APT_UPDATED=0
  fi
  apt_update
  log "apt-get install python3.9"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3.9 >&2 ||
    die "apt-get install python3.9 failed. Install Python 3.9 yourself (pyenv install 3.9, or the deadsnakes PPA on Ubuntu) and set FLEETOPS_PYTHON39=/path/to/python3.9"
}

ensure_distutils() { # Pants runs pip under its own interpreter; pip on 3.9 imports distutils.
  local py="$1" tmp stdlib
  "$py" -c "import distutils.util, distutils.sysconfig" >/dev/null 2>&1 && return 0
  can_apt || die "$py has no 'distutils' (pip inside Pants needs it). Install it (Debian/Ubuntu: python3.9-distutils or python3-distutils for 3.9) or use another Python 3.9 via FLEETOPS_PYTHON39"
  stdlib="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')"
  apt_update
  tmp="$(mktemp -d)"
  log "adding distutils to $stdlib (from python3-distutils/bullseye; installing the package would conflict)"
  (cd "$tmp" && apt-get download -qq python3-distutils/bullseye >&2 && dpkg -x python3-distutils_*.deb x) ||
    die "could not fetch python3-distutils from bullseye for $py"
  cp -r "$tmp/x/usr/lib/python3.9/distutils" "$stdlib/"
  rm -rf "$tmp"
  "$py" -c "import distutils.util" || die "distutils still missing in $py"
}

# ---------------------------------------------------------------------------------------------- #
# Go 1.21 (Pants 2.17's Go backend passes flags newer Go toolchains removed)
# ---------------------------------------------------------------------------------------------- #
go_ok() { [ -x "$1" ] && "$1" version 2>/dev/null | grep -qE "go${GO_SERIES//./\\.}(\.[0-9]+)? "; }
find_go() {
  local c
  if [ -n "${FLEETOPS_GO121:-}" ]; then
    echo "$FLEETOPS_GO121"
    return 0
  fi
  for c in /usr/lib/go-${GO_SERIES}/bin/go "$(command -v go 2>/dev/null || true)" "$HOME"/sdk/go${GO_SERIES}*/bin/go /usr/local/go/bin/go; do
    if [ -n "$c" ] && go_ok "$c"; then echo "$c"; return 0; fi
  done
  return 1
}
install_go_debian() {
  local id codename list
  id="$(os_id)"
  codename="$(os_codename)"
  if [ "$id" = "debian" ] && [ "$codename" = "bookworm" ]; then
    list=/etc/apt/sources.list.d/fleetops-backports.sources
    log "adding Debian ${codename}-backports (derived from this machine's sources) for golang-${GO_SERIES}-go"
    derive_debian_sources "$codename" "$list" "${codename}-backports"
    APT_UPDATED=0
  fi
  apt_update
  log "apt-get install golang-${GO_SERIES}-go"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "golang-${GO_SERIES}-go" >&2 ||
    die "apt-get install golang-${GO_SERIES}-go failed. Install Go ${GO_SERIES} yourself (e.g. 'go install golang.org/dl/go1.21.13@latest && go1.21.13 download') and set FLEETOPS_GO121=\$HOME/sdk/go1.21.13/bin/go"
}

# ---------------------------------------------------------------------------------------------- #
# Pants venv + pex CLI
# ---------------------------------------------------------------------------------------------- #
host_pip() { # a pip we can drive to install a foreign-version (3.9) wheel set with --target
  local c
  for c in python3 python3.11 /usr/bin/python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -m pip --version >/dev/null 2>&1; then echo "$c"; return 0; fi
  done
  if can_apt; then
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip >&2 || die "apt-get install python3-pip failed"
    echo /usr/bin/python3
    return 0
  fi
  die "no pip found for the system python3: install it (Debian/Ubuntu: apt-get install python3-pip)"
}

install_pants() { # $1 = python3.9, $2 = venv dir
  local py="$1" venv="$2" pip_py arch site
  rm -rf "$venv.tmp"
  "$py" -m venv --without-pip "$venv.tmp" || die "'$py -m venv' failed (Debian: apt-get install python3.9-venv)"
  pip_py="$(host_pip)"
  arch="$(uname -m)"
  site="$venv.tmp/lib/python3.9/site-packages"
  log "installing pantsbuild.pants==${PANTS_VERSION} into $venv"
  XDG_CONFIG_DIRS="$EMPTY_XDG" "$pip_py" -m pip install -q --disable-pip-version-check --no-warn-conflicts \
    --ignore-requires-python --target "$site" --python-version 3.9 --implementation cp --abi cp39 \
    --only-binary=:all: --platform "manylinux2014_${arch}" --platform any "pantsbuild.pants==${PANTS_VERSION}" >&2 ||
    die "could not install pantsbuild.pants ${PANTS_VERSION} from the package index (is PyPI reachable? pip config: 'pip config list')"
  "$venv.tmp/bin/python" -c "import pants" || die "pants installed but does not import"
  rm -rf "$venv"
  mv "$venv.tmp" "$venv"
  # venv scripts hard-code their path; we only ever call `python -m pants`, which does not care.
}

build_pex_cli() { # $1 = pants venv python, $2 = output
  local py="$1" out="$2"
  log "building the pex CLI ${PEX_VERSION} from PyPI (Pants would fetch it from GitHub)"
  XDG_CONFIG_DIRS="$EMPTY_XDG" PEX_ROOT="$CACHE_DIR/pex_root" "$py" -m pex "pex==${PEX_VERSION}" -c pex -o "$out.tmp" >&2 ||
    die "could not build the pex ${PEX_VERSION} CLI from PyPI"
  mv "$out.tmp" "$out"
}

# ---------------------------------------------------------------------------------------------- #
main() {
  if [ -f "$ENV_FILE" ]; then
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    if [ -x "${FLEETOPS_PANTS_PYTHON:-/nonexistent}" ] && [ -f "${FLEETOPS_PEX_PATH:-/nonexistent}" ] &&
      [ -x "${FLEETOPS_GO_BIN:-/nonexistent}" ] && [ -x "${FLEETOPS_PY311:-/nonexistent}" ]; then
      [ "${1:-}" = "--print-env-file" ] && echo "$ENV_FILE"
      return 0
    fi
    log "cached toolchain incomplete, rebuilding"
  fi
  mkdir -p "$CACHE_DIR" "$EMPTY_XDG"

  local py39 py311 go venv pex sha size
  # Explicit overrides must be right: a wrong one is an error, never silently replaced.
  if [ -n "${FLEETOPS_PYTHON39:-}" ] && ! py_ok "$FLEETOPS_PYTHON39" 3.9; then
    die "FLEETOPS_PYTHON39 points to '$FLEETOPS_PYTHON39', which is not a working Python 3.9"
  fi
  if [ -n "${FLEETOPS_PYTHON311:-}" ] && ! py_ok "$FLEETOPS_PYTHON311" 3.11; then
    die "FLEETOPS_PYTHON311 points to '$FLEETOPS_PYTHON311', which is not a working Python 3.11"
  fi
  if [ -n "${FLEETOPS_GO121:-}" ] && ! go_ok "$FLEETOPS_GO121"; then
    die "FLEETOPS_GO121 points to '$FLEETOPS_GO121', which is not a Go ${GO_SERIES}.x 'go' binary"
  fi
  if ! py39="$(find_python 3.9 "${FLEETOPS_PYTHON39:-}")"; then
    if can_apt; then install_python39_debian; py39="$(find_python 3.9 "")" || die "python3.9 installed but not found"; else
      die "Python 3.9 is required to run Pants ${PANTS_VERSION} and was not found. Install it (pyenv install 3.9; Debian/Ubuntu as root: re-run this as root and it installs it from Debian's packages; macOS: brew install python@3.9) or set FLEETOPS_PYTHON39=/path/to/python3.9"
    fi
  fi
  ensure_distutils "$py39"

  if ! py311="$(find_python 3.11 "${FLEETOPS_PYTHON311:-}")"; then
    if can_apt; then
      apt_update
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv >&2 || die "apt-get install python3.11 failed"
      py311="$(find_python 3.11 "")" || die "python3.11 installed but not found"
    else
      die "Python 3.11 (the Lambda runtime's version, used to run tests) was not found. Install it (pyenv install 3.11; Debian 12: apt-get install python3.11) or set FLEETOPS_PYTHON311=/path/to/python3.11"
    fi
  fi

  if ! go="$(find_go)"; then
    if can_apt; then install_go_debian; go="$(find_go)" || die "golang-${GO_SERIES}-go installed but /usr/lib/go-${GO_SERIES}/bin/go not usable"; else
      die "Go ${GO_SERIES} is required (Pants ${PANTS_VERSION}'s Go backend fails with newer Go). Install it (Debian bookworm: golang-1.21-go from bookworm-backports; elsewhere: 'go install golang.org/dl/go1.21.13@latest && go1.21.13 download') and set FLEETOPS_GO121=/path/to/go"
    fi
  fi

  venv="$CACHE_DIR/pants-${PANTS_VERSION}-py39"
  if ! [ -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import pants" >/dev/null 2>&1; then
    install_pants "$py39" "$venv"
  fi
  pex="$CACHE_DIR/pex-${PEX_VERSION}.pex"
  [ -f "$pex" ] || build_pex_cli "$venv/bin/python" "$pex"
  sha="$(sha256sum "$pex" | cut -d' ' -f1)"
  size="$(wc -c <"$pex" | tr -d ' ')"

  cat >"$ENV_FILE.tmp" <<EOF
# Written by support/bootstrap.sh; delete to re-bootstrap.
FLEETOPS_PANTS_PYTHON='$venv/bin/python'
FLEETOPS_PEX_PATH='$pex'
FLEETOPS_GO_BIN='$go'
FLEETOPS_PY311='$py311'
export XDG_CONFIG_DIRS='$EMPTY_XDG'
export PANTS_PEX_CLI_VERSION='v${PEX_VERSION}'
export PANTS_PEX_CLI_URL_TEMPLATE='file://$pex'
export PANTS_PEX_CLI_KNOWN_VERSIONS="['v${PEX_VERSION}|linux_x86_64|$sha|$size','v${PEX_VERSION}|linux_arm64|$sha|$size','v${PEX_VERSION}|macos_x86_64|$sha|$size','v${PEX_VERSION}|macos_arm64|$sha|$size']"
export PANTS_GOLANG_GO_SEARCH_PATHS="['$(dirname "$go")']"
export PANTS_PYTHON_BOOTSTRAP_SEARCH_PATH="['$(dirname "$py311")']"
EOF
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  log "toolchain ready: pants ${PANTS_VERSION} ($venv), $("$go" version), $("$py311" --version 2>&1)"
  [ "${1:-}" = "--print-env-file" ] && echo "$ENV_FILE"
  return 0
}

main "$@"
