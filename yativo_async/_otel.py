"""OpenTelemetry spans and metrics (extra ``otel``: ``opentelemetry-api``).

``YativoClient(hooks=OpenTelemetry())`` gives:

- one span per call (``yativo <operation>``, kind CLIENT), current while the call runs, so
  spans of an instrumented HTTP library nest under it; attributes: operation, method, path,
  attempts, retries, seconds waited for budget, the last status, ``error.type``; events for
  each request, response, retry (with its wait), wait for budget and token exchange;
- counters ``yativo.server_429s``, ``yativo.retries``, ``yativo.token_exchanges`` (by
  reason and outcome), a histogram ``yativo.call.duration`` (seconds, by operation and
  outcome), and an observable gauge ``yativo.rate_limit.remaining`` (budget left per window
  of each client watched).

Rule: attributes come only from `_hooks` events, which hold no secret; error messages are
never recorded (a server may echo what it was sent), only class names.

With no SDK configured, the API hands out no-op tracers and meters: the cost is a few
function calls per event. Leave ``hooks`` unset for none at all.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._hooks import (
    CallEndEvent,
    CallStartEvent,
    Observer,
    RateLimitWaitEvent,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    TokenExchangeEvent,
)
from ._version import __version__

if TYPE_CHECKING:
    from ._ratelimit import WindowStatus

__all__ = ["OpenTelemetry"]

_INSTALL_HINT = (
    "OpenTelemetry support needs the opentelemetry-api package: "
    "pip install 'yativo-async[otel]'"
)


class OpenTelemetry(Observer):
    """Spans and metrics for every call of the clients it is given to (``hooks=``).

    Args:
        tracer_provider: default: the global one (``opentelemetry.trace``).
        meter_provider: default: the global one (``opentelemetry.metrics``).

    Raises:
        ImportError: ``opentelemetry-api`` is not installed (extra ``otel``).
    """

    def __init__(self, *, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        try:
            from opentelemetry import context, metrics, trace
            from opentelemetry.metrics import Observation
        except ImportError:
            raise ImportError(_INSTALL_HINT) from None
        self._context = context
        self._observation = Observation
        self._trace = trace
        self._status = trace.Status
        self._error = trace.StatusCode.ERROR
        self._kind = trace.SpanKind.CLIENT
        self._tracer = trace.get_tracer(
            "yativo_async", __version__, tracer_provider=tracer_provider
        )
        meter = metrics.get_meter("yativo_async", __version__, meter_provider=meter_provider)
        self._server_429s = meter.create_counter(
            "yativo.server_429s", unit="{response}",
            description="429 responses from the server",
        )
        self._retries = meter.create_counter(
            "yativo.retries", unit="{retry}", description="attempts retried"
        )
        self._exchanges = meter.create_counter(
            "yativo.token_exchanges", unit="{exchange}",
            description="exchanges of the key pair for a bearer token",
        )
        self._duration = meter.create_histogram(
            "yativo.call.duration", unit="s",
            description="calls from start to end, retries and waits for budget included",
        )
        meter.create_observable_gauge(
            "yativo.rate_limit.remaining", callbacks=[self._budget], unit="{request}",
            description="requests left in each rate-limit window",
        )
        #: each client's budget reader, weakly
        self._budgets: list[tuple[int, weakref.ref[Callable[[], list[WindowStatus]]]]] = []
        self._next_client = 0
        #: call id -> (span, context token)
        self._spans: dict[int, tuple[Any, Any]] = {}

    def __repr__(self) -> str:
        return "OpenTelemetry()"

    # -- the gauge ------------------------------------------------------------------------

    def bind(self, budget: Callable[[], list[WindowStatus]]) -> None:
        # Weakly: the gauge must not keep a closed client alive (``budget`` is a closure
        # over the client's limiter; the weak method dies with the client's observers).
        """Attach to a client: register the budget gauge for its limiter (called by the client)."""
        self._budgets.append((self._next_client, weakref.ref(budget)))
        self._next_client += 1

    def _budget(self, _options: Any) -> Iterable[Any]:
        alive = []
        out = []
        for client, ref in self._budgets:
            budget = ref()
            if budget is None:
                continue
            alive.append((client, ref))
            for window in budget():
                out.append(self._observation(window.remaining, {
                    "yativo.client": client,
                    "yativo.window": f"{window.period:g}s",
                }))
        self._budgets = alive
        return out

    # -- spans ----------------------------------------------------------------------------

    def call_start(self, event: CallStartEvent) -> None:
        """Open the call's span (current while the call runs)."""
        span = self._tracer.start_span(
            f"yativo {event.operation}",
            kind=self._kind,
            attributes={
                "yativo.operation": event.operation,
                "http.request.method": event.method,
                "yativo.path": event.path,
                "yativo.lane": event.lane,
            },
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        self._spans[event.call_id] = (span, token)

    def _span(self, call_id: int) -> Any:
        entry = self._spans.get(call_id)
        return None if entry is None else entry[0]

    def request(self, event: RequestEvent) -> None:
        """Record a request as an event of the call's span."""
        span = self._span(event.call_id)
        if span is not None:
            span.add_event("yativo.request", {"yativo.attempt": event.attempt})

    def response(self, event: ResponseEvent) -> None:
        """Record a response (status, request id) on the call's span; count a 429."""
        attrs: dict[str, Any] = {
            "yativo.attempt": event.attempt, "yativo.elapsed_s": event.elapsed,
        }
        if event.status is not None:
            attrs["http.response.status_code"] = event.status
        if event.error is not None:
            attrs["error.type"] = event.error
        if event.request_id is not None:
            attrs["yativo.request_id"] = event.request_id
        span = self._span(event.call_id)
        if span is not None:
            span.add_event("yativo.response", attrs)
        if event.status == 429:
            self._server_429s.add(1, {"yativo.operation": event.operation})

    def retry(self, event: RetryEvent) -> None:
        """Record a retry on the call's span and count it."""
        span = self._span(event.call_id)
        if span is not None:
            span.add_event("yativo.retry", {
                "yativo.attempt": event.attempt, "yativo.wait_s": event.wait,
                "error.type": event.error,
            })
        self._retries.add(1, {"yativo.operation": event.operation, "error.type": event.error})

    def rate_limit_wait(self, event: RateLimitWaitEvent) -> None:
        """Record a wait for budget on the call's span."""
        span = self._span(event.call_id)
        if span is not None:
            span.add_event("yativo.rate_limit_wait", {"yativo.waited_s": event.waited})

    def token_exchange(self, event: TokenExchangeEvent) -> None:
        """Count a token exchange by reason and outcome."""
        outcome = "ok" if event.ok else "error"
        attrs: dict[str, Any] = {
            "yativo.token.reason": event.reason, "yativo.token.outcome": outcome,
            "yativo.token.shared": event.shared,
        }
        if event.error is not None:
            attrs["error.type"] = event.error
        # The exchange runs in a task started by the call that needed the token: that call's
        # span is the current one.
        current = self._trace.get_current_span()
        if current.is_recording():
            current.add_event("yativo.token_exchange", attrs)
        self._exchanges.add(1, attrs)

    def call_end(self, event: CallEndEvent) -> None:
        """End the call's span with its attempts, waits, status and error class; record its
        duration."""
        outcome = "ok" if event.ok else "error"
        metric_attrs: dict[str, Any] = {
            "yativo.operation": event.operation, "yativo.outcome": outcome,
        }
        self._duration.record(event.elapsed, metric_attrs)
        entry = self._spans.pop(event.call_id, None)
        if entry is None:
            return
        span, token = entry
        span.set_attribute("yativo.attempts", event.attempts)
        span.set_attribute("yativo.retries", event.retries)
        span.set_attribute("yativo.rate_limit.waited_s", event.waited)
        if event.status is not None:
            span.set_attribute("http.response.status_code", event.status)
        if event.error is not None:
            span.set_attribute("error.type", event.error)
            span.set_status(self._status(self._error, event.error))
        self._context.detach(token)
        span.end()
