"""How each merchant group behaves: the signal a model can learn from the synthetic data.

Every distribution here overlaps with its neighbours on purpose. The target is a data set
where a gradient-boosted model clearly beats the majority class (SERVICO, ~36%) but cannot
read the label off a single column: restaurants and pharmacies share amounts, supermarkets
and restaurants share weekends, online retail and M.O.T.O. share web addresses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from txcat import schema

#: Where a merchant city comes from, in the order of `CategoryBehaviour.city`.
CITY_MODES: tuple[str, ...] = (
    "local",  # the customer's own city: neighbourhood shops
    "favourite",  # one of a few cities the customer keeps returning to (work, family)
    "hub",  # where online shops, airlines and acquirers are registered
    "tourist",  # holiday destinations
    "random",  # any Brazilian city
    "url",  # card-not-present: a web address in the city field
    "phone",  # card-not-present: a phone number in the city field
    "empty",
)

#: Monday..Sunday weights.
_WEEK = (1.0, 1.0, 1.0, 1.0, 1.1, 0.9, 0.6)
_WEEKEND = (0.7, 0.7, 0.7, 0.8, 1.1, 1.9, 1.3)
_BUSINESS = (1.3, 1.2, 1.2, 1.2, 1.2, 0.4, 0.2)
_FLAT = (1.0,) * 7


@dataclass(frozen=True)
class CategoryBehaviour:
    """Distributions of one merchant group.

    Attributes:
        median: Median amount in reais (log-normal).
        sigma: Log-normal spread of the amount.
        whole: Share of amounts in whole reais.
        round10: Share of amounts in multiples of R$10 (fuel: "fill R$100").
        charm: Share of ",90" / ",99" retail prices.
        weekday: Relative weight of Monday..Sunday.
        payday: Weight multiplier for days 1-10 of the month (salary days).
        holiday: Weight multiplier on national holidays.
        city: Probability of each of `CITY_MODES`.
        foreign: Probability of a foreign merchant country.
        group: Vocabulary group for web addresses, phones and foreign countries.
        age: Log preference per standard deviation of customer age.
        female: Log preference for female customers (negative: male).
        limit: Log preference per standard deviation of log credit limit.
        subscription: Share of rows that are a recurring charge of the account.
        missing_amount: Share of rows without an amount (financial transfers only).
    """

    median: float
    sigma: float
    city: tuple[float, ...]
    foreign: float
    group: str = "retail"
    whole: float = 0.1
    round10: float = 0.0
    charm: float = 0.0
    weekday: tuple[float, ...] = _WEEK
    payday: float = 1.0
    holiday: float = 1.0
    age: float = 0.0
    female: float = 0.0
    limit: float = 0.0
    subscription: float = 0.0
    missing_amount: float = 0.0


#   city modes:    local fav   hub   tour  rand  url   phone empty
BEHAVIOUR: dict[str, CategoryBehaviour] = {
    "SERVICO": CategoryBehaviour(
        60, 0.75, (0.32, 0.17, 0.20, 0.00, 0.10, 0.13, 0.05, 0.03), 0.06, "digital",
        whole=0.15, charm=0.25, weekday=_BUSINESS, holiday=0.4, age=-0.1, limit=0.05,
        subscription=0.55,
    ),
    "RESTAURANTE": CategoryBehaviour(
        42, 0.5, (0.45, 0.30, 0.08, 0.08, 0.07, 0.01, 0.00, 0.01), 0.015, "travel",
        whole=0.2, weekday=(0.5, 0.6, 0.7, 0.9, 1.6, 1.9, 1.5), holiday=1.8, age=-0.25,
        limit=0.1,
    ),
    "VAREJO": CategoryBehaviour(
        85, 0.8, (0.25, 0.12, 0.33, 0.02, 0.13, 0.12, 0.01, 0.02), 0.02, "retail",
        charm=0.3, payday=1.2, female=0.05,
    ),
    "SUPERMERCADOS": CategoryBehaviour(
        130, 0.75, (0.70, 0.18, 0.04, 0.02, 0.05, 0.005, 0.0, 0.005), 0.003, "travel",
        whole=0.05, weekday=_WEEKEND, payday=1.4, holiday=0.7, age=0.25, female=0.1,
        limit=-0.1,
    ),
    "VESTUARIO": CategoryBehaviour(
        160, 0.6, (0.35, 0.15, 0.30, 0.03, 0.12, 0.04, 0.0, 0.01), 0.02, "travel",
        charm=0.35, weekday=_WEEKEND, payday=1.3, age=-0.2, female=0.35,
    ),
    "FARMACIAS": CategoryBehaviour(
        32, 0.55, (0.65, 0.18, 0.06, 0.02, 0.08, 0.005, 0.0, 0.005), 0.003, "travel",
        charm=0.15, age=0.45, female=0.25,
    ),
    "POSTO DE GAS": CategoryBehaviour(
        110, 0.45, (0.45, 0.15, 0.05, 0.07, 0.27, 0.0, 0.0, 0.01), 0.005, "travel",
        whole=0.2, round10=0.5, weekday=(1.0, 1.0, 1.0, 1.0, 1.3, 1.2, 0.8), female=-0.35,
    ),
    "M.O.T.O.": CategoryBehaviour(
        70, 1.1, (0.05, 0.03, 0.10, 0.00, 0.05, 0.42, 0.30, 0.05), 0.40, "digital",
        whole=0.15, charm=0.1, weekday=_FLAT, age=-0.4, limit=0.15, subscription=0.2,
    ),
    "ARTIGOS ELETRO": CategoryBehaviour(
        650, 0.8, (0.30, 0.08, 0.35, 0.00, 0.12, 0.12, 0.01, 0.02), 0.04, "retail",
        charm=0.3, payday=1.2, female=-0.2, limit=0.2, age=-0.1,
    ),
    "LOJA DE DEPART": CategoryBehaviour(
        180, 0.8, (0.45, 0.15, 0.22, 0.02, 0.12, 0.03, 0.0, 0.01), 0.02, "retail",
        charm=0.3, weekday=_WEEKEND, payday=1.2, female=0.15,
    ),
    "CIA AEREAS": CategoryBehaviour(
        900, 0.7, (0.05, 0.00, 0.45, 0.05, 0.05, 0.25, 0.12, 0.03), 0.30, "travel",
        weekday=_FLAT, limit=0.6,
    ),
    "HOTEIS": CategoryBehaviour(
        500, 0.8, (0.05, 0.00, 0.15, 0.55, 0.10, 0.12, 0.02, 0.01), 0.30, "travel",
        weekday=(0.8, 0.8, 0.8, 0.9, 1.2, 1.4, 1.1), holiday=1.8, limit=0.5, age=0.1,
    ),
    "SEM RAMO": CategoryBehaviour(
        100, 1.2, (0.30, 0.10, 0.15, 0.05, 0.20, 0.10, 0.05, 0.05), 0.06, "digital",
        whole=0.2,
    ),
    "HOSP E CLINICA": CategoryBehaviour(
        250, 1.0, (0.60, 0.20, 0.10, 0.00, 0.08, 0.01, 0.00, 0.01), 0.01, "travel",
        whole=0.4, weekday=_BUSINESS, holiday=0.5, age=0.6, female=0.2,
    ),
    "MOVEIS E DECOR": CategoryBehaviour(
        700, 0.9, (0.45, 0.10, 0.25, 0.00, 0.12, 0.06, 0.00, 0.02), 0.02, "retail",
        charm=0.3, weekday=_WEEKEND, age=0.2, limit=0.2,
    ),
    "MAT CONSTRUCAO": CategoryBehaviour(
        300, 1.0, (0.60, 0.15, 0.08, 0.00, 0.15, 0.01, 0.00, 0.01), 0.005, "retail",
        weekday=(1.0, 1.0, 1.0, 1.0, 1.1, 1.5, 0.3), age=0.3, female=-0.3,
    ),
    "AUTO PECAS": CategoryBehaviour(
        250, 0.9, (0.50, 0.15, 0.10, 0.03, 0.20, 0.01, 0.00, 0.01), 0.01, "retail",
        whole=0.25, weekday=_BUSINESS, female=-0.5,
    ),
    "AGENCIA DE TUR": CategoryBehaviour(
        1200, 0.8, (0.20, 0.05, 0.30, 0.15, 0.05, 0.18, 0.05, 0.02), 0.25, "travel",
        weekday=_FLAT, age=0.2, limit=0.5,
    ),
    "TRANS FINANC": CategoryBehaviour(
        400, 1.0, (0.40, 0.00, 0.40, 0.00, 0.15, 0.00, 0.00, 0.05), 0.01, "digital",
        whole=0.5, weekday=_BUSINESS, limit=-0.5, missing_amount=0.65,
    ),
    "JOALHERIA": CategoryBehaviour(
        450, 0.9, (0.40, 0.10, 0.25, 0.05, 0.15, 0.04, 0.00, 0.01), 0.05, "travel",
        charm=0.2, female=0.3, limit=0.3, age=0.1,
    ),
    "INEXISTENTE": CategoryBehaviour(
        90, 1.2, (0.15, 0.05, 0.15, 0.05, 0.20, 0.15, 0.10, 0.15), 0.10, "digital",
        whole=0.2,
    ),
    "ALUG DE CARROS": CategoryBehaviour(
        400, 0.7, (0.05, 0.00, 0.20, 0.45, 0.10, 0.12, 0.05, 0.03), 0.30, "travel",
        weekday=(1.0, 0.9, 0.9, 1.0, 1.4, 1.2, 0.8), holiday=1.6, female=-0.2, limit=0.5,
    ),
}  # fmt: skip


#: Calibration to the bank's real export (rows 2019-04..2020-01): per-group median amount and
#: log spread, whole / multiple-of-10 shares, foreign share, and far fewer web addresses and
#: phone numbers in the city field (0.6% of SERVICO rows, 7% of M.O.T.O. rows carry digits; no
#: URLs at all). Most merchants are registered in a hub city whatever their group.
#   city modes:    local fav   hub   tour  rand  url   phone empty
REAL_CALIBRATION: dict[str, dict[str, object]] = {
    "SERVICO": {
        "median": 15,
        "sigma": 1.05,
        "whole": 0.11,
        "round10": 0.08,
        "charm": 0.1,
        "foreign": 0.002,
        "city": (0.38, 0.15, 0.38, 0.0, 0.06, 0.01, 0.005, 0.015),
        "subscription": 0.15,
        "weekday": (1.1, 1.1, 1.1, 1.1, 1.1, 0.8, 0.7),
        "holiday": 0.8,
    },
    "RESTAURANTE": {
        "median": 32,
        "sigma": 1.1,
        "whole": 0.25,
        "round10": 0.07,
        "charm": 0.15,
        "foreign": 0.002,
        "weekday": (0.8, 0.8, 0.9, 1.0, 1.2, 1.3, 1.0),
    },
    "VAREJO": {
        "median": 45,
        "sigma": 1.1,
        "whole": 0.1,
        "round10": 0.08,
        "charm": 0.25,
        "foreign": 0.003,
        "city": (0.25, 0.12, 0.45, 0.02, 0.14, 0.01, 0.0, 0.01),
    },
    "SUPERMERCADOS": {
        "median": 38,
        "sigma": 1.0,
        "whole": 0.25,
        "round10": 0.04,
        "charm": 0.07,
        "foreign": 0.005,
    },
    "VESTUARIO": {
        "median": 135,
        "sigma": 0.9,
        "whole": 0.22,
        "round10": 0.11,
        "charm": 0.26,
        "foreign": 0.005,
    },
    "FARMACIAS": {"median": 47, "sigma": 0.85, "whole": 0.04, "round10": 0.0, "charm": 0.1},
    "POSTO DE GAS": {
        "median": 58,
        "sigma": 0.8,
        "whole": 0.14,
        "round10": 0.51,
        "charm": 0.04,
        "foreign": 0.0,
    },
    "M.O.T.O.": {
        "median": 45,
        "sigma": 1.2,
        "whole": 0.08,
        "round10": 0.07,
        "charm": 0.34,
        "foreign": 0.07,
        "city": (0.20, 0.10, 0.55, 0.0, 0.08, 0.04, 0.03, 0.0),
        "subscription": 0.15,
    },
    "ARTIGOS ELETRO": {
        "median": 30,
        "sigma": 1.2,
        "whole": 0.34,
        "round10": 0.12,
        "charm": 0.19,
        "foreign": 0.03,
        "city": (0.30, 0.08, 0.46, 0.0, 0.13, 0.01, 0.01, 0.01),
    },
    "LOJA DE DEPART": {
        "median": 84,
        "sigma": 1.1,
        "whole": 0.18,
        "round10": 0.05,
        "charm": 0.14,
        "city": (0.45, 0.15, 0.24, 0.02, 0.12, 0.01, 0.0, 0.01),
    },
    "CIA AEREAS": {
        "median": 405,
        "sigma": 1.1,
        "whole": 0.07,
        "round10": 0.03,
        "foreign": 0.03,
        "city": (0.10, 0.0, 0.75, 0.05, 0.05, 0.03, 0.01, 0.01),
    },
    "HOTEIS": {
        "median": 113,
        "sigma": 1.3,
        "whole": 0.28,
        "round10": 0.1,
        "charm": 0.24,
        "foreign": 0.05,
        "city": (0.05, 0.0, 0.25, 0.55, 0.13, 0.01, 0.0, 0.01),
    },
    "SEM RAMO": {
        "median": 22,
        "sigma": 0.9,
        "whole": 0.07,
        "foreign": 0.005,
        "city": (0.30, 0.10, 0.28, 0.05, 0.20, 0.01, 0.01, 0.05),
    },
    "HOSP E CLINICA": {"median": 320, "sigma": 1.0, "whole": 0.19, "round10": 0.69},
    "MOVEIS E DECOR": {
        "median": 233,
        "sigma": 1.4,
        "whole": 0.2,
        "round10": 0.3,
        "charm": 0.1,
        "city": (0.45, 0.10, 0.30, 0.0, 0.12, 0.01, 0.0, 0.02),
    },
    "MAT CONSTRUCAO": {"median": 50, "sigma": 1.4, "whole": 0.18, "round10": 0.18, "charm": 0.18},
    "AUTO PECAS": {"median": 320, "sigma": 1.3, "whole": 0.33, "round10": 0.42},
    "AGENCIA DE TUR": {
        "median": 980,
        "sigma": 0.8,
        "whole": 0.34,
        "round10": 0.33,
        "foreign": 0.03,
        "city": (0.20, 0.05, 0.51, 0.15, 0.05, 0.02, 0.0, 0.02),
    },
    "JOALHERIA": {
        "median": 170,
        "sigma": 0.5,
        "foreign": 0.01,
        "city": (0.40, 0.10, 0.28, 0.05, 0.15, 0.01, 0.0, 0.01),
    },
    "INEXISTENTE": {"foreign": 0.02, "city": (0.15, 0.05, 0.35, 0.05, 0.20, 0.03, 0.02, 0.15)},
    "ALUG DE CARROS": {
        "median": 700,
        "sigma": 0.7,
        "foreign": 0.05,
        "city": (0.05, 0.0, 0.36, 0.45, 0.10, 0.01, 0.0, 0.03),
    },
}
BEHAVIOUR = {
    # The calibration's values are of each field's own type (floats, tuples of floats); one
    # dict of mixed values cannot say so to mypy, and `replace` checks the field names at run time.
    name: dataclasses.replace(b, **REAL_CALIBRATION.get(name, {}))  # type: ignore[arg-type]
    for name, b in BEHAVIOUR.items()
}


def behaviours() -> tuple[CategoryBehaviour, ...]:
    """Return the behaviour of every category in `schema.CATEGORIES` order.

    Raises:
        ValueError: If the table and the schema disagree, or a city-mode row is not a
            probability vector.
    """
    if set(BEHAVIOUR) != set(schema.CATEGORIES):
        raise ValueError("BEHAVIOUR must cover exactly schema.CATEGORIES")
    out = tuple(BEHAVIOUR[c] for c in schema.CATEGORIES)
    for name, b in zip(schema.CATEGORIES, out, strict=True):
        if len(b.city) != len(CITY_MODES) or abs(sum(b.city) - 1.0) > 1e-9:
            raise ValueError(f"city modes of {name} must be {len(CITY_MODES)} probabilities")
        if len(b.weekday) != 7:
            raise ValueError(f"weekday weights of {name} must have 7 entries")
    return out
