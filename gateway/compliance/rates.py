"""The dated rate table for waiting days: shipped as data, later years added by configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

SHIPPED_RATES = Path(__file__).resolve().parents[2] / "schemas" / "waiting-day-rates.yaml"


class RateError(ValueError):
    """A rate file that cannot be used; the text names the file and the year."""


@dataclass(frozen=True)
class RateTable:
    rates: dict[int, int] = field(default_factory=dict)  # year → kr per day
    currency: str = "NOK"

    def rate(self, year: int) -> int | None:
        """The year's rate, or None: a year with no rate has no amount, it is never guessed."""
        return self.rates.get(year)


def load_rates(paths: list[Path]) -> RateTable:
    """Read rate files in order; a later file adds years, and may not change a year already given."""
    rates: dict[int, int] = {}
    currency = "NOK"
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise RateError(f"{Path(path).name}: cannot read: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise RateError(f"{Path(path).name}: not valid YAML: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("rates"), dict):
            raise RateError(
                f"{Path(path).name}: field 'rates': a mapping from year to kr per day is required"
            )
        if data.get("currency", currency) != currency:
            raise RateError(f"{Path(path).name}: field 'currency': every rate file must use {currency}")
        for year, amount in data["rates"].items():
            if not isinstance(year, int) or not 2000 <= year <= 2200:
                raise RateError(f"{Path(path).name}: rates: {year!r} is not a year")
            if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
                raise RateError(
                    f"{Path(path).name}: rates.{year}: {amount!r} is not a whole number of kr above 0"
                )
            if year in rates and rates[year] != amount:
                raise RateError(
                    f"{Path(path).name}: rates.{year}: already {rates[year]} kr in an earlier file; "
                    "a rate file adds years, it does not change one"
                )
            rates[year] = amount
    return RateTable(rates, currency)
