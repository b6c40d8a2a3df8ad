"""Prometheus metrics at `/metrics`, computed from the store on each scrape."""

from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scheduler.report.attribution import Derived, Period
from scheduler.report.metrics import grouped, metrics

WINDOW = timedelta(days=28)


class StoreCollector(Collector):
    """Counts over all time, and coverage and merge rate over the last 28 days."""

    def __init__(self, d: Derived, now: datetime) -> None:
        self.d, self.now = d, now

    def collect(self) -> Iterator[Metric]:
        d, ever, recent = self.d, Period(), Period(self.now - WINDOW, None)
        runs = CounterMetricFamily(
            "burndown_runs", "Agent runs by outcome.", labels=["repo", "harness", "outcome"]
        )
        tokens = CounterMetricFamily(
            "burndown_tokens", "Model tokens used by runs.", labels=["harness", "kind"]
        )
        cost = CounterMetricFamily("burndown_cost_usd", "Cost of runs in USD.", labels=["harness"])
        pulls = GaugeMetricFamily(
            "burndown_pull_requests", "Agent pull requests by state.", labels=["repo", "state"]
        )
        tickets = GaugeMetricFamily(
            "burndown_tickets", "Tickets handed to the agent.", labels=["repo"]
        )
        coverage = GaugeMetricFamily(
            "burndown_backlog_coverage_ratio",
            "Issues resolved by a kept agent merge over issues closed, last 28 days.",
            labels=["repo"],
        )
        handed = GaugeMetricFamily(
            "burndown_agent_coverage_ratio",
            "Tickets handed in the last 28 days that are resolved.",
            labels=["repo"],
        )
        merge_rate = GaugeMetricFamily(
            "burndown_merge_rate_ratio",
            "Merged over decided pull requests opened in the last 28 days.",
            labels=["harness"],
        )
        for repo, m in grouped(d, ever, "repo").items():
            tickets.add_metric([repo], m.handed)
            states = {"open": m.prs_open, "closed": m.prs_closed, "merged": m.prs_merged}
            for state, count in (states | {"reverted": m.prs_reverted}).items():
                pulls.add_metric([repo, state], count)
            for harness, hm in grouped(d, ever, "harness", {"repo": repo}).items():
                for outcome, n in sorted(hm.outcomes.items()):
                    runs.add_metric([repo, harness, outcome], n)
        for repo, m in grouped(d, recent, "repo").items():
            if m.backlog_coverage is not None:
                coverage.add_metric([repo], m.backlog_coverage)
            if m.agent_coverage is not None:
                handed.add_metric([repo], m.agent_coverage)
        for harness, m in grouped(d, ever, "harness").items():
            tokens.add_metric([harness, "input"], m.input_tokens)
            tokens.add_metric([harness, "output"], m.output_tokens)
            cost.add_metric([harness], m.cost_usd)
            rm = metrics(d, recent, {"harness": harness})
            if rm.merge_rate is not None:
                merge_rate.add_metric([harness], rm.merge_rate)
        yield from (runs, tokens, cost, pulls, tickets, coverage, handed, merge_rate)


def exposition(d: Derived, now: datetime) -> bytes:
    """The text exposition format of the store's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(d, now))
    return generate_latest(registry)
