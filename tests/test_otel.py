"""OpenTelemetry (`_otel.py`): spans, metrics, and no secret anywhere in them (checked with
the SDK's in-memory exporter and reader)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import yativo_async as y
from tests.test_hooks import OK_LIST, Script, exercise, status
from yativo_async.testing import FakeYativo

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode


class Telemetry:
    """An OpenTelemetry observer wired to in-memory SDK providers (no global state)."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.otel = y.OpenTelemetry(tracer_provider=self.tracer_provider,
                                    meter_provider=self.meter_provider)

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """metric name -> [(attributes, value)]"""
        out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        if data is None:  # nothing recorded, nothing observed
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = point.count  # a histogram
                        out.setdefault(metric.name, []).append((dict(point.attributes), value))
        return out

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    yield t
    t.close()


def client(script: Script, hooks: Any, **kw: Any) -> y.YativoClient:
    kw.setdefault("rate_limits", [])
    return y.YativoClient(access_token="t", transport=y.MockTransport(script), hooks=hooks,
                          seed=1, **kw)


@pytest.mark.looptime
async def test_one_span_per_call_with_its_attempts_waits_and_status(telemetry: Telemetry) -> None:
    async with client(Script(status(503, **{"retry-after": "2"}), OK_LIST), telemetry.otel,
                      rate_limits=[y.RateLimit(1, 10.0)]) as c:
        await c.api_keys.list()
    (span,) = telemetry.finished()
    assert span.name == "yativo list"
    attrs = dict(span.attributes or {})
    assert attrs["yativo.operation"] == "list"
    assert attrs["http.request.method"] == "GET"
    assert attrs["yativo.path"] == "/apikey/list"
    assert attrs["yativo.attempts"] == 2
    assert attrs["yativo.retries"] == 1
    assert attrs["http.response.status_code"] == 200
    # the retry's 2 s did not free the 10 s window: the second attempt waited 8 s for budget
    assert attrs["yativo.rate_limit.waited_s"] == pytest.approx(8.0)
    assert span.status.status_code == StatusCode.UNSET
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    assert [name for name, _ in events] == [
        "yativo.request", "yativo.response", "yativo.retry", "yativo.rate_limit_wait",
        "yativo.request", "yativo.response"]
    assert events[2][1] == {"yativo.attempt": 1, "yativo.wait_s": 2.0, "error.type": "ServerError"}
    assert events[1][1]["http.response.status_code"] == 503
    assert "yativo.request_id" not in events[1][1]
    assert events[5][1]["yativo.request_id"] == "req-1"


@pytest.mark.looptime
async def test_a_failed_send_is_an_event_with_its_error_class(telemetry: Telemetry) -> None:
    async with client(Script(y.APIConnectionError("reset"), OK_LIST), telemetry.otel) as c:
        await c.api_keys.list()
    (span,) = telemetry.finished()
    responses = [dict(e.attributes or {}) for e in span.events if e.name == "yativo.response"]
    assert responses[0]["error.type"] == "APIConnectionError"
    assert "http.response.status_code" not in responses[0]
    assert "error.type" not in responses[1] and "error.type" not in dict(span.attributes or {})


@pytest.mark.looptime
async def test_a_failed_call_has_an_error_status_naming_only_the_class(
    telemetry: Telemetry,
) -> None:
    async with client(Script(status(404)), telemetry.otel) as c:
        with pytest.raises(y.NotFoundError):
            await c.api_keys.get("key_1")
    (span,) = telemetry.finished()
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "NotFoundError"
    assert dict(span.attributes or {})["error.type"] == "NotFoundError"
    assert dict(span.attributes or {})["http.response.status_code"] == 404


@pytest.mark.looptime
async def test_the_call_span_is_current_while_the_call_runs(telemetry: Telemetry) -> None:
    """A caller's span is the parent; an instrumented HTTP library's span is the child."""
    tracer = telemetry.tracer_provider.get_tracer("test")

    async def transport(request: y.Request) -> y.Response:
        with tracer.start_as_current_span("http send"):
            return OK_LIST

    async with client(Script(OK_LIST), telemetry.otel) as c:
        c._pipeline.transport = y.MockTransport(transport)
        with tracer.start_as_current_span("handler") as parent:
            await c.api_keys.list()
    spans = {s.name: s for s in telemetry.finished()}
    ours = spans["yativo list"]
    assert ours.parent is not None and ours.parent.span_id == parent.get_span_context().span_id
    child = spans["http send"]
    assert child.parent is not None and child.parent.span_id == ours.context.span_id
    # after the call, the caller's context is back as it was
    from opentelemetry import trace
    assert not trace.get_current_span().is_recording()


