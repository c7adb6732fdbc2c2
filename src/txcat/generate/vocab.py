"""Word lists the generator draws from: cities, states, merchant web addresses and phones.

The lists are small and hand-made on purpose: the bank's files repeat a few hundred city
spellings, and a closed vocabulary keeps the synthetic data realistic (the same merchant
city appears many times) while staying deterministic.
"""

from __future__ import annotations

from txcat import schema

#: Width the bank's export pads the customer city to (fixed-width legacy field).
CUSTOMER_CITY_WIDTH = 22
#: Width the card network cuts the merchant city to.
MERCHANT_CITY_WIDTH = 13

#: Share of customers per state; the bank's portfolio is concentrated in the south-east.
STATE_WEIGHTS: dict[str, float] = {
    "SP": 0.38, "RJ": 0.14, "MG": 0.12, "PR": 0.05, "RS": 0.05, "BA": 0.04, "SC": 0.03,
    "PE": 0.025, "CE": 0.025, "GO": 0.025, "DF": 0.025, "ES": 0.015, "PA": 0.015,
    "AM": 0.01, "MT": 0.01, "MS": 0.01, "MA": 0.008, "PB": 0.008, "RN": 0.007, "AL": 0.006,
    "PI": 0.005, "SE": 0.005, "RO": 0.004, "TO": 0.003, "AC": 0.002, "AP": 0.002,
    "RR": 0.002,
}  # fmt: skip

#: (plain spelling, accented spelling or "", state, weight within the state).
#: The bank writes almost every city without accents; a few customers were keyed in with
#: them, which is what the accented column is for.
CUSTOMER_CITIES: tuple[tuple[str, str, str, float], ...] = (
    ("SAO PAULO", "SÃO PAULO", "SP", 40.0),
    ("CAMPINAS", "", "SP", 6.0),
    ("GUARULHOS", "", "SP", 5.0),
    ("SANTOS", "", "SP", 3.0),
    ("SAO JOSE DOS CAMPOS", "SÃO JOSÉ DOS CAMPOS", "SP", 3.0),
    ("RIBEIRAO PRETO", "RIBEIRÃO PRETO", "SP", 3.0),
    ("SOROCABA", "", "SP", 3.0),
    ("OSASCO", "", "SP", 3.0),
    ("SANTO ANDRE", "SANTO ANDRÉ", "SP", 3.0),
    ("SAO BERNARDO DO CAMPO", "SÃO BERNARDO DO CAMPO", "SP", 3.0),
    ("CAMPO LIMPO PAULISTA", "", "SP", 1.0),
    ("JUNDIAI", "JUNDIAÍ", "SP", 2.0),
    ("PIRACICABA", "", "SP", 1.5),
    ("BAURU", "", "SP", 1.5),
    ("MOGI DAS CRUZES", "", "SP", 2.0),
    ("RIO DE JANEIRO", "", "RJ", 20.0),
    ("NITEROI", "NITERÓI", "RJ", 3.0),
    ("SAO GONCALO", "SÃO GONÇALO", "RJ", 3.0),
    ("DUQUE DE CAXIAS", "", "RJ", 2.0),
    ("NOVA IGUACU", "NOVA IGUAÇU", "RJ", 2.0),
    ("PETROPOLIS", "PETRÓPOLIS", "RJ", 1.0),
    ("VOLTA REDONDA", "", "RJ", 1.0),
    ("BELO HORIZONTE", "", "MG", 10.0),
    ("UBERLANDIA", "UBERLÂNDIA", "MG", 3.0),
    ("CONTAGEM", "", "MG", 2.0),
    ("JUIZ DE FORA", "", "MG", 2.0),
    ("BETIM", "", "MG", 1.5),
    ("MONTES CLAROS", "", "MG", 1.0),
    ("RIO BRANCO", "", "AC", 1.0),
    ("MACEIO", "MACEIÓ", "AL", 1.0),
    ("MANAUS", "", "AM", 1.0),
    ("MACAPA", "MACAPÁ", "AP", 1.0),
    ("SALVADOR", "", "BA", 3.0),
    ("FEIRA DE SANTANA", "", "BA", 1.0),
    ("FORTALEZA", "", "CE", 1.0),
    ("BRASILIA", "BRASÍLIA", "DF", 1.0),
    ("VITORIA", "VITÓRIA", "ES", 1.0),
    ("VILA VELHA", "", "ES", 1.0),
    ("GOIANIA", "GOIÂNIA", "GO", 1.0),
    ("SAO LUIS", "SÃO LUÍS", "MA", 1.0),
    ("CAMPO GRANDE", "", "MS", 1.0),
    ("CUIABA", "CUIABÁ", "MT", 1.0),
    ("BELEM", "BELÉM", "PA", 1.0),
    ("JOAO PESSOA", "JOÃO PESSOA", "PB", 1.0),
    ("RECIFE", "", "PE", 2.0),
    ("OLINDA", "", "PE", 1.0),
    ("TERESINA", "", "PI", 1.0),
    ("CURITIBA", "", "PR", 3.0),
    ("LONDRINA", "", "PR", 1.0),
    ("MARINGA", "MARINGÁ", "PR", 1.0),
    ("NATAL", "", "RN", 1.0),
    ("PORTO VELHO", "", "RO", 1.0),
    ("BOA VISTA", "", "RR", 1.0),
    ("PORTO ALEGRE", "", "RS", 3.0),
    ("CAXIAS DO SUL", "", "RS", 1.0),
    ("FLORIANOPOLIS", "FLORIANÓPOLIS", "SC", 1.0),
    ("JOINVILLE", "", "SC", 1.0),
    ("BLUMENAU", "", "SC", 1.0),
    ("ARACAJU", "", "SE", 1.0),
    ("PALMAS", "", "TO", 1.0),
)

