"""What every natster service counts, for Prometheus (``hub up --metrics-port``): each
endpoint's answers by status code, and how long they took. Kept in a registry of its
own; the hub's metrics server (services/metrics.py) exports it beside the hub's."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()
ANSWERS = Counter(
    "natster_requests",
    "Requests a natster service answered, by service, endpoint and status code "
    "(403: refused, 429: over a rate limit, 5xx: failed)",
    ["service", "endpoint", "code"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "natster_request_seconds",
    "How long a natster service took to answer a request, by service and endpoint",
    ["service", "endpoint"],
    registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def answered(service: str, endpoint: str, code: int, seconds: float) -> None:
    ANSWERS.labels(service, endpoint, str(code)).inc()
    LATENCY.labels(service, endpoint).observe(seconds)
