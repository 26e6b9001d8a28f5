# syntax=docker/dockerfile:1
# Portal API image: gunicorn on port 3000 as a non-root user. Migrations are a separate
# command (`docker run IMAGE migrate`), never run at container start. See docker/entrypoint.sh.

# --- build: a virtualenv with the pinned runtime requirements ------------------------------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /venv && /venv/bin/pip install -r /tmp/requirements.txt

# --- static: collectstatic with the production storage (hashed names + manifest) -----------
FROM build AS static
WORKDIR /src
COPY . .
# collectstatic only needs *a* key; the real one comes from the environment at run time.
RUN PORTAL_ENV=production STATIC_ROOT=/static \
    SECRET_KEY="collectstatic-only-$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    /venv/bin/python manage.py collectstatic --noinput --verbosity 0

# --- runtime ---------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORTAL_ENV=production \
    GUNICORN_BIND=0.0.0.0:3000 \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/data/media \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin portal \
    && mkdir -p /data/media /tmp/prometheus && chown -R portal /data /tmp/prometheus
WORKDIR /app
COPY --from=build /venv /venv
COPY --chown=root:root . .
COPY --from=static /static /app/staticfiles
USER 10001
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3000/v1/health', timeout=3).status == 200 else 1)"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["serve"]
