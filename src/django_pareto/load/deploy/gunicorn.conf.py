"""gunicorn configuration of the reference stack: ``pareto serve`` runs this very file.

Every value comes from an environment variable with a production default, so the same
file serves ``pareto serve`` (which sets the variables for a private, loopback instance)
and a real server (copy it next to your project and set the few variables your service
unit needs, or edit the defaults). Run it as::

    gunicorn -c gunicorn.conf.py mysite.wsgi:application

What to change for a real server is said next to each setting.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return value in {"1", "true", "yes", "on"} if value else default


# Where to listen. Behind nginx on the same machine, a unix socket
# ("unix:/run/gunicorn/mysite.sock") saves the TCP stack and keeps the app off the network;
# without nginx, loopback only: gunicorn is not hardened to face the internet (slow
# clients hold a sync worker for the whole upload; nginx buffers them instead).
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Sync workers serve one request at a time each. A worker waiting on the database or the
# cache holds no core, so a real server runs 2-4 x cores workers (the classic
# 2 x cores + 1); measure with a scalability sweep rather than guess: past the knee more
# workers only add memory and database connections.
workers = _int("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1)

# "sync" (one request per process) or "gthread" (GUNICORN_THREADS threads per process:
# cheaper concurrency for I/O-bound views, still one core per process because of the GIL).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = _int("GUNICORN_THREADS", 1)

# A worker silent for this long is killed and replaced. 30 s is gunicorn's default; a real
# site keeps it above its slowest legitimate request and below nginx's proxy_read_timeout
# (60 s in nginx.conf) so that gunicorn, not nginx, gives up first and logs why.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM, workers get this long to finish the requests in flight. Production: ~30 s so
# a deploy drops nothing; `pareto serve` uses a few seconds so a measurement ends quickly.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Seconds an idle keep-alive connection stays open (gthread workers only: sync workers
# close after each response). Behind nginx's upstream keepalive, raise it to ~75 s so
# gunicorn does not close connections nginx is about to reuse.
keepalive = _int("GUNICORN_KEEPALIVE", 2)

# Restarting a worker every N requests bounds a slow memory leak. Off by default here:
# in a measurement a restart shows up as a latency spike. Production: 1000 with jitter
# 100, so the workers do not all restart at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 0)

# Import the application in the master before forking: faster boot and shared memory, but
# nothing may open a database connection at import time (it would be shared by all
# workers). Off by default, as in gunicorn.
preload_app = _flag("GUNICORN_PRELOAD", False)

# Pending connections the kernel queues before refusing; raise with net.core.somaxconn.
backlog = _int("GUNICORN_BACKLOG", 2048)

# Logs: errors to stderr (`pareto serve` sends that to a file of its run directory;
# systemd to the journal). No access log by default: nginx already writes one, and a line
# per request costs the app workers time under load.
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None

# The heartbeat file each worker touches; on tmpfs it never blocks on a slow disk
# (containers: "/dev/shm").
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or None

# X-Forwarded-* headers are trusted only from these addresses (nginx on the same machine).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Shown by ps/top (with setproctitle installed): tells the app's processes from others.
proc_name = os.environ.get("GUNICORN_PROC_NAME", "django")

# gunicorn >= 24 opens a control socket (for `gunicornc`) in the user's home by default:
# two instances of one user would fight over it, so `pareto serve` puts it in its run
# directory. Older gunicorn ignores the setting.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
