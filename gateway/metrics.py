"""Process-local counters and gauges, rendered in the Prometheus text format at /metrics.

Counters are per process (Prometheus sums them across gateways); state that lives in Redis
(queue depths, stream lag) is read at scrape time by the /metrics handler instead."""

from __future__ import annotations

from collections import defaultdict

_HELP: dict[str, str] = {}


def describe(name: str, help_text: str) -> None:
    _HELP[name] = help_text


def _fmt_labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    def __init__(self) -> None:
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._gauges: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self._counters[name]
        series[key] = series.get(key, 0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        self._gauges[name][tuple(sorted(labels.items()))] = value

    def value(self, name: str, **labels: str) -> float:
        key = tuple(sorted(labels.items()))
        return self._counters.get(name, {}).get(key, self._gauges.get(name, {}).get(key, 0))

    def render(self, extra_gauges: dict[str, dict[tuple[tuple[str, str], ...], float]]
               | None = None) -> str:
        lines: list[str] = []
        for kind, table in (("counter", self._counters), ("gauge", {**self._gauges,
                                                                     **(extra_gauges or {})})):
            for name in sorted(table):
                if name in _HELP:
                    lines.append(f"# HELP {name} {_HELP[name]}")
                lines.append(f"# TYPE {name} {kind}")
                for labels, value in sorted(table[name].items()):
                    lines.append(f"{name}{_fmt_labels(labels)} {value:g}")
        return "\n".join(lines) + "\n"
