"""gunicorn settings for `make serve` (each can be overridden on the command line or by env)."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
# Calls to actions can take up to 45 s (the outbound deadline): leave room above it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
max_requests = 2000  # recycle workers now and then...
max_requests_jitter = 200
preload_app = True  # ...cheaply: workers fork from a master that already imported the app
accesslog = "-"
# No query strings in the access log: a callback URL carries an authorization code.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
wsgi_app = "config.wsgi:application"
