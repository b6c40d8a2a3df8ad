"""A column of enum values kept as plain VARCHAR: the schema holds the enum's values, not a
database enum type, so adding a member never needs a migration and rows read back as members."""

from enum import StrEnum
from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class EnumColumn(TypeDecorator[StrEnum]):
    """`String(length)` in the database, a member of `enum` in Python.

    A value that is not one of the enum's is refused on write (a `StatementError`, which the
    store translates) and on read (a `ValueError`): a typo never reaches the table.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum
        self.length = length

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)
