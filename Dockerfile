# Accord's server image: the same image runs the web process (gunicorn), the
# Celery worker, Celery beat and the one-off `accord migrate` (see
# docker-compose.yml). Configuration comes from the environment at run time;
# nothing secret is baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, read from pyproject.toml, so a code change does not
# reinstall them. (psycopg[binary] ships its own libpq: no apt packages.)
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-deps .

# Templates and static files live at the top of the source tree, beside the
# packages, and settings find them relative to the `accord` package: run the
# code from /app, ahead of the installed copy.
ENV PYTHONPATH=/app \
    ACCORD_STATIC_ROOT=/app/staticfiles \
    ACCORD_MEDIA_ROOT=/data/media \
    ACCORD_BEAT_SCHEDULE=/tmp/celerybeat-schedule

# collectstatic only reads settings; server mode insists on a full
# configuration, so give it throwaway values that exist for this step only.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    DATABASE_URL=postgres://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 \
    ALLOWED_HOSTS=build \
    python manage.py collectstatic --noinput --verbosity 0

# A non-root user that owns only the media folder (a volume in production).
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin accord \
 && mkdir -p /data/media \
 && chown accord:accord /data/media
USER accord

EXPOSE 8000
CMD ["gunicorn", "accord.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-"]
