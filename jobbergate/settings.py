"""Settings for the Jobbergate service, read from the environment.

Every variable is documented, with its default, in ``docs/configuration.md`` and ``.env.example``.
Nothing secret lives here: the Django secret key and the token signing key come from the environment (or a
``*_FILE``) or are generated once under ``var/`` with mode 0600.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from jobbergate.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_path,
    env_secret,
    env_str,
    read_or_create_secret_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("JOBBERGATE_VAR_DIR", BASE_DIR / "var")

DEBUG = env_bool("JOBBERGATE_DEBUG", False)
SECRET_KEY = env_secret("DJANGO_SECRET_KEY") or read_or_create_secret_file(
    VAR_DIR / "secret-key", lambda: secrets.token_urlsafe(50)
)
ALLOWED_HOSTS = env_list("JOBBERGATE_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("JOBBERGATE_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "django_htmx",
    "jobbergate",
    "accounts",
    "applications",
    "jobscripts",
    "submissions",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "jobbergate.middleware.CSPMiddleware",  # django-csp's, with the site's policy built once
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "jobbergate.urls"
CSRF_FAILURE_VIEW = "jobbergate.views.csrf_failure"  # JSON under /jobbergate, Django's page elsewhere
WSGI_APPLICATION = "jobbergate.wsgi.application"
APPEND_SLASH = False

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
                "accounts.context.sign_in_options",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("JOBBERGATE_DB_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the admin read while the API writes; the timeout rides out short write locks. IMMEDIATE takes the
    # write lock when a transaction begins, so concurrent writers (the agent reports from several threads) wait
    # their turn instead of failing when a read transaction cannot be upgraded.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "JOBBERGATE_DB_PREPARED_STATEMENTS", True
):
    # Values sent apart from the SQL, and a statement run 5 times on a connection (psycopg's default threshold) kept
    # prepared by PostgreSQL, which then skips parsing and planning it: the API's SQL repeats exactly
    # (jobbergate.prepared), and PostgreSQL's CPU per request fell by half or more (docs/benchmarks.md, issue 16).
    # psycopg keeps at most 100 per connection. Turn off behind a pooler that cannot carry prepared statements
    # (PgBouncer before 1.21 in transaction mode).
    DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 5})
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with a health check that asks the connection's socket before it asks the server
    # (jobbergate.database, "Health checks"): no SELECT 1 round trip before every request's first query.
    DATABASES["default"]["ENGINE"] = "jobbergate.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_path("JOBBERGATE_STATIC_ROOT", VAR_DIR / "static")
FILE_STORAGE_DIR = env_path("JOBBERGATE_FILE_STORAGE_DIR", VAR_DIR / "files")
STORAGES = {
    # Application templates, workflow files and job script files. Any Django storage backend can replace it.
    "default": {
        "BACKEND": "jobbergate.files.FileStorage",
        "OPTIONS": {"location": str(FILE_STORAGE_DIR), "file_permissions_mode": 0o600},
    },
    "staticfiles": {"BACKEND": "jobbergate.staticfiles.StaticFilesStorage"},
}

# Uploads: one limit for a single file, enforced by the API with a 413.
MAX_UPLOAD_BYTES = env_int("JOBBERGATE_MAX_UPLOAD_BYTES", 5 * 1024 * 1024, minimum=1)
# A cluster agent's batch of job output (submissions/output.py, append_many): at most this many pieces, and this
# many bytes of output in all (base64 in JSON: 4 characters for 3 bytes, plus each piece's fields).
OUTPUT_BATCH_MAX_PIECES = 1000
OUTPUT_BATCH_MAX_BYTES = 2 * 1024 * 1024
OUTPUT_BATCH_MAX_BODY = OUTPUT_BATCH_MAX_BYTES * 4 // 3 + OUTPUT_BATCH_MAX_PIECES * 256
# Any request body: one file plus room for multipart boundaries and form fields (jobbergate.api.parsers), and at
# least the largest batch of job output.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(MAX_UPLOAD_BYTES + 64 * 1024, OUTPUT_BATCH_MAX_BODY)
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES

# Whole application folders uploaded as an archive or many files: members (folders included) and every byte read
# after decompression (headers included); each file is also at most MAX_UPLOAD_BYTES.
APPLICATION_MAX_FILES = env_int("JOBBERGATE_APPLICATION_MAX_FILES", 200, minimum=1)
APPLICATION_MAX_BYTES = env_int("JOBBERGATE_APPLICATION_MAX_BYTES", 20 * 1024 * 1024, minimum=1)
# An application's configuration as stored: jobbergate.yaml, and each of template_vars, questions and the runtime
# config as JSON text (YAML aliases counted each time they are used). Every catalogue listing sends template_vars.
APPLICATION_MAX_CONFIG_BYTES = env_int("JOBBERGATE_APPLICATION_MAX_CONFIG_BYTES", 64 * 1024, minimum=1024)

# Rendering job scripts from application templates: each render runs in a worker process within these limits.
RENDER_TIMEOUT_SECONDS = env_float("JOBBERGATE_RENDER_TIMEOUT_SECONDS", 2.0, minimum=0.1)
RENDER_MAX_OUTPUT_BYTES = env_int("JOBBERGATE_RENDER_MAX_OUTPUT_BYTES", 1_000_000, minimum=1)
RENDER_MEMORY_MB = env_int("JOBBERGATE_RENDER_MEMORY_MB", 1024, minimum=64)
RENDER_WORKERS = env_int("JOBBERGATE_RENDER_WORKERS", 1, minimum=1)
# Costly requests (renders, application folder uploads) one caller may run at once, across all server processes;
# more get 429 at once (jobbergate/fairness.py), so one user's flood never queues ahead of others' work.
HEAVY_REQUESTS_PER_USER = env_int("JOBBERGATE_HEAVY_REQUESTS_PER_USER", 1, minimum=1)
LOCK_DIR = env_path("JOBBERGATE_LOCK_DIR", VAR_DIR / "locks")  # the callers' slots; must be shared by all processes

# How long a cluster agent's claim on a pending submission lasts (submissions/services.py, claim_pending): one
# agent at a time submits it; a dead agent's claims come back to the others after this long.
AGENT_CLAIM_SECONDS = env_int("JOBBERGATE_AGENT_CLAIM_SECONDS", 120, minimum=5)
# A job's output as the agent ships it (submissions/output.py): what one stream keeps (past it, the head and the
# latest tail stay, half each), and the largest chunk one request appends.
OUTPUT_MAX_BYTES = env_int("JOBBERGATE_OUTPUT_MAX_BYTES", 16 * 1024 * 1024, minimum=64 * 1024)
OUTPUT_CHUNK_MAX_BYTES = 256 * 1024
# While a stream is live, a chunk this small is kept in its database row, a larger one in the file storage: a job
# printing a few lines a second sends chunks of a few hundred bytes, and one file each cost the server more than the
# rest of the append. When the stream completes, its rows are merged into the file storage (submissions.output).
OUTPUT_INLINE_MAX_BYTES = 8 * 1024
# How long after a person last read a stream its submission counts as watched: the agent ships it every cycle.
OUTPUT_WATCHED_SECONDS = env_int("JOBBERGATE_OUTPUT_WATCHED_SECONDS", 30, minimum=1)

# Server-issued API tokens (JWTs that carry the same claims as an OIDC provider's access token).
TOKEN_SIGNING_KEY_FILE = env_path("JOBBERGATE_TOKEN_SIGNING_KEY_FILE", VAR_DIR / "token-signing-key.pem")
TOKEN_ISSUER = env_str("JOBBERGATE_TOKEN_ISSUER", "jobbergate-local")
TOKEN_AUDIENCE = env_str("JOBBERGATE_TOKEN_AUDIENCE", "https://jobbergate.local/api")
TOKEN_DEFAULT_LIFETIME_DAYS = env_int("JOBBERGATE_TOKEN_DEFAULT_DAYS", 30, minimum=1)
TOKEN_LEEWAY_SECONDS = env_int("JOBBERGATE_TOKEN_LEEWAY_SECONDS", 30, minimum=0)

# OpenID Connect (Auth0, Keycloak, ...). Without OIDC_ISSUER_URL only server-issued tokens and local passwords work.
OIDC_ISSUER_URL = env_str("OIDC_ISSUER_URL", "")
OIDC_AUDIENCE = env_list("OIDC_AUDIENCE", [])
if OIDC_ISSUER_URL and not OIDC_AUDIENCE:
    raise ImproperlyConfigured("OIDC_AUDIENCE must name the API's audience when OIDC_ISSUER_URL is set")
OIDC_ALLOWED_ALGORITHMS = env_list("OIDC_ALLOWED_ALGORITHMS", ["RS256"])
if not set(OIDC_ALLOWED_ALGORITHMS) <= {
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
}:
    raise ImproperlyConfigured("OIDC_ALLOWED_ALGORITHMS may name only asymmetric algorithms (RS*, PS*, ES*)")
OIDC_LEEWAY_SECONDS = env_int("OIDC_LEEWAY_SECONDS", 30, minimum=0)
OIDC_JWKS_CACHE_SECONDS = env_int("OIDC_JWKS_CACHE_SECONDS", 3600, minimum=1)
OIDC_JWKS_MIN_REFETCH_SECONDS = env_int("OIDC_JWKS_MIN_REFETCH_SECONDS", 30, minimum=0)
OIDC_TIMEOUT_SECONDS = env_float("OIDC_TIMEOUT_SECONDS", 5.0, minimum=0.1)
OIDC_EMAIL_CLAIM = env_str("OIDC_EMAIL_CLAIM", "email")
OIDC_PERMISSIONS_CLAIM = env_str("OIDC_PERMISSIONS_CLAIM", "permissions")
OIDC_REQUIRE_EMAIL = env_bool("OIDC_REQUIRE_EMAIL", True)
OIDC_CLI_CLIENT_ID = env_str("OIDC_CLI_CLIENT_ID", "")
# The admin's browser sign-in (authorization code flow with PKCE), through mozilla-django-oidc.
OIDC_RP_CLIENT_ID = env_str("OIDC_ADMIN_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_secret("OIDC_ADMIN_CLIENT_SECRET", "") or ""
OIDC_RP_SIGN_ALGO = env_str("OIDC_ADMIN_ID_TOKEN_ALGORITHM", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_ADMIN_SCOPES", "openid email")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = OIDC_TIMEOUT_SECONDS
OIDC_AUTH_REQUEST_EXTRA_PARAMS = {"audience": OIDC_AUDIENCE[0]} if OIDC_AUDIENCE else {}
OIDC_AUTHENTICATE_CLASS = "accounts.views.OIDCSignInView"
OIDC_CALLBACK_CLASS = "accounts.views.OIDCCallbackView"
OIDC_ADMIN_SIGN_IN = bool(OIDC_ISSUER_URL and OIDC_RP_CLIENT_ID)
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"] + (
    ["accounts.authentication.JobbergateOIDCBackend"] if OIDC_ADMIN_SIGN_IN else []
)
# The portal's sign-in page (password and OpenID); the admin has its own. After an OpenID sign-in the browser
# returns to the page it came from (``next``), else to the portal.
LOGIN_URL = "/sign-in/"
LOGIN_REDIRECT_URL = "/"
LOGIN_REDIRECT_URL_FAILURE = "/sign-in/?oidc=refused"
LOGOUT_REDIRECT_URL = "/admin/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.SessionPrincipalAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["jobbergate.api.permissions.ResourcePermission"],
    "DEFAULT_RENDERER_CLASSES": ["jobbergate.api.renderers.FastJSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if env_bool("JOBBERGATE_BROWSABLE_API", True) else []),
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "jobbergate.api.negotiation.HtmlForAdminSessions",
    "DEFAULT_PARSER_CLASSES": [
        "jobbergate.api.parsers.LimitedJSONParser",
        "jobbergate.api.parsers.LimitedMultiPartParser",
        "jobbergate.api.parsers.LimitedFormParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "jobbergate.api.schema.ResourceSchema",
    "EXCEPTION_HANDLER": "jobbergate.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Jobbergate API",
    "DESCRIPTION": "Reusable HPC job-script applications, job scripts and Slurm job submissions.",
    "VERSION": "5.12.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "jobbergate.api.schema.add_summaries",
    ],
    "ENUM_NAME_OVERRIDES": {
        "FileTypeEnum": "jobbergate.choices.FileType",
        "SubmissionStatusEnum": "submissions.choices.JobSubmissionStatus",
        "SlurmJobStateEnum": "submissions.choices.SlurmJobState",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("JOBBERGATE_LOG_LEVEL", "INFO")},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("JOBBERGATE_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# HTTPS deployments (README, "HTTPS deployments"): HSTS is sent only on HTTPS requests; behind a proxy that ends
# TLS, Django learns a request was HTTPS from the proxy's X-Forwarded-Proto.
SECURE_HSTS_SECONDS = env_int("JOBBERGATE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("JOBBERGATE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("JOBBERGATE_BEHIND_HTTPS_PROXY", False) else None
)

# Content-Security-Policy (django-csp) on every response: nothing loads from elsewhere, and no inline script runs
# (the admin, Swagger UI and ReDoc are served from this server's static files; the Swagger page loads its start-up
# script from its own URL). Inline styles stay allowed: ReDoc and DRF's browsable API need them, and they run no code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Password logins (the admin's, and any form that signs in through django.contrib.auth) are throttled by
# django-axes: after JOBBERGATE_LOGIN_FAILURE_LIMIT wrong passwords for one user name from one address, that pair
# is refused (429), the right password too, until JOBBERGATE_LOGIN_COOLOFF_MINUTES pass without another try.
# Attempts are kept in the database, so every worker sees them; operators clear them in the admin or with
# manage.py axes_reset_username.
AXES_FAILURE_LIMIT = env_int("JOBBERGATE_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("JOBBERGATE_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
