"""A small typed client of Prometheus' HTTP API (`/api/v1/query_range`, `/api/v1/query`).

The Monitoring Service of `002_…` (Section IV) pulls its metrics from Prometheus; this is
how the closed loop reads them. Parsing is pure (`parse_matrix`, `parse_vector`), and
every way an answer can be wrong — not reachable, an HTTP error, not JSON, Prometheus'
own `"status": "error"`, another result type, a value that is not a number — raises
`PrometheusError` naming the query and what was wrong.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import numpy as np


class PrometheusError(RuntimeError):
    """Prometheus could not be asked, or answered something other than data."""


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels, sample times (Unix s) and values."""

    labels: dict[str, str]
    times: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class InstantSample:
    """One series of an instant query: labels, time and value."""

    labels: dict[str, str]
    time: float
    value: float


def _data(payload: Any, query: str, kind: str) -> list[Any]:
    if not isinstance(payload, dict):
        raise PrometheusError(f"{query!r}: the answer is not a JSON object")
    if payload.get("status") != "success":
        error = payload.get("error") or "no error text"
        raise PrometheusError(f"{query!r}: {payload.get('errorType', 'error')}: {error}")
    data = payload.get("data")
    if not isinstance(data, dict) or data.get("resultType") != kind:
        got = data.get("resultType") if isinstance(data, dict) else None
        raise PrometheusError(f"{query!r}: expected a {kind} result, got {got!r}")
    result = data.get("result")
    if not isinstance(result, list):
        raise PrometheusError(f"{query!r}: the result is not a list")
    return result


def _point(point: Any, query: str) -> tuple[float, float]:
    """A [time, "value"] pair; Prometheus writes NaN and ±Inf as strings too."""
    if not isinstance(point, list) or len(point) != 2 or not isinstance(point[1], str):
        raise PrometheusError(f'{query!r}: a sample is not [time, "value"]: {point!r}')
    try:
        return float(point[0]), float(point[1])
    except (TypeError, ValueError):
        raise PrometheusError(f"{query!r}: a sample is not a number: {point!r}") from None


def _labels(item: Any, query: str) -> dict[str, str]:
    metric = item.get("metric") if isinstance(item, dict) else None
    if not isinstance(metric, dict):
        raise PrometheusError(f"{query!r}: a series has no label set")
    return {str(k): str(v) for k, v in metric.items()}


def parse_matrix(payload: Any, query: str = "") -> list[RangeSeries]:
    """The series of a decoded `query_range` answer."""
    series = []
    for item in _data(payload, query, "matrix"):
        points = [_point(p, query) for p in item.get("values", [])]
        times = np.array([t for t, _ in points], dtype=float)
        values = np.array([v for _, v in points], dtype=float)
        series.append(RangeSeries(_labels(item, query), times, values))
    return series


def parse_vector(payload: Any, query: str = "") -> list[InstantSample]:
    """The samples of a decoded instant `query` answer."""
    samples = []
    for item in _data(payload, query, "vector"):
        t, value = _point(item.get("value"), query)
        samples.append(InstantSample(_labels(item, query), t, value))
    return samples


class PrometheusClient:
    """Queries one Prometheus server (`url` like http://127.0.0.1:9090)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise PrometheusError(f"{url!r} is not an http:// or https:// URL of a Prometheus")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str], query: str) -> Any:
        address = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(address, timeout=self.timeout) as answer:
                body = answer.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()  # Prometheus explains a 400/422/503 in a JSON body
            if not body.startswith(b"{"):
                raise PrometheusError(f"{query!r}: HTTP {exc.code} from {self.url}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {reason}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise PrometheusError(f"{query!r}: the answer from {self.url} is not JSON") from None

    def query_range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
        """`query` evaluated every `step` seconds from `start` to `end` (Unix s)."""
        if not (math.isfinite(start) and math.isfinite(end) and end >= start and step > 0):
            raise PrometheusError(f"{query!r}: bad range {start}–{end} step {step}")
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return parse_matrix(self._get("/api/v1/query_range", params, query), query)

    def query(self, query: str, at: float | None = None) -> list[InstantSample]:
        """`query` evaluated at `at` (default: now)."""
        params = {"query": query} | ({} if at is None else {"time": f"{at:.3f}"})
        return parse_vector(self._get("/api/v1/query", params, query), query)

    def ready(self) -> bool:
        """Whether the server answers its readiness probe."""
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=self.timeout) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False