#: Where online shops, airlines and card acquirers are registered: the merchant city of
#: many non-local purchases.
HUB_CITIES: tuple[tuple[str, float], ...] = (
    ("SAO PAULO", 10.0),
    ("BARUERI", 4.0),
    ("OSASCO", 3.0),
    ("RIO DE JANEIRO", 4.0),
    ("CURITIBA", 1.5),
    ("BELO HORIZONTE", 1.5),
    ("PORTO ALEGRE", 1.0),
    ("BRASILIA", 1.0),
)

#: Holiday destinations: hotels, car rentals and travel agencies cluster here.
TOURIST_CITIES: tuple[tuple[str, float], ...] = (
    ("RIO DE JANEIRO", 4.0),
    ("GRAMADO", 2.0),
    ("PORTO SEGURO", 2.0),
    ("FOZ DO IGUACU", 2.0),
    ("ARMACAO DOS BUZIOS", 1.5),
    ("FLORIANOPOLIS", 2.0),
    ("CAMPOS DO JORDAO", 1.5),
    ("BALNEARIO CAMBORIU", 1.5),
    ("SALVADOR", 2.0),
    ("NATAL", 1.5),
    ("FORTALEZA", 1.5),
    ("BONITO", 1.0),
    ("UBATUBA", 1.0),
    ("PARATY", 1.0),
    ("IPOJUCA", 1.0),
)

#: Web addresses written in the merchant city field, by group of categories.
URLS: dict[str, tuple[str, ...]] = {
    "digital": (
        "LNKD.IN/BILL", "NETFLIX.COM", "SPOTIFY.COM", "AMZN.COM/BILL", "GOOGLE.COM",
        "APPLE.COM/BILL", "PAYPAL.COM", "MICROSOFT.COM", "FACEBK.COM", "ADOBE.COM",
        "HBOMAX.COM", "DISNEYPLUS.COM", "UBER.COM/BILL", "ALIEXPRESS.COM",
    ),
    "travel": (
        "LATAM.COM", "VOEGOL.COM.BR", "VOEAZUL.COM.BR", "BOOKING.COM", "AIRBNB.COM",
        "HOTELS.COM", "EXPEDIA.COM", "DECOLAR.COM", "CVC.COM.BR", "123MILHAS.COM",
        "LOCALIZA.COM", "MOVIDA.COM.BR", "HERTZ.COM", "AMZN.COM/BILL",
    ),
    "retail": (
        "AMERICANAS.COM", "MAGAZINELUIZA.COM", "SUBMARINO.COM", "SHOPEE.COM.BR",
        "MERCADOLIVRE.COM", "NETSHOES.COM", "DAFITI.COM.BR", "AMZN.COM/BILL",
        "ALIEXPRESS.COM", "CASASBAHIA.COM",
    ),
}  # fmt: skip