@pytest.mark.looptime
async def test_counters_for_429s_retries_and_exchanges_and_a_budget_gauge(
    telemetry: Telemetry, fake: FakeYativo,
) -> None:
    key = fake.add_key()
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport(), hooks=telemetry.otel,
                              rate_limits=[y.RateLimit(10, 60.0), y.RateLimit(100, 3600.0)]) as c:
        await c.api_keys.list()  # the exchange and the list: 2 requests
        fake.set_faults(retry_after_rate=1.0)
        with pytest.raises(y.ServerError):
            await c.api_keys.list()
        fake.clear_faults()
        metrics = telemetry.metrics()
    attempts = c.stats.attempts
    assert c.stats.retries >= 1
    retries = metrics["yativo.retries"]
    assert sum(v for _, v in retries) == c.stats.retries
    assert retries[0][0] == {"yativo.operation": "list", "error.type": "ServerError"}
    ((exchange_attrs, exchanges),) = metrics["yativo.token_exchanges"]
    assert exchanges == 1
    assert exchange_attrs == {"yativo.token.reason": "cold", "yativo.token.outcome": "ok",
                              "yativo.token.shared": False}
    gauge = {a["yativo.window"]: v for a, v in metrics["yativo.rate_limit.remaining"]}
    assert gauge == {"60s": 10 - attempts, "3600s": 100 - attempts}
    durations = {a["yativo.outcome"]: v for a, v in metrics["yativo.call.duration"]
                 if a["yativo.operation"] == "list"}
    assert durations == {"ok": 1, "error": 1}


@pytest.mark.looptime
async def test_429s_are_counted(telemetry: Telemetry) -> None:
    limited = status(429, **{"retry-after": "1"})
    async with client(Script(limited, limited, OK_LIST), telemetry.otel) as c:
        await c.api_keys.list()
    assert telemetry.metrics()["yativo.server_429s"] == [({"yativo.operation": "list"}, 2)]


@pytest.mark.looptime
async def test_the_token_exchange_is_an_event_of_the_call_that_needed_it(
    telemetry: Telemetry, fake: FakeYativo,
) -> None:
    key = fake.add_key()
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport(), hooks=telemetry.otel,
                              rate_limits=[]) as c:
        await c.api_keys.list()
    spans = {s.name: s for s in telemetry.finished()}
    listing, exchange = spans["yativo list"], spans["yativo token exchange"]
    assert exchange.parent is not None and exchange.parent.span_id == listing.context.span_id
    names = [e.name for e in listing.events]
    assert names[0] == "yativo.token_exchange"


async def test_a_client_gone_leaves_the_gauge(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture,
) -> None:
    c = y.YativoClient(access_token="t", hooks=telemetry.otel, transport=y.MockTransport(Script(OK_LIST)))
    assert len(telemetry.metrics()["yativo.rate_limit.remaining"]) == 3  # the 3 default windows
    await c.aclose()
    del c
    gc.collect()
    assert "yativo.rate_limit.remaining" not in telemetry.metrics()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []  # no failed callback


def test_without_opentelemetry_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"yativo-async\[otel\]"):
        y.OpenTelemetry()


@pytest.mark.looptime
async def test_no_secret_in_any_span_event_or_metric(
    telemetry: Telemetry, fake: FakeYativo,
) -> None:
    secrets = await exercise(fake, [telemetry.otel])
    await asyncio.sleep(0)
    spans = telemetry.finished()
    assert len(spans) >= 8
    dump = "\n".join(s.to_json() for s in spans)
    data = telemetry.reader.get_metrics_data()
    assert data is not None
    dump += data.to_json()
    assert "yativo create" in dump and "yativo.token_exchanges" in dump
    for secret in secrets:
        assert secret not in dump


async def test_the_gauge_reads_the_budget_on_the_clients_loop(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A metrics exporter reads the gauge from its own thread: the limiter is read on the
    client's loop (never raced); a loop too busy to answer makes the gauge skip a beat."""
    loop = asyncio.get_running_loop()
    async with client(Script(OK_LIST), telemetry.otel, rate_limits=[y.RateLimit(10, 60.0)]) as c:
        await c.api_keys.list()
        await c.api_keys.list()
        readers: list[str] = []
        real = c._limiter.status

        def status() -> list[y.WindowStatus]:
            readers.append(threading.current_thread().name)
            return real()

        monkeypatch.setattr(c._limiter, "status", status)
        metrics = await loop.run_in_executor(None, telemetry.metrics)
        assert metrics["yativo.rate_limit.remaining"][0][1] == 8
        assert readers == [threading.current_thread().name]  # read on the loop's thread

        # The loop blocked (this thread waits on the exporter): the reading is skipped.
        monkeypatch.setattr(y._hooks, "BUDGET_READ_TIMEOUT", 0.05)
        exporter = threading.Thread(target=lambda: readers.append(str(telemetry.metrics())))
        exporter.start()
        exporter.join()
        assert "yativo.rate_limit.remaining" not in readers[-1]
