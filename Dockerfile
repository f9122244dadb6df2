# crispml's image: the REST API (`crispml serve`), and every other crispml command with --entrypoint/command.
#
#   make image                       # podman, a Debian base when no registry answers, the wheelhouse built here
#   podman build -t crispml .        # or docker; online: the builder stage fetches the wheels from PyPI
#
# Settings come from the environment (CRISPML_*, see README). Listening on 0.0.0.0 turns API keys on, and the
# server refuses to start until an admin user exists: create one once, before the first start, e.g.
#   podman run --rm -v crispml-home:/var/lib/crispml crispml users create admin --role admin
# (compose.yaml's `crispml-init` and deploy/k8s/jobs/create-admin.yaml do the same).

# Any image with Python 3.11+ and its venv module: the default, or Debian's own packages
# (`mmdebstrap --variant=minbase --include=python3,python3-venv bookworm base.tar` + `podman import`).
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# PIP_NO_INDEX=1 for builds that reach no package index: every wheel must then be in wheelhouse/.
ARG PIP_NO_INDEX=0
ENV PIP_NO_INDEX=${PIP_NO_INDEX} PIP_FIND_LINKS=/wheels PIP_DISABLE_PIP_VERSION_CHECK=1
COPY wheelhouse/ /wheels/
COPY pyproject.toml README.md LICENSE /src/
COPY src/ /src/src/
# crispml's own wheel, then the wheels of everything it needs (already there: kept; else fetched from PyPI).
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip wheel --no-deps --wheel-dir /dist /src \
 && /opt/build/bin/pip wheel --wheel-dir /wheels /dist/crispml-*.whl
# The runtime's environment, from the wheelhouse alone. It is installed here and copied whole (same base, same
# paths) rather than installed in the runtime stage through `RUN --mount=from=builder`: podman 4.3 mounts a
# cached stage's older content there (containers/podman#16281), and a copied wheelhouse would stay in a layer.
RUN python3 -m venv /opt/crispml \
 && /opt/crispml/bin/pip install --no-cache-dir --no-index --find-links /wheels /dist/crispml-*.whl

FROM ${BASE_IMAGE} AS runtime
# Only the installed environment comes over: no wheels, no compiler, no package index, no source tree.
COPY --from=builder /opt/crispml /opt/crispml
# The user crispml (10001) is appended to /etc/passwd, since a minbase Debian has no useradd: never root at
# run time. /run/crispml-keys: where compose.yaml's crispml-init hands Prometheus its API key.
RUN echo 'crispml:x:10001:10001:crispml:/var/lib/crispml:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'crispml:x:10001:' >> /etc/group \
 && mkdir -p /var/lib/crispml /run/crispml-keys \
 && chown 10001:10001 /var/lib/crispml /run/crispml-keys
ENV PATH=/opt/crispml/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CRISPML_HOME=/var/lib/crispml
USER 10001:10001
WORKDIR /var/lib/crispml
EXPOSE 8000
# Liveness only (the process answers); readiness (/readyz: database and artifacts) is the orchestrator's.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["crispml"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
