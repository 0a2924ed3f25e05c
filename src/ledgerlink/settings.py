"""Settings, all from the environment.

DATABASE_URL          default: SQLite file ``ledgerlink.sqlite3`` in the working directory (WAL)
LEDGERLINK_ENV        development (default) or production, case-insensitive; anything else refuses to start
SECRET_KEY            required when LEDGERLINK_ENV=production
LEDGERLINK_ENCRYPTION_KEYS  comma-separated Fernet keys, newest first (MultiFernet)
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
# The known environments. A misspelling ("prod", "staging") must not fall back to development's
# DEBUG, development SECRET_KEY and insecure cookies: settings refuse to start instead.
KNOWN_ENVS = ("development", "production")
ENV = os.environ.get("LEDGERLINK_ENV", "development").strip().lower()
if ENV not in KNOWN_ENVS:
    raise RuntimeError(
        f"LEDGERLINK_ENV={os.environ.get('LEDGERLINK_ENV', '')!r} is not known: "
        f"set it to one of {', '.join(KNOWN_ENVS)} (case does not matter)"
    )
PRODUCTION = ENV == "production"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


if PRODUCTION and not os.environ.get("SECRET_KEY"):
    raise RuntimeError("SECRET_KEY must be set when LEDGERLINK_ENV=production")
SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key-change-me-" + "x" * 32)
DEBUG = _env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS")

# Fernet keys for OAuth tokens at rest. The development default is derived from SECRET_KEY so a
# demo works out of the box; production must set LEDGERLINK_ENCRYPTION_KEYS.
if PRODUCTION and not os.environ.get("LEDGERLINK_ENCRYPTION_KEYS"):
    raise RuntimeError("LEDGERLINK_ENCRYPTION_KEYS must be set when LEDGERLINK_ENV=production")
LEDGERLINK_ENCRYPTION_KEYS = _env_list("LEDGERLINK_ENCRYPTION_KEYS")

# OAuth app credentials used to connect Companies (Intuit developer app, or anything for qbo_sandbox).
QBO_CLIENT_ID = os.environ.get("QBO_CLIENT_ID", "ledgerlink-dev")
QBO_CLIENT_SECRET = os.environ.get("QBO_CLIENT_SECRET", "ledgerlink-dev-secret")
QBO_REDIRECT_URI = os.environ.get("QBO_REDIRECT_URI", "http://127.0.0.1:8000/connections/callback")
QBO_MINOR_VERSION = os.environ.get("QBO_MINOR_VERSION", "75")
QBO_WEBHOOK_VERIFIER = os.environ.get("QBO_WEBHOOK_VERIFIER", "")
# The web app's "Connect to QuickBooks" may target a qbo_sandbox URL (a server-side fetch of an
# admin-given URL); off in production unless allowed.
LEDGERLINK_ALLOW_SANDBOX_CONNECT = _env_bool("LEDGERLINK_ALLOW_SANDBOX_CONNECT", False)

INSTALLED_APPS = [
    # First: its createsuperuser overrides Django's (an app listed earlier wins a command's name).
    "ledgerlink.cli",  # the management commands (`ledgerlink help`)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",  # /api/v1/docs from local static files (no CDN, no inline script: CSP)
    "ledgerlink.core",
    "ledgerlink.web",
    "ledgerlink.ops",
    "axes",  # sign-in throttling (ledgerlink.domain.accounts.logins)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "ledgerlink.core.security.SecurityHeadersMiddleware",  # CSP, Permissions-Policy, CORP
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the sign-in page with 429
]

ROOT_URLCONF = "ledgerlink.urls"
WSGI_APPLICATION = "ledgerlink.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{Path.cwd() / 'ledgerlink.sqlite3'}"),
        # Persistent connections (a connection per process, kept 60 s, checked before reuse): opening
        # one per request cost a store webhook two thirds of its CPU (8.1 -> 2.7 ms in-process).
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("LEDGERLINK_TEST_SQLITE", "")} if os.environ.get(
        "LEDGERLINK_TEST_SQLITE"
    ) else {}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", Path.cwd() / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Sign-in throttling: django-axes. 5 failures per (username, client address) in 15 minutes lock that
# pair out for 15 minutes; the username as Django signs in with it (NFKC, case-folded), the address
# from REMOTE_ADDR, or from X-Forwarded-For only when REMOTE_ADDR is one of LEDGERLINK_TRUSTED_PROXIES
# (addresses or networks: the reverse proxy in front of gunicorn, e.g. 127.0.0.1 for one on the same
# host). Empty (the default): X-Forwarded-For is never read.
LEDGERLINK_TRUSTED_PROXIES = _env_list("LEDGERLINK_TRUSTED_PROXIES")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "ledgerlink.domain.accounts.logins.throttle_username"
AXES_CLIENT_IP_CALLABLE = "ledgerlink.domain.accounts.logins.client_address"
AXES_LOCKOUT_CALLABLE = "ledgerlink.web.views.auth.locked_out"
AXES_HTTP_RESPONSE_CODE = 429
AXES_RESET_ON_SUCCESS = False
AXES_ENABLE_ADMIN = False
AXES_DISABLE_ACCESS_LOG = True  # sign-ins are in the audit log
AXES_VERBOSE = False

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# Security (OWASP ASVS L2 oriented); HTTPS-only cookies in production.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", "1800"))
SESSION_SAVE_EVERY_REQUEST = True  # idle timeout: every request extends, inactivity expires
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = 31536000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
# __Host- cookies (ASVS 3.3.1/3.3.3): Secure, Path=/, no Domain; browsers accept them over HTTPS only.
SESSION_COOKIE_NAME = "__Host-sessionid" if PRODUCTION else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if PRODUCTION else "csrftoken"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy and other headers Django 5.2 lacks: ledgerlink.core.security.
# LEDGERLINK_CSP_REPORT_ONLY=true sends the CSP as Content-Security-Policy-Report-Only.
LEDGERLINK_CSP_REPORT_ONLY = _env_bool("LEDGERLINK_CSP_REPORT_ONLY", False)
# Origins a form submission may be redirected to (CSP form-action): the OAuth authorization server
# "Connect to QuickBooks" sends the admin to. Outside production also the demo qbo_sandbox.
LEDGERLINK_CSP_FORM_ACTION = _env_list(
    "LEDGERLINK_CSP_FORM_ACTION",
    "https://appcenter.intuit.com" + ("" if PRODUCTION else ",http://127.0.0.1:8700,http://localhost:8700"),
)

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "ledgerlink@localhost")
LEDGERLINK_ADMIN_EMAILS = _env_list("LEDGERLINK_ADMIN_EMAILS")
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "20"))
EMAIL_SUBJECT_PREFIX = os.environ.get("EMAIL_SUBJECT_PREFIX", "[Ledgerlink] ")
# Failure digests (ledgerlink.ops.digests): links in emails start with this URL.
LEDGERLINK_BASE_URL = os.environ.get("LEDGERLINK_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Store webhooks (docs/stores.md): "inline" applies each delivery in the request that brings it (the
# answer says its outcome); "queued" stores it and answers at once, and the worker applies what was
# received in batches (for bursts: a flash sale's hundreds of orders a second).
LEDGERLINK_STORE_WEBHOOKS = os.environ.get("LEDGERLINK_STORE_WEBHOOKS", "inline").strip().lower()
if LEDGERLINK_STORE_WEBHOOKS not in ("inline", "queued"):
    raise RuntimeError("LEDGERLINK_STORE_WEBHOOKS must be inline or queued")
# Queued mode: while at least this many deliveries a second arrive, the worker leaves the CPU and the
# database to the web processes answering them (each within the store's 5 s), for at most
# ..._MAX_WAIT seconds of the oldest one's wait; 0 turns it off (docs/stores.md).
LEDGERLINK_STORE_BURST_RATE = int(os.environ.get("LEDGERLINK_STORE_BURST_RATE", "50"))
LEDGERLINK_STORE_BURST_MAX_WAIT = float(os.environ.get("LEDGERLINK_STORE_BURST_MAX_WAIT", "120"))
# Email when a Company's failed requests of one error kind reach at least this many and grow.
LEDGERLINK_DIGEST_MIN_FAILURES = int(os.environ.get("LEDGERLINK_DIGEST_MIN_FAILURES", "1"))
# Email when a Company's oldest pending request is older than this (seconds).
LEDGERLINK_DIGEST_PENDING_AGE_SECONDS = int(os.environ.get("LEDGERLINK_DIGEST_PENDING_AGE_SECONDS", "3600"))
# Orders listed in one digest email.
LEDGERLINK_DIGEST_ORDERS = int(os.environ.get("LEDGERLINK_DIGEST_ORDERS", "5"))
# How often a worker process checks for digests to send (maybe_send_digests).
LEDGERLINK_DIGEST_INTERVAL_SECONDS = float(os.environ.get("LEDGERLINK_DIGEST_INTERVAL_SECONDS", "60"))
# Retention (ledgerlink prune): days kept for attempts and old revisions of succeeded requests.
LEDGERLINK_RETENTION_DAYS = int(os.environ.get("LEDGERLINK_RETENTION_DAYS", "90"))

# Worker tuning.
LEDGERLINK_LEASE_SECONDS = int(os.environ.get("LEDGERLINK_LEASE_SECONDS", "120"))
# The chaos suite only (tests/chaos): a directory where a file named after a worker makes that worker
# stop itself (SIGSTOP) between its lease check and its /batch send, the window a freeze opens.
LEDGERLINK_CHAOS_STALL_DIR = os.environ.get("LEDGERLINK_CHAOS_STALL_DIR", "")
# Seconds added to the limiter's minute (worker/limiter.py): QBO counts a request when it arrives, the
# limiter when it left; the margin keeps a request at the minute's edge inside QBO's count.
LEDGERLINK_LIMIT_WINDOW_MARGIN = float(os.environ.get("LEDGERLINK_LIMIT_WINDOW_MARGIN", "2"))
LEDGERLINK_MAX_ATTEMPTS = int(os.environ.get("LEDGERLINK_MAX_ATTEMPTS", "8"))
LEDGERLINK_BACKOFF_BASE = float(os.environ.get("LEDGERLINK_BACKOFF_BASE", "2.0"))
LEDGERLINK_BACKOFF_CAP = float(os.environ.get("LEDGERLINK_BACKOFF_CAP", "300"))
LEDGERLINK_HTTP_TIMEOUT = float(os.environ.get("LEDGERLINK_HTTP_TIMEOUT", "30"))
LEDGERLINK_CDC_MINUTES = int(os.environ.get("LEDGERLINK_CDC_MINUTES", "5"))

# Logs: one JSON object per line on stderr (LOG_FORMAT=json, the default) or readable text
# (LOG_FORMAT=text); both redact tokens, secrets and payloads (ledgerlink.core.logging).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "ledgerlink.core.logging.RedactionFilter"}},
    "formatters": {
        "json": {"()": "ledgerlink.core.logging.JsonFormatter"},
        "text": {"()": "ledgerlink.core.logging.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "text" if LOG_FORMAT == "text" else "json",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {
        "ledgerlink": {"level": os.environ.get("LEDGERLINK_LOG_LEVEL", "INFO")},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# Operations (ledgerlink.ops): /readyz, /metrics, failure digests.
# /readyz needs a worker heartbeat fresher than this.
LEDGERLINK_READY_HEARTBEAT_SECONDS = int(os.environ.get("LEDGERLINK_READY_HEARTBEAT_SECONDS", "30"))
# /metrics: a bearer token (Authorization: Bearer ...) and/or source addresses or networks allowed
# without it. LEDGERLINK_METRICS_ALLOW="" allows no address (token only). In production the token is
# required whatever the address (ledgerlink.ops.views.metrics_view): the allow-list is not used.
LEDGERLINK_METRICS_TOKEN = os.environ.get("LEDGERLINK_METRICS_TOKEN", "")
LEDGERLINK_METRICS_ALLOW = _env_list("LEDGERLINK_METRICS_ALLOW", "127.0.0.1,::1")
# Health endpoints stay reachable over plain HTTP from a load balancer.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
