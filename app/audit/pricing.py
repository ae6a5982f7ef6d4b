"""What a model call costs: a per-model price table, in US dollars per 1M tokens.

The default table covers common OpenAI models at their published list prices (standard tier, no
batch or cached-input discounts). Prices change and contracts differ, so an operator can replace
or extend it with `STEWARD_DATA_DIR/prices.yml` (YAML or JSON):

    gpt-4o-mini: {input: 0.15, output: 0.60}
    my-vllm-model: {input: 0, output: 0}

Entries in the file override the defaults of the same name; the rest of the defaults stay. A model
name matches its exact entry, else the longest entry it starts with, so a dated snapshot such as
`gpt-4o-mini-2024-07-18` is priced as `gpt-4o-mini`. The offline engine costs nothing. A model
with no entry is *unpriced*: its tokens are counted, its cost is reported as unknown, never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PRICES_FILE = "prices.yml"


class Price(BaseModel):
    """US dollars per 1M input and output tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input + tokens_out * self.output) / 1_000_000


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-5": Price(input=1.25, output=10.00),
    "gpt-5-mini": Price(input=0.25, output=2.00),
    "gpt-5-nano": Price(input=0.05, output=0.40),
    "gpt-4.1": Price(input=2.00, output=8.00),
    "gpt-4.1-mini": Price(input=0.40, output=1.60),
    "gpt-4.1-nano": Price(input=0.10, output=0.40),
    "gpt-4o": Price(input=2.50, output=10.00),
    "gpt-4o-mini": Price(input=0.15, output=0.60),
    "gpt-4-turbo": Price(input=10.00, output=30.00),
    "gpt-3.5-turbo": Price(input=0.50, output=1.50),
    "o1": Price(input=15.00, output=60.00),
    "o3": Price(input=2.00, output=8.00),
    "o3-mini": Price(input=1.10, output=4.40),
    "o4-mini": Price(input=1.10, output=4.40),
}


class PricesError(ValueError):
    """The prices file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, Price]
    source: str = "built-in"

    def price_for(self, model: str | None, engine: str | None = None) -> Price | None:
        """The price of `model`; zero for the offline engine; None when the model is unknown."""
        if engine == "offline":
            return Price(input=0, output=0)
        if not model:
            return None
        if model in self.prices:
            return self.prices[model]
        prefixes = [name for name in self.prices if model.startswith(name)]
        return self.prices[max(prefixes, key=len)] if prefixes else None

    def cost(
        self, model: str | None, engine: str | None, tokens_in: int, tokens_out: int
    ) -> float | None:
        price = self.price_for(model, engine)
        return None if price is None else price.cost(tokens_in, tokens_out)


def load_prices(data_dir: Path | None) -> PriceTable:
    """The defaults, overridden by `data_dir/prices.yml` when it exists. Raises PricesError."""
    path = data_dir / PRICES_FILE if data_dir is not None else None
    if path is None or not path.is_file():
        return PriceTable(DEFAULT_PRICES)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PricesError(f"{path} is unreadable: {type(exc).__name__}") from None
    if not isinstance(raw, dict):
        raise PricesError(f"{path} must map model names to {{input: …, output: …}}")
    table = dict(DEFAULT_PRICES)
    for name, value in raw.items():
        try:
            table[str(name)] = Price.model_validate(value)
        except ValidationError:
            raise PricesError(
                f"{path}: {name!s} must be {{input: <USD per 1M>, output: <USD per 1M>}}, "
                "both numbers ≥ 0"
            ) from None
    return PriceTable(table, source=str(path))
