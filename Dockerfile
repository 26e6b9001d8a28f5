# syntax=docker/dockerfile:1
# Portal API image: gunicorn on port 3000. Migrations run as their own command
# (`python manage.py migrate`), never at container start.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /venv && /venv/bin/pip install -r /tmp/requirements.txt

FROM python:3.11-slim
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORTAL_ENV=production \
    GUNICORN_BIND=0.0.0.0:3000 \
    MEDIA_ROOT=/data/media
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin portal \
    && mkdir -p /data/media && chown -R portal /data
WORKDIR /app
COPY --from=build /venv /venv
COPY . .
# collectstatic only needs *a* key; the real one comes from the environment at run time.
RUN SECRET_KEY="collectstatic-only-$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    python manage.py collectstatic --noinput --verbosity 0
USER portal
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3000/v1/health', timeout=3).status == 200 else 1)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "portal.wsgi"]
