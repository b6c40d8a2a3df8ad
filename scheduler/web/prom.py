"""Prometheus metrics at `/metrics`, summed by the database from the rollups on each scrape
(`scheduler.report.fromstore`): a scrape reads a few hundred rows, not every run."""

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from scheduler.report.attribution import Period
from scheduler.report.fromstore import Facts, grouped
from scheduler.report.sql import Scope
from scheduler.report.weeks import refresh

WINDOW = timedelta(days=28)


class StoreCollector(Collector):
    """Counts over all time, and coverage and merge rate over the last 28 days."""

    def __init__(self, engine: Engine, now: datetime) -> None:
        self.engine, self.now = engine, now

    def collect(self) -> Iterator[Metric]:
        d, ever, recent = self.engine, Period(), Period(self.now - WINDOW, None)
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
        refresh(d)
        with d.connect() as conn:
            all_time, last = Facts(conn, Scope(ever)), Facts(conn, Scope(recent))
            for repo, m in grouped(all_time, "repo", self.now).items():
                tickets.add_metric([repo], m.handed)
                states = {"open": m.prs_open, "closed": m.prs_closed, "merged": m.prs_merged}
                for state, count in (states | {"reverted": m.prs_reverted}).items():
                    pulls.add_metric([repo, state], count)
            outcomes: Counter[tuple[str, str, str]] = Counter()
            for repo, _, harness, _, kind, n, *_ in all_time.runs():
                outcomes[(repo, harness, kind or "running")] += n
            for key, n in sorted(outcomes.items()):
                runs.add_metric(list(key), n)
            for repo, m in grouped(last, "repo", self.now).items():
                if m.backlog_coverage is not None:
                    coverage.add_metric([repo], m.backlog_coverage)
                if m.agent_coverage is not None:
                    handed.add_metric([repo], m.agent_coverage)
            recent_rate = grouped(last, "harness", self.now)
            for harness, m in grouped(all_time, "harness", self.now).items():
                tokens.add_metric([harness, "input"], m.input_tokens)
                tokens.add_metric([harness, "output"], m.output_tokens)
                cost.add_metric([harness], m.cost_usd)
                rm = recent_rate.get(harness)
                if rm is not None and rm.merge_rate is not None:
                    merge_rate.add_metric([harness], rm.merge_rate)
        yield from (runs, tokens, cost, pulls, tickets, coverage, handed, merge_rate)


def exposition(engine: Engine, now: datetime) -> bytes:
    """The text exposition format of the store's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine, now))
    return generate_latest(registry)
