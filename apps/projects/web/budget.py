"""The budget burn chart of a project page: what was used of the budget, as
numbers for an accessible server-rendered SVG and the table beside it.

The figures are the API's (``ProjectSerializer.budget``): hours for everyone,
money (budget amount and amount spent) only where
:func:`apps.projects.permissions.may_view_rates` lets the caller see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from apps.projects.models import Project
from apps.projects.selectors import BudgetSpent

#: Width of the chart's bars, in SVG user units (the SVG scales to its box).
BAR_WIDTH = 300


@dataclass(frozen=True)
class Burn:
    """One measure of a budget (hours, or an amount in a currency)."""

    label: str
    unit: str
    budget: Decimal
    spent: Decimal
    y: int = 0

    @property
    def remaining(self) -> Decimal:
        return self.budget - self.spent

    @property
    def percent(self) -> int:
        if self.budget <= 0:
            return 100 if self.spent > 0 else 0
        return round(self.spent * 100 / self.budget)

    @property
    def over(self) -> bool:
        return self.spent > self.budget

    @property
    def bar(self) -> int:
        """The spent bar's width (at most the whole track)."""
        return round(BAR_WIDTH * min(self.percent, 100) / 100)

    @property
    def text(self) -> str:
        return _("%(spent)s of %(budget)s %(unit)s") % {
            "spent": _number(self.spent),
            "budget": _number(self.budget),
            "unit": self.unit,
        }


@dataclass(frozen=True)
class BudgetChart:
    burns: list[Burn]

    @property
    def name(self) -> str:
        """The chart's accessible name: what it shows, with the numbers."""
        return _("Budget burn: %(figures)s") % {"figures": "; ".join(b.text for b in self.burns)}

    @property
    def height(self) -> int:
        return 36 * len(self.burns)


def _number(value: Decimal) -> str:
    """``32``, ``32.5``, ``1000.25``: no trailing zeros."""
    text = f"{value.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def budget_chart(
    project: Project, spent: BudgetSpent, *, show_money: bool, currency: str
) -> BudgetChart | None:
    """The chart of ``project``'s budget, or ``None`` when it has none (that
    the caller may see: a money-only budget is none for those without money)."""
    burns: list[Burn] = []
    if project.budget_hours is not None:
        burns.append(Burn(_("Hours"), _("hours"), project.budget_hours, spent.hours))
    if show_money and project.budget_amount is not None:
        amount = spent.amount.quantize(Decimal("0.01"))
        label = _("Amount (%(currency)s)") % {"currency": currency}
        burns.append(Burn(label, currency, project.budget_amount, amount))
    burns = [Burn(b.label, b.unit, b.budget, b.spent, y=36 * i) for i, b in enumerate(burns)]
    return BudgetChart(burns) if burns else None
