"""Model prices, for harnesses that report tokens but no cost (Codex, Aider, mini-swe-agent
without a price for its model). An unknown model has no price: its cost is unknown (None),
never zero.

The table is data, not code: `PriceTable.model_validate(...)` reads an operator's own table
(e.g. a gateway's negotiated prices); `default_prices()` gives list prices per million tokens.
"""

from datetime import date
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from sandbox.harness.events import Usage


class ModelPrice(BaseModel):
    """USD per million tokens. `cached_input` defaults to `input` when a provider has no
    cache discount."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(None, ge=0)
    source: str | None = None
    """Where the price comes from (a vendor's price page, a contract, the operator's file)."""
    as_of: date | None = None
    """When it was read there."""


class PriceTable(BaseModel):
    """Model name -> price. A name matches exactly, or after dropping a `provider/` prefix
    (`openai/gpt-5.5` -> `gpt-5.5`), as LiteLLM-style model names carry one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prices: dict[str, ModelPrice] = Field(default_factory=dict)

    def merged(self, other: "PriceTable") -> "PriceTable":
        """This table with `other`'s prices in place of (or besides) its own."""
        return PriceTable(prices={**self.prices, **other.prices})

    def price_of(self, model: str | None) -> ModelPrice | None:
        if not model:
            return None
        return self.prices.get(model) or self.prices.get(model.rsplit("/", 1)[-1])

    def cost_usd(self, model: str | None, usage: Usage) -> float | None:
        """The cost of `usage` on `model`; None when the model has no price here."""
        price = self.price_of(model)
        if price is None:
            return None
        cached = price.input if price.cached_input is None else price.cached_input
        total = (
            usage.input_tokens * price.input
            + usage.cached_tokens * cached
            + usage.output_tokens * price.output
        )
        return round(total / 1_000_000, 8)


@cache
def default_prices() -> PriceTable:
    """List prices of the models the default configurations use (USD per million tokens), each
    with its source and the date it was read."""
    table = PriceTable.model_validate(
        {
            "prices": {
                "gpt-5.5": {"input": 1.25, "cached_input": 0.125, "output": 10.0},
                "gpt-5.5-mini": {"input": 0.25, "cached_input": 0.025, "output": 2.0},
                "gpt-5": {"input": 1.25, "cached_input": 0.125, "output": 10.0},
                "gpt-5-mini": {"input": 0.25, "cached_input": 0.025, "output": 2.0},
                "gpt-4.1": {"input": 2.0, "cached_input": 0.5, "output": 8.0},
                "o3": {"input": 2.0, "cached_input": 0.5, "output": 8.0},
                "claude-opus-5-5": {"input": 5.0, "cached_input": 0.5, "output": 25.0},
                "claude-sonnet-4-5": {"input": 3.0, "cached_input": 0.3, "output": 15.0},
                "claude-haiku-4-5": {"input": 1.0, "cached_input": 0.1, "output": 5.0},
            }
        }
    )
    return PriceTable(
        prices={
            name: p.model_copy(update={"source": _SOURCES[name.split("-")[0]], "as_of": _AS_OF})
            for name, p in table.prices.items()
        }
    )


_AS_OF = date(2026, 12, 1)  # when these entered Burndown's table; an operator's file overrides
_SOURCES = {
    "gpt": "Burndown's default table: OpenAI list price",
    "o3": "Burndown's default table: OpenAI list price",
    "claude": "Burndown's default table: Anthropic list price",
}
