"""Accord settings.

Two modes, chosen explicitly and never by fallback:

* server (the default): everything comes from the environment, and Accord
  refuses to start without DATABASE_URL, REDIS_URL and a strong SECRET_KEY;
* embedded (ACCORD_MODE=embedded, set by ``accord embedded``): SQLite in a data
  folder, a Celery worker with beat on kombu's filesystem broker, a generated
  secret kept in that folder with mode 0600.
"""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

ACCORD_MODE = os.environ.get("ACCORD_MODE", "server")
if ACCORD_MODE not in {"server", "embedded"}:
    raise ImproperlyConfigured("ACCORD_MODE must be 'server' or 'embedded'.")
EMBEDDED = ACCORD_MODE == "embedded"


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


def require_env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. Accord's server mode takes its configuration from the "
            "environment; run `accord embedded` for a one-machine trial instead."
        )
    return value


def check_secret_key(key: str) -> str:
    # A short, default or Django-generated placeholder key lets anyone forge
    # sessions, CSRF tokens and password-reset links (SECURITY.md D1).
    if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure"):
        raise ImproperlyConfigured(
            "SECRET_KEY must be at least 50 random characters and not a django-insecure key."
        )
    return key


def embedded_secret(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(64))
    os.chmod(path, 0o600)
    return path.read_text().strip()


if EMBEDDED:
    DATA_DIR = Path(os.environ.get("ACCORD_DATA_DIR", BASE_DIR / "data")).resolve()
    # The folder holds the database (password hashes, sessions) and the
    # secret: only its owner may read it.
    DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    SECRET_KEY = check_secret_key(os.environ.get("SECRET_KEY") or embedded_secret(DATA_DIR))
    DEBUG = env_bool("DEBUG", False)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "accord.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so two claims never
                # both read before either writes (DESIGN.md, the queue).
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
    REDIS_URL = ""
    MEDIA_ROOT = DATA_DIR / "media"
    BROKER_DIR = DATA_DIR / "broker"
    for sub in ("messages", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    # kombu's filesystem transport, with whole-file writes and reads that
    # skip a broken message file instead of stopping the worker (accord/broker.py).
    CELERY_BROKER_URL = "accordfs://localhost/"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder for both directions: the worker consumes what the web
        # process and beat write.
        "data_folder_in": str(BROKER_DIR / "messages"),
        "data_folder_out": str(BROKER_DIR / "messages"),
        # The exchange bindings: kombu's default is a folder named "control"
        # in whatever the current directory is, so producers and the worker
        # started from different directories would not see the same routes.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 1.0,
    }
    CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    HTTPS = env_bool("ACCORD_HTTPS", False)
    # Static files are served from the source folders (WHITENOISE_USE_FINDERS
    # below); nothing is collected, so whitenoise's warning is expected noise.
    warnings.filterwarnings("ignore", message="No directory at")
else:
    SECRET_KEY = check_secret_key(require_env("SECRET_KEY"))
    DEBUG = env_bool("DEBUG", False)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS is not set (a comma-separated list of hosts).")
    DATABASES = {"default": dj_database_url.parse(require_env("DATABASE_URL"), conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
        "ACCORD_DB_PREPARED_STATEMENTS", True
    ):
        # Parameters bound on the server, so that psycopg prepares a statement
        # once its connection has run it 5 times: PostgreSQL then neither
        # parses nor (once it settles on a generic plan) plans it again. The
        # claim and submit statements cost more to plan than to run; this
        # halves PostgreSQL's CPU per claim and submit (docs/architecture.md).
        # Needs each connection to keep its session: a direct connection, or
        # PgBouncer in session mode (docs/deployment.md).
        DATABASES["default"]["OPTIONS"] = {
            **DATABASES["default"].get("OPTIONS", {}),
            "server_side_binding": True,
            "prepare_threshold": 5,
        }
    REDIS_URL = require_env("REDIS_URL")
    MEDIA_ROOT = Path(os.environ.get("ACCORD_MEDIA_ROOT", BASE_DIR / "media")).resolve()
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest task, so Redis never redelivers a task that
        # is still running (SECURITY.md F4).
        "visibility_timeout": int(os.environ.get("ACCORD_BROKER_VISIBILITY_TIMEOUT", 4 * 3600)),
    }
    CELERY_BEAT_SCHEDULE_FILENAME = os.environ.get(
        "ACCORD_BEAT_SCHEDULE",
        "/tmp/accord-celerybeat-schedule",  # noqa: S108
    )
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Its own Redis database where one is given: clearing the cache
            # must never touch the broker's queues.
            "LOCATION": os.environ.get("REDIS_CACHE_URL") or REDIS_URL,
            "KEY_PREFIX": "accord",
            # A Redis that does not answer costs a request a second, not the
            # system's TCP timeout (accord/ratelimit.py).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    HTTPS = env_bool("ACCORD_HTTPS", True)

CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "accord.admin.AccordAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_htmx",
    "template_partials",
    # Accord's apps, in pipeline order (docs/architecture.md): each imports
    # only the ones above it in this list.
    "tasktypes",
    "accounts",
    "projects",
    "items",
    "annotation",
    "review",
    "agreement",
    "exports",
    "accord",  # management commands: embedded, demo
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "accord.middleware.UploadLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.SessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accord.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "accord.urls"
WSGI_APPLICATION = "accord.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# No guardian "AnonymousUser" row: anonymous visitors hold no permissions at
# all (SECURITY.md D2).
ANONYMOUS_USER_NAME = None
GUARDIAN_USER_OBJ_PERMS_MODEL = "projects.ProjectUserObjectPermission"
GUARDIAN_GROUP_OBJ_PERMS_MODEL = "projects.ProjectGroupObjectPermission"
GUARDIAN_MONKEY_PATCH_USER = False
GUARDIAN_MONKEY_PATCH_GROUP = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("ACCORD_STATIC_ROOT", BASE_DIR / "staticfiles")).resolve()
MEDIA_URL = "/media/"
# Serve static files straight from the source folders when nothing was
# collected (embedded mode and tests); production runs collectstatic.
WHITENOISE_USE_FINDERS = EMBEDDED or DEBUG or not STATIC_ROOT.exists()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "accounts:login"

