# One image for every process: web (the default command), worker, beat and migrate (commands in docker-compose.yml).
# Python at the patch version the lock was compiled and tested on, so that every build runs the same interpreter.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# No pip or setuptools in the virtualenv that runs: the base image's pip installs into it from outside.
RUN python -m venv --without-pip /opt/venv
COPY requirements/production.txt /tmp/requirements.txt
# Only the pinned production requirements, each file checked against the lock's hashes; every one ships a wheel, so no
# compiler is needed.
RUN python -m pip --python /opt/venv/bin/python install --no-deps --require-hashes -r /tmp/requirements.txt

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
    SMARTCAR_MODE=live \
    SMARTCAR_EMULATOR=true \
    SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION=true \
    python manage.py collectstatic --noinput

USER garage
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["python", "deploy/healthcheck.py"]
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "config.wsgi"]
