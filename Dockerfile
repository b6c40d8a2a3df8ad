# Burndown's control plane (API, scheduler, workers): `burndown` in a venv, run as a non-root user.
#
# The build context holds this file, wheels/ (the locked runtime dependencies as wheels and their
# requirements.txt, from `uv export --no-dev --frozen --no-hashes --no-emit-project`) and dist/
# (one wheel of the project, from `uv build --wheel`). Two ways to build it:
#   offline:   `burndown sandbox build --control-plane` (or scripts/build-images): the wheels
#              are downloaded on the host, BASE_IMAGE is burndown-base:<hash> (a debootstrapped
#              Debian bookworm with python3, python3-venv, git, ca-certificates), and pip installs
#              with --no-index, so the build reaches no registry;
#   the usual: with registries reachable, from the project root:
#                mkdir -p wheels && rm -rf dist
#                uv export --no-dev --frozen --no-hashes --no-emit-project -o wheels/requirements.txt
#                uv build --wheel
#                docker build --build-arg PIP_NO_INDEX=0 -t burndown-control-plane .
#              (PIP_NO_INDEX=0 lets pip fetch the dependencies that are not in wheels/.)
# Works with the classic builder and BuildKit alike (no BuildKit-only syntax). Every instruction
# costs a container commit with the classic builder, so they are few and ordered for the cache.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# Only what is missing is installed: on the offline base nothing is, so nothing is fetched.
RUN set -eu; \
    missing=""; \
    command -v git >/dev/null 2>&1 || missing="$missing git"; \
    [ -s /etc/ssl/certs/ca-certificates.crt ] || missing="$missing ca-certificates"; \
    command -v python3 >/dev/null 2>&1 || missing="$missing python3 python3-venv"; \
    if [ -n "$missing" ]; then \
        echo "installing:$missing"; \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    useradd --uid 10001 --user-group --create-home --home-dir /home/burndown \
        --shell /usr/sbin/nologin burndown

# Metadata before the code, so that a change of code rebuilds only the last layers.
LABEL org.burndown.image="control-plane"
ENV PATH=/opt/burndown/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/burndown \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /home/burndown
EXPOSE 8000
ENTRYPOINT ["burndown"]
CMD ["api"]

# 1 = install from wheels/ only (offline); 0 = pip may also use its index.
ARG PIP_NO_INDEX=1
# The locked dependencies first, in their own layers: a change of Burndown's code alone reuses them.
COPY wheels/ /tmp/wheels/
RUN set -eu; \
    python3 -m venv /opt/burndown; \
    PIP_NO_INDEX="$PIP_NO_INDEX" /opt/burndown/bin/pip install --find-links /tmp/wheels \
        -r /tmp/wheels/requirements.txt; \
    rm -rf /tmp/wheels
COPY dist/ /tmp/dist/
RUN set -eu; \
    /opt/burndown/bin/pip install --no-index --no-deps /tmp/dist/burndown-*.whl; \
    rm -rf /tmp/dist; \
    /opt/burndown/bin/python -c "import sandbox, scheduler, worker"

# Numeric, so that "run as non-root" policies (e.g. Kubernetes runAsNonRoot) can verify it.
USER 10001:10001
