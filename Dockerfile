FROM python:3.11-slim
WORKDIR /app
COPY . .
# A regular (non-editable) install: migrations ship inside the package, so `platform-jobs migrate` works.
RUN pip install --no-cache-dir . && rm -rf /app/build \
    && useradd --system --uid 10001 --home-dir /app platform \
    && mkdir -p /app/var/artifacts && chown -R platform /app/var
# Never run as root.
USER platform
# Health is checked per process in compose.yaml (web: /healthz; worker: celery inspect ping).
