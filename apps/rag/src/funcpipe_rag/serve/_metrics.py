"""Prometheus metrics of one server (a registry of its own: no global state): request counts
and latency histograms by route and status, the ingest counters of its job board, admission
(searches in flight, the bound, shed and cancelled counts) and each search phase's latency,
labelled by whether an ingest ran (``ingest="running"`` minus ``"idle"`` is the wait an
ingest adds: the ``engine`` phase includes any wait for the store's thread)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from funcpipe_rag.app.service import Service

from ._admission import Admission

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


class _AdmissionCollector(Collector):
    def __init__(self, admission: Admission) -> None:
        self._a = admission

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        a = self._a
        yield GaugeMetricFamily(
            "funcpipe_search_in_flight", "Searches admitted and not yet answered", a.in_flight
        )
        yield GaugeMetricFamily(
            "funcpipe_search_max_inflight", "The admission bound on searches", a.max_inflight
        )
        yield CounterMetricFamily(
            "funcpipe_search_shed", "Searches refused with 503 OVERLOADED", a.shed
        )
        yield CounterMetricFamily(
            "funcpipe_search_cancelled", "Searches cancelled by a client disconnect", a.cancelled
        )


class Metrics:
    """The server's registry; ``observe`` after each response, ``render`` for ``/metrics``;
    it tells ``service`` to report search phases to it."""

    def __init__(self, service: Service, admission: Admission | None = None) -> None:
        self.registry = CollectorRegistry()
        self._service = service
        self.phases = Histogram(
            "funcpipe_search_phase_seconds",
            "Search latency by phase (embed, stamp, engine, decode) and ingest running or idle",
            ["phase", "ingest"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        service.observe_phase = self.observe_phase
        if admission is not None:
            self.registry.register(_AdmissionCollector(admission))
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

    def observe_phase(self, phase: str, seconds: float) -> None:
        ingest = "idle" if self._service.jobs.current is None else "running"
        self.phases.labels(phase, ingest).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