#: Phone numbers written in the merchant city field (mail/telephone orders).
PHONES: dict[str, tuple[str, ...]] = {
    "digital": (
        "415-503-9235", "866-712-7753", "800-592-2489", "888-802-3080", "408-996-1010",
        "650-253-0000", "855-225-5433", "0800-7620000",
    ),
    "travel": (
        "0800-7245003", "0300-1154747", "800-433-7300", "866-586-6321", "0800-7091234",
        "415-503-9235",
    ),
    "retail": ("0800-7733838", "0800-7297000", "888-802-3080", "0800-7245003"),
}  # fmt: skip

#: Foreign merchant countries by group, with weights.
FOREIGN_COUNTRIES: dict[str, tuple[tuple[str, float], ...]] = {
    "travel": (
        ("US", 0.30), ("PT", 0.12), ("AR", 0.10), ("FR", 0.08), ("IT", 0.07), ("ES", 0.07),
        ("CL", 0.07), ("UY", 0.05), ("GB", 0.05), ("DE", 0.03), ("MX", 0.03), ("CA", 0.03),
    ),
    "digital": (
        ("US", 0.55), ("IE", 0.15), ("GB", 0.08), ("NL", 0.07), ("LU", 0.05), ("SG", 0.05),
        ("CN", 0.05),
    ),
}  # fmt: skip

#: A few cities per foreign country, for card-present purchases abroad.
FOREIGN_CITIES: dict[str, tuple[str, ...]] = {
    "US": ("MIAMI", "ORLANDO", "NEW YORK", "SAN FRANCISCO", "LOS ANGELES", "LAS VEGAS"),
    "PT": ("LISBOA", "PORTO", "FARO"),
    "AR": ("BUENOS AIRES", "MENDOZA", "BARILOCHE"),
    "FR": ("PARIS", "NICE"),
    "IT": ("ROMA", "MILANO", "FIRENZE"),
    "ES": ("MADRID", "BARCELONA"),
    "CL": ("SANTIAGO",),
    "UY": ("MONTEVIDEO", "PUNTA DEL ESTE"),
    "GB": ("LONDON",),
    "DE": ("BERLIN", "FRANKFURT", "MUNCHEN"),
    "MX": ("CANCUN", "CIUDAD DE MEXICO"),
    "CA": ("TORONTO", "VANCOUVER"),
    "IE": ("DUBLIN",),
    "NL": ("AMSTERDAM",),
    "LU": ("LUXEMBOURG",),
    "SG": ("SINGAPORE",),
    "CN": ("SHANGHAI", "SHENZHEN"),
}

#: Codes seen in the country field that are not ISO countries (US and BR states keyed in
#: the wrong field upstream).
INVALID_COUNTRIES: tuple[str, ...] = ("OH", "SP", "RJ", "FL", "NY", "TX")


def check_vocabulary() -> None:
    """Fail fast if a hand-edited list drifts from the shared schema.

    Raises:
        ValueError: If a state is unknown or a city does not fit the bank's fixed width.
    """
    states = set(schema.BR_STATES)
    if set(STATE_WEIGHTS) != states:
        raise ValueError("STATE_WEIGHTS must list exactly the 27 states of schema.BR_STATES")
    for plain, accented, state, _ in CUSTOMER_CITIES:
        if state not in states:
            raise ValueError(f"unknown state {state!r} for city {plain!r}")
        if max(len(plain), len(accented)) > CUSTOMER_CITY_WIDTH:
            raise ValueError(f"city {plain!r} is wider than {CUSTOMER_CITY_WIDTH}")
    missing = states - {c[2] for c in CUSTOMER_CITIES}
    if missing:
        raise ValueError(f"no customer city for states {sorted(missing)}")
