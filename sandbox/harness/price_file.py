"""The operator's price table: Burndown's defaults, overridden by a file and then by a setting.

The file is YAML or JSON, model name -> price (USD per million tokens), each with where it
comes from and when:

    gpt-5.5: {input: 1.0, output: 8.0, cached_input: 0.1, source: "our contract", as_of: 2026-11-01}

A model in neither the defaults, the file nor the setting has no price: its cost is unknown.
"""

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sandbox.errors import BurndownError
from sandbox.harness.prices import PriceTable, default_prices


class PriceFileError(BurndownError):
    """The operator's price file cannot be read or is not a price table."""


def read_price_file(path: Path) -> PriceTable:
    """The prices in `path`; `PriceFileError` when it is missing or malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PriceFileError(f"cannot read the price file {path}: {exc}") from exc
    return _table(data, f"the price file {path}")


def _table(data: Any, what: str) -> PriceTable:
    if data is None:
        return PriceTable()
    if not isinstance(data, dict):
        raise PriceFileError(f"{what} is not a mapping of model names to prices")
    prices = data.get("prices", data) if set(data) == {"prices"} else data
    try:
        return PriceTable.model_validate({"prices": prices})
    except ValidationError as exc:
        raise PriceFileError(f"{what} is not a valid price table: {exc}") from exc


def operator_prices(file: Path | None, overrides: dict[str, Any] | None = None) -> PriceTable:
    """The table in force: the defaults, then the file's prices, then the setting's."""
    table = default_prices()
    if file is not None:
        table = table.merged(read_price_file(file))
    if overrides:
        table = table.merged(_table(overrides, "the prices setting"))
    return table
