"""gunicorn settings for the gateway (gevent workers); env: GATEWAY_HOST/PORT/WORKERS."""

import os

bind = f"{os.environ.get('GATEWAY_HOST', '127.0.0.1')}:{os.environ.get('GATEWAY_PORT', '8080')}"
# gevent's worker with connection caps, read deadlines and OpenAI-shaped server errors;
# it takes its limits from the config's [gateway] section (gateway/server.py).
worker_class = "gateway.server.GatewayWorker"
workers = int(os.environ.get("GATEWAY_WORKERS", "1"))
# Streams can be long; the gevent worker does not use this for requests in flight.
timeout = 120
graceful_timeout = 30
# Non-zero keeps connections alive; how long an idle one waits is [gateway] keepalive_timeout_s.
keepalive = 75
accesslog = None  # the app writes one JSON access line per request
errorlog = "-"
loglevel = os.environ.get("GATEWAY_LOG_LEVEL", "warning")
preload_app = False  # NOTE: each worker process must build its own bridge thread after fork