# Sessions: server-side, JSON-serialised, rotated at login, with an idle and an
# absolute timeout (SECURITY.md D7).
SESSION_SERIALIZER = "django.contrib.sessions.serializers.JSONSerializer"
SESSION_COOKIE_AGE = int(os.environ.get("ACCORD_SESSION_IDLE_SECONDS", 8 * 3600))
SESSION_SAVE_EVERY_REQUEST = True
ACCORD_SESSION_ABSOLUTE_SECONDS = int(
    os.environ.get("ACCORD_SESSION_ABSOLUTE_SECONDS", 7 * 24 * 3600)
)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("ACCORD_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env_bool("ACCORD_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# No inline script anywhere: htmx and every behaviour come from static files,
# and htmx's own indicator styles are switched off in base.html.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Uploads are bounded before they are read (SECURITY.md C9).
ACCORD_MAX_UPLOAD_BYTES = int(os.environ.get("ACCORD_MAX_UPLOAD_BYTES", 512 * 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# How many reverse proxies in front of Accord append to X-Forwarded-For. 0
# (the default) trusts only REMOTE_ADDR; behind one proxy, 1; and so on.
ACCORD_PROXY_COUNT = int(os.environ.get("ACCORD_PROXY_COUNT", 0))

# Login throttle: attempts per window, counted atomically before the password
# is checked, so parallel attempts cannot slip past (SECURITY.md D6).
ACCORD_LOGIN_ATTEMPTS_PER_USER = int(os.environ.get("ACCORD_LOGIN_ATTEMPTS_PER_USER", 10))
ACCORD_LOGIN_ATTEMPTS_PER_IP = int(os.environ.get("ACCORD_LOGIN_ATTEMPTS_PER_IP", 50))
ACCORD_LOGIN_WINDOW_SECONDS = int(os.environ.get("ACCORD_LOGIN_WINDOW_SECONDS", 15 * 60))


def env_rate(name: str, default: str) -> tuple[int, int]:
    """A rate as "requests/seconds", e.g. "600/60"."""
    count, _, window = os.environ.get(name, default).partition("/")
    return int(count), int(window or 60)


# Per-user limits on the queue, so nobody pages through a data set by
# claiming or skipping (DESIGN.md, the queue).
ACCORD_RATES = {
    "claim": env_rate("ACCORD_CLAIM_RATE", "600/60"),
    "skip": env_rate("ACCORD_SKIP_RATE", "60/60"),
}
# How long the queue's limits let requests through uncounted when their
# Redis does not answer; after that, 503 until it does (accord/ratelimit.py).
ACCORD_RATE_FAIL_OPEN_SECONDS = int(os.environ.get("ACCORD_RATE_FAIL_OPEN_SECONDS", 30))
ACCORD_TOKEN_TTL_SECONDS = int(os.environ.get("ACCORD_TOKEN_TTL_SECONDS", 30 * 24 * 3600))
ACCORD_INVITE_TTL_SECONDS = int(os.environ.get("ACCORD_INVITE_TTL_SECONDS", 7 * 24 * 3600))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "accord.api.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "accord.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "Accord API",
    "DESCRIPTION": "Dual annotation, adjudication, agreement and gold dataset export.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 3 * 3600
CELERY_TASK_SOFT_TIME_LIMIT = 3 * 3600 - 60
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A running job whose heartbeat is older than this, and whose worker no
# longer holds its lock, is queued again (projects.jobs.jobs_recover, run by
# beat every quarter of it; its heartbeat is refreshed every sixth).
ACCORD_JOB_STALE_SECONDS = float(os.environ.get("ACCORD_JOB_STALE_SECONDS", 60))
CELERY_BEAT_SCHEDULE = {
    "recover-jobs": {
        "task": "projects.tasks.recover_jobs",
        "schedule": max(1.0, ACCORD_JOB_STALE_SECONDS / 4),
        # A sweep that waited for a free worker longer than this is dropped:
        # the next one is on its way.
        "options": {"expires": max(1.0, ACCORD_JOB_STALE_SECONDS / 4)},
    },
    "sweep-export-work-folders": {
        "task": "exports.tasks.sweep_work_folders",
        "schedule": 3600.0,
    },
    "purge-expired-credentials": {
        "task": "accounts.tasks.purge_expired_credentials",
        "schedule": 3600.0,
    },
    "expire-leases": {
        "task": "annotation.tasks.expire_leases",
        "schedule": 30.0,
    },
    "expire-review-leases": {
        "task": "review.tasks.expire_review_leases",
        "schedule": 30.0,
    },
    "reconcile-queue-counters": {
        "task": "annotation.tasks.reconcile_counters",
        "schedule": 3600.0,
    },
    "sweep-staged-imports": {
        "task": "items.tasks.sweep_staged_imports",
        "schedule": 3600.0,
    },
    "fail-stale-jobs": {
        "task": "projects.tasks.fail_stale_jobs",
        "schedule": 600.0,
    },
    "refresh-agreement-reports": {
        "task": "review.tasks.refresh_reports",
        "schedule": 3600.0,
    },
}
# Seconds from the first submission of a burst to the agreement report it
# starts (a burst of submissions starts one report).
ACCORD_AGREEMENT_DEBOUNCE = int(os.environ.get("ACCORD_AGREEMENT_DEBOUNCE", 60))

ACCORD_VERSION = "0.1.0"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("ACCORD_LOG_LEVEL", "INFO")},
}
