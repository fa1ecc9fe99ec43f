# Containerized build environment for fleet-ops: the same bytes on any host.
#   docker build --platform linux/amd64 -t fleet-ops-build .
#   docker run --rm --platform linux/amd64 -v "$PWD":/src -w /src fleet-ops-build ./pants package ::
# The toolchain (Python 3.9 + Pants 2.17.1, Python 3.11, Go 1.21, the pex CLI) is installed by
# support/bootstrap.sh, the very script ./pants runs, and cached in the image.
FROM debian:bookworm-20250520-slim

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# git: Pants and the artifact manifest read the commit; python3-pip: installs Pants for Python 3.9.
# Versions are not pinned one by one: the dated base image fixes the release, and security updates
# of these tools do not change the artifacts (the bytes come from the lockfiles and Go 1.21).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        git \
        python3 \
        python3-pip \
        python3-venv \
        unzip \
    && rm -rf /var/lib/apt/lists/*

ENV FLEETOPS_CACHE_DIR=/opt/fleet-ops/cache \
    PIP_ROOT_USER_ACTION=ignore \
    LANG=C.UTF-8

COPY support/bootstrap.sh /opt/fleet-ops/support/bootstrap.sh
RUN /opt/fleet-ops/support/bootstrap.sh \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
CMD ["./pants", "package", "::"]
