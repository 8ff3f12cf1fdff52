"""Prometheus metrics of one server (a registry of its own: no global state): request counts
and latency histograms by route and status, and the ingest counters of its job board."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from funcpipe_rag.app.service import Service

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class _IngestCollector(Collector):
    def __init__(self, service: Service) -> None:
        self._service = service

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        c = self._service.jobs.counters
        with c.lock:
            jobs = dict(c.jobs)
            figures = {
                "sources": c.sources,
                "source_errors": c.source_errors,
                "chunks_embedded": c.chunks_embedded,
                "chunks_upserted": c.chunks_upserted,
            }
        fam = CounterMetricFamily(
            "funcpipe_ingest_jobs", "Ingest jobs finished, by final status", labels=["status"]
        )
        for status, n in sorted(jobs.items()):
            fam.add_metric([status], n)
        yield fam
        for name, value in figures.items():
            yield CounterMetricFamily(f"funcpipe_ingest_{name}", f"Ingest {name} so far", value)
        running = GaugeMetricFamily("funcpipe_ingest_running", "1 while an ingest job runs")
        running.add_metric([], 1 if self._service.jobs.current is not None else 0)
        yield running


class Metrics:
    """The server's registry; ``observe`` after each response, ``render`` for ``/metrics``."""

    def __init__(self, service: Service) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "funcpipe_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "funcpipe_http_request_seconds",
            "HTTP request latency by route and status",
            ["route", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_IngestCollector(service))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        s = str(status)
        self.requests.labels(route, method, s).inc()
        self.latency.labels(route, s).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
