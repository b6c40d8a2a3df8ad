"""The report's weekly sums (`scheduler.report.weeks`): derived tables, kept apart from the
rows they sum (`worker.store.models`)."""

from sqlalchemy import BigInteger, Index, Text
from sqlmodel import Field, SQLModel


class ReportWeek(SQLModel, table=True):
    """One week's sums of one kind of entity, grouped as the report reads them
    (`scheduler.report.weeks`): kind run, ticket, resolution, pull, closed or pair. Derived from
    the source rows, recomputed for the weeks `ReportDirty` names; never edited by hand."""

    __table_args__ = (Index("ix_reportweek_kind_week", "kind", "week"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    week: str = Field(max_length=10)  # its Monday, YYYY-MM-DD (UTC)
    repo: str | None = Field(default=None, max_length=255)
    labels: str | None = Field(default=None, sa_type=Text)
    a: str | None = Field(default=None, sa_type=Text)  # the kind's own keys (weeks.py)
    b: str | None = Field(default=None, sa_type=Text)
    c: str | None = Field(default=None, sa_type=Text)
    d: str | None = Field(default=None, sa_type=Text)
    flag: int = 0
    n: int = Field(default=0, sa_type=BigInteger)
    x1: int | None = Field(default=None, sa_type=BigInteger)
    x2: int | None = Field(default=None, sa_type=BigInteger)
    x3: int | None = Field(default=None, sa_type=BigInteger)
    x4: int | None = Field(default=None, sa_type=BigInteger)
    cost: float | None = None
    l1: str | None = Field(default=None, sa_type=Text)
    l2: str | None = Field(default=None, sa_type=Text)


class ReportDirty(SQLModel, table=True):
    """A week whose `ReportWeek` rows are stale: appended by the database's triggers on every
    write to the rows they sum (migration 0010), taken by the next report."""

    id: int | None = Field(default=None, primary_key=True)
    week: str = Field(max_length=10)


class ReportVersion(SQLModel, table=True):
    """One row, bumped by every refresh of `ReportWeek`: what a cached report is valid for."""

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0, sa_type=BigInteger)
