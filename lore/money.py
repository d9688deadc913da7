"""Convert prices between 5e gold pieces and a world's own coins, and write them the way the world does.

Rules code and the SRD price everything in gp; players should read "2 cr 5 mk" in the Ashen Reach. The world's
economy document fixes how many of its smallest coin one 5e gp is worth (``gp_equivalent_cp``), and every coin's
worth in that smallest coin, so conversion is exact integer arithmetic after one rounding.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from lore.catalog import Catalog
from lore.facts import Currency
from mesh.errors import InvalidArgument


def _to_decimal(value: float | int | Decimal | str, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except ArithmeticError as exc:
        raise InvalidArgument([(field, f"not a number: {value!r}")]) from exc
    if not number.is_finite():
        raise InvalidArgument([(field, f"must be a finite number, got {value!r}")])
    return number


class Coinage:
    """A world's coins: conversions to its smallest coin (cp) and formatting in its realm-wide denominations."""

    __slots__ = ("base", "currencies", "denominations", "gp_equivalent_cp")

    def __init__(self, currencies: Iterable[Currency], base_currency: str, gp_equivalent_cp: int) -> None:
        self.currencies: Catalog[Currency] = Catalog(
            "currency",
            currencies,
            key=lambda c: c.id,
            labels=lambda c: [*c.labels(), c.abbreviation, c.plural_name],
        )
        base = self.currencies.find(base_currency)
        if base is None or base.value_cp != 1:
            raise ValueError(f"base_currency {base_currency!r} must name a currency worth 1 (value_cp: 1)")
        self.base = base
        self.gp_equivalent_cp = gp_equivalent_cp
        #: Coins used when writing prices: realm-wide ones quoted in prices, largest first.
        self.denominations: tuple[Currency, ...] = tuple(
            sorted(
                (c for c in self.currencies if c.circulation == "realm" and c.used_in_prices),
                key=lambda c: -c.value_cp,
            )
        )

    def to_cp(
        self, amount: float | int | Decimal | str, currency: str | None = None, field: str = "amount"
    ) -> int:
        """``amount`` of ``currency`` (id, name, plural or abbreviation; default the base coin) in cp, rounded."""
        coin = self.base if currency is None else self.currencies.get(currency, field="currency")
        value = _to_decimal(amount, field) * coin.value_cp
        return int(value.to_integral_value(rounding=ROUND_HALF_UP))

    def gp_to_cp(self, gp: float | int | Decimal | str, field: str = "price_gp") -> int:
        """A 5e price in gp as this world's smallest coin, rounded half up."""
        value = _to_decimal(gp, field) * self.gp_equivalent_cp
        return int(value.to_integral_value(rounding=ROUND_HALF_UP))

    def cp_to_gp(self, cp: int) -> float:
        """The 5e gp value of an amount in this world's smallest coin."""
        return cp / self.gp_equivalent_cp

    def split(self, cp: int) -> list[tuple[Currency, int]]:
        """Break an amount into realm coins, largest first (greedy: denominations are whole multiples)."""
        parts: list[tuple[Currency, int]] = []
        for coin in self.denominations:
            count, cp = divmod(cp, coin.value_cp)
            if count:
                parts.append((coin, count))
        return parts

    def format_cp(self, cp: int, style: Literal["short", "long"] = "short") -> str:
        """Write an amount in cp as coins: ``12 cr 5 mk`` (short) or ``12 crowns, 5 marks`` (long)."""
        if cp < 0:
            raise ValueError("amount must not be negative")
        parts = self.split(cp) or [(self.base, 0)]
        if style == "short":
            return " ".join(f"{count} {coin.abbreviation}" for coin, count in parts)
        return ", ".join(f"{count} {coin.name if count == 1 else coin.plural_name}" for coin, count in parts)

    def format_price(
        self,
        gp: float | int | Decimal | str,
        style: Literal["short", "long"] = "short",
        field: str = "price_gp",
    ) -> str:
        """Write a 5e price (gp) in this world's coins; any positive price is at least one smallest coin."""
        value = _to_decimal(gp, field)
        if value < 0:
            raise InvalidArgument([(field, f"must not be negative, got {gp}")])
        cp = self.gp_to_cp(value, field)
        if value > 0 and cp == 0:
            cp = 1
        return self.format_cp(cp, style)
