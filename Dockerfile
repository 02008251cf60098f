# syntax=docker/dockerfile:1.7
# The cni-operator image: `cni-operator run` on Python 3.11, installed from the project's own wheel.
#
#   docker build -t cni-operator:0.1.0 .          (BuildKit: the default builder of current Docker releases)
#
# It cannot be built on the project's development machines (no Docker engine there); tests/unit/test_dockerfile.py
# keeps it honest instead: hadolint-clean, and every COPY source exists in the repository.

# Both stages use the same base, pinned by version tag. Where a registry can be reached, pin the digest too
# (python:3.11.13-slim-bookworm@sha256:...): it cannot be looked up from the project's machines.

# ---- stage 1: build the cni-operator wheel (templates, catalog and CRD inside) and fetch its dependencies' wheels.
FROM python:3.11.13-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY manifests ./manifests
COPY crds ./crds
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# ---- stage 2: the runtime. Only the wheels are installed (from the build stage, mounted, never copied in); pip,
# setuptools and wheel are removed afterwards, so the image has nothing to build or install with.
FROM python:3.11.13-slim-bookworm AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="cni-operator" \
      org.opencontainers.image.description="Installs and keeps the pod network: Canal on mks, the AWS VPC CNI on eks." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# A fixed numeric account (the chart's runAsUser) with a passwd entry, so tools that look the user up still work.
RUN groupadd --gid 65532 cni-operator \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cni-operator
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels "cni-operator==${VERSION}" \
    && python -m pip uninstall --yes pip setuptools wheel
USER 65532:65532
# For `docker run`; in Kubernetes the chart's liveness and readiness probes check the same endpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CNI_OPERATOR_HEALTH_PORT', '8080') + '/healthz', timeout=4)"]
ENTRYPOINT ["cni-operator"]
CMD ["run"]
