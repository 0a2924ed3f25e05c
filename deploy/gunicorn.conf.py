"""Gunicorn settings for the Ledgerlink web app: `gunicorn -c deploy/gunicorn.conf.py`.

Every value can be overridden from the environment (LEDGERLINK_BIND, WEB_CONCURRENCY, ...), so one
file serves the systemd unit, a container and the production set-up test. The app's settings come
from the environment as well (see docs/deploy.md).
"""

import multiprocessing
import os

from gunicorn.glogging import Logger

wsgi_app = "ledgerlink.wsgi:application"
bind = os.environ.get("LEDGERLINK_BIND", "127.0.0.1:8000").split(",")
# Sync workers: each request holds one DB connection for its duration; 2 x cores + 1 by default.
workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2 + 1)))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then (bounded memory growth), staggered widely: processes sharing a burst
# evenly reach max_requests together, and a new one costs about a second of CPU, so five recycled at
# once stalled every answer for seconds (store webhooks at 200/s, docs/benchmarks.md section 7).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", str(max_requests // 2)))
# GUNICORN_PRELOAD=1 loads the app in the master first (less memory; a broken setting fails once).
# Django opens no database connection at import, so forked workers share none.
preload_app = os.environ.get("GUNICORN_PRELOAD", "0") == "1"


def post_worker_init(worker):
    """Import the URLconf (and every view module) before the worker takes requests: Django does it on the
    first request otherwise, which then waits about a second, on every recycled worker."""
    from django.urls import get_resolver

    len(get_resolver().url_patterns)  # the property imports them


# Trust X-Forwarded-* only from the reverse proxy in front (loopback by default).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proxy_allow_ips = forwarded_allow_ips
# Gunicorn's control socket (gunicornc) lives in $HOME by default, which several instances would
# share and ProtectHome= forbids: off unless GUNICORN_CONTROL_SOCKET names a path.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket
if not control_socket:
    del control_socket

# Logs: the same one-JSON-object-per-line format as the app (ledgerlink.core.logging), on stderr,
# with the same redaction (a query string's code=/token= never reaches a line).
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'


class LedgerlinkLogger(Logger):
    """Gunicorn's logger, with the access log really off when GUNICORN_ACCESSLOG is empty: with a
    logconfig_dict gunicorn builds every request's log record whatever `accesslog` says."""

    def access(self, resp, req, environ, request_time):
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = LedgerlinkLogger
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "ledgerlink.core.logging.RedactionFilter"}},
    "formatters": {"json": {"()": "ledgerlink.core.logging.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["redact"],
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "WARNING", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
    },
}

