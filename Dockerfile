# syntax=docker/dockerfile:1
# One image for every process: web (the default command), worker, beat and migrate (commands in docker-compose.yml).
# Python 3.11, as the test suite runs on.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements/production.txt /tmp/requirements.txt
# Only the pinned production requirements; every one of them ships a wheel, so no compiler is needed.
RUN /opt/venv/bin/pip install --no-deps -r /tmp/requirements.txt

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    DJANGO_ENV_FILE=/dev/null \
    PORT=8000
RUN groupadd --system --gid 10001 garage \
    && useradd --system --uid 10001 --gid garage --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin garage
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Owned by root and read-only to the app user: a compromised process cannot rewrite the code it runs.
COPY . .
# Production settings refuse to load without their variables; these placeholders exist for this one command, which
# connects to nothing. The emulator is on so that its stylesheet is collected too, for the demo's emulator service.
RUN DJANGO_SECRET_KEY=collectstatic-only-placeholder \
    DJANGO_ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://placeholder@localhost/placeholder \
    CELERY_BROKER_URL=redis://localhost:6379/0 \
    EMAIL_URL=consolemail:// \
    TOKEN_ENCRYPTION_KEYS=Y29sbGVjdHN0YXRpYy1vbmx5LXBsYWNlaG9sZGVyLWs= \
    SMARTCAR_CLIENT_ID=placeholder \
    SMARTCAR_CLIENT_SECRET=placeholder \
    SMARTCAR_REDIRECT_URI=https://localhost/exchange \
    SMARTCAR_EMULATOR=true \
    SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION=true \
    python manage.py collectstatic --noinput

USER garage
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["python", "deploy/healthcheck.py"]
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "config.wsgi"]
