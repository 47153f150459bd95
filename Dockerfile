# The code location's image: the locked, CPU-only environment of `uv sync --frozen --no-dev
# --extra cluster --extra plus` (dagster-k8s, dagster-celery, dagster-cloud; no test or lint tools) serving
# accident_assets.definitions over gRPC. The same image runs the code server, each run
# (K8sRunLauncher) and each step (k8s_job_executor, celery workers). docs/deploy.md says how it
# is checked. Build: docker build -t accident_assets .

FROM python:3.11-slim-bookworm AS build
# uv from the package index, pinned to the version that wrote uv.lock.
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first: this layer is rebuilt when the lock changes, not when the code does.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra cluster --extra plus --no-install-project
# Then the package itself, installed as a wheel: the image needs no build tree.
COPY accident_assets ./accident_assets
RUN uv sync --frozen --no-dev --extra cluster --extra plus --no-editable

FROM python:3.11-slim-bookworm
# The venv's python links to /usr/local/bin/python3.11: the same base image on both stages.
COPY --from=build /app/.venv /app/.venv
# Not root: the code server and the runs need no privilege. DAGSTER_HOME is where a Kubernetes
# deployment mounts the instance ConfigMap (deploy/dagster.k8s.yaml: dagster_home);
# ACCIDENT_ASSETS_HOME is where it mounts the shared state volume.
RUN useradd --create-home --uid 10001 dagster \
    && mkdir -p /opt/dagster/dagster_home /var/lib/accident_assets \
    && chown dagster:dagster /opt/dagster/dagster_home /var/lib/accident_assets
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    ACCIDENT_ASSETS_HOME=/var/lib/accident_assets
USER dagster
WORKDIR /home/dagster
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
# `code-server start` (rather than `api grpc`) runs the gRPC server in a subprocess that it can
# reload without restarting the container.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "accident_assets.definitions"]
