"""Names and schemas shared by every stage: the one place a column is named.

The input is the bank's per-account CSV layout (Portuguese header). After parsing, columns
carry English names; the mapping lives here so that the reader, the features, training and
the sinks never spell a column twice.
"""

from __future__ import annotations

from pyspark.sql import types as T

# --- The raw file ------------------------------------------------------------------------

#: The header of a bank file, exactly as delivered (note the spaces around " valor ").
RAW_HEADER = (
    "id;safra_abertura;cidade;estado;idade;sexo;limite_total;limite_disp;data; valor ;"
    "grupo_estabelecimento;cidade_estabelecimento;pais_estabelecimento"
)
#: Header tokens after trimming and lower-casing, in the bank's order.
RAW_COLUMNS: tuple[str, ...] = tuple(t.strip().lower() for t in RAW_HEADER.split(";"))
#: Columns a file may lack: the untrusted Excel-mangled id, and the label (absent when scoring).
OPTIONAL_RAW_COLUMNS: frozenset[str] = frozenset({"id", "grupo_estabelecimento"})
REQUIRED_RAW_COLUMNS: tuple[str, ...] = tuple(
    c for c in RAW_COLUMNS if c not in OPTIONAL_RAW_COLUMNS
)
RAW_SEPARATOR = ";"
#: Byte the bank's export writes where "Ç" belongs ("SERVI\x82O").
CEDILLA_BYTE = 0x82

# --- The 22 merchant groups (canonical: upper case, no accents) ---------------------------

#: Category order is part of the model contract: class index i of a model is CATEGORIES[i].
CATEGORIES: tuple[str, ...] = (
    "SERVICO",
    "RESTAURANTE",
    "VAREJO",
    "SUPERMERCADOS",
    "VESTUARIO",
    "FARMACIAS",
    "POSTO DE GAS",
    "M.O.T.O.",
    "ARTIGOS ELETRO",
    "LOJA DE DEPART",
    "CIA AEREAS",
    "HOTEIS",
    "SEM RAMO",
    "HOSP E CLINICA",
    "MOVEIS E DECOR",
    "MAT CONSTRUCAO",
    "AUTO PECAS",
    "AGENCIA DE TUR",
    "TRANS FINANC",
    "JOALHERIA",
    "INEXISTENTE",
    "ALUG DE CARROS",
)
#: Rows per category in the bank's real 4,955-row sample; the generator's label prior.
CATEGORY_COUNTS: dict[str, int] = {
    "SERVICO": 1782,
    "RESTAURANTE": 872,
    "VAREJO": 599,
    "SUPERMERCADOS": 468,
    "VESTUARIO": 236,
    "FARMACIAS": 222,
    "POSTO DE GAS": 199,
    "M.O.T.O.": 191,
    "ARTIGOS ELETRO": 129,
    "LOJA DE DEPART": 80,
    "CIA AEREAS": 38,
    "HOTEIS": 24,
    "SEM RAMO": 20,
    "HOSP E CLINICA": 18,
    "MOVEIS E DECOR": 15,
    "MAT CONSTRUCAO": 15,
    "AUTO PECAS": 14,
    "AGENCIA DE TUR": 12,
    "TRANS FINANC": 10,
    "JOALHERIA": 6,
    "INEXISTENTE": 4,
    "ALUG DE CARROS": 1,
}

#: The 27 Brazilian federative units, in a fixed order (their index is a model feature).
BR_STATES: tuple[str, ...] = (
    "AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA",
    "PB", "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO",
)  # fmt: skip

#: The credit bureau's score bands, best first (a band's 1-based position is a model feature).
SCORE_BANDS: tuple[str, ...] = ("A", "B", "C", "D", "E")

# --- Columns after reading ------------------------------------------------------------------

SOURCE_FILE = "source_file"
ACCOUNT_ID = "account_id"
LINE_NUMBER = "line_number"  # 1-based line of the file; the header is line 1
ROW_ID = "row_id"
RAW_LINE = "raw_line"
#: True on a line that repeats an earlier line of its file exactly (the first copy is false).
#: Such lines are scored like any other (a customer may buy the same thing twice in a day);
#: `quality.quarantine_duplicate_rows` quarantines them instead (`duplicate_row`).
IS_REPEATED_LINE = "is_repeated_line"

# Parsed, typed columns (English names for the bank's fields).
ACCOUNT_OPENING_MONTH = "account_opening_month"  # safra_abertura, first day of that month
CUSTOMER_CITY = "customer_city"
CUSTOMER_STATE = "customer_state"
CUSTOMER_AGE = "customer_age"
CUSTOMER_SEX = "customer_sex"
CREDIT_LIMIT_TOTAL = "credit_limit_total"
CREDIT_LIMIT_AVAILABLE = "credit_limit_available"
TRANSACTION_DATE = "transaction_date"
AMOUNT = "amount"
LABEL = "label"
MERCHANT_CITY = "merchant_city"
MERCHANT_COUNTRY = "merchant_country"

#: Raw token -> parsed column, for the fields the pipeline uses (the id is never trusted).
RAW_TO_PARSED: dict[str, str] = {
    "safra_abertura": ACCOUNT_OPENING_MONTH,
    "cidade": CUSTOMER_CITY,
    "estado": CUSTOMER_STATE,
    "idade": CUSTOMER_AGE,
    "sexo": CUSTOMER_SEX,
    "limite_total": CREDIT_LIMIT_TOTAL,
    "limite_disp": CREDIT_LIMIT_AVAILABLE,
    "data": TRANSACTION_DATE,
    "valor": AMOUNT,
    "grupo_estabelecimento": LABEL,
    "cidade_estabelecimento": MERCHANT_CITY,
    "pais_estabelecimento": MERCHANT_COUNTRY,
}

#: A parsed transaction: what `clean` hands to the features for every accepted row.
TRANSACTION_SCHEMA = T.StructType(
    [
        T.StructField(SOURCE_FILE, T.StringType(), False),
        T.StructField(ACCOUNT_ID, T.StringType(), False),
        T.StructField(LINE_NUMBER, T.IntegerType(), False),
        T.StructField(ROW_ID, T.StringType(), False),
        T.StructField(ACCOUNT_OPENING_MONTH, T.DateType(), True),
        T.StructField(CUSTOMER_CITY, T.StringType(), True),
        T.StructField(CUSTOMER_STATE, T.StringType(), True),
        T.StructField(CUSTOMER_AGE, T.IntegerType(), True),
        T.StructField(CUSTOMER_SEX, T.StringType(), True),
        T.StructField(CREDIT_LIMIT_TOTAL, T.DoubleType(), True),
        T.StructField(CREDIT_LIMIT_AVAILABLE, T.DoubleType(), True),
        T.StructField(TRANSACTION_DATE, T.DateType(), True),
        T.StructField(AMOUNT, T.DoubleType(), True),
        T.StructField(LABEL, T.StringType(), True),
        T.StructField(MERCHANT_CITY, T.StringType(), True),
        T.StructField(MERCHANT_COUNTRY, T.StringType(), True),
    ]
)

# --- Outputs ----------------------------------------------------------------------------------

RUN_DATE = "run_date"
RUN_ID = "run_id"
MODEL_VERSION = "model_version"
# Lineage of the model that scored a row: its artifact checksum, and the registry entry (name,
# version number, alias when resolved through one; null for an unregistered folder).
MODEL_SHA256 = "model_sha256"
MODEL_NAME = "model_name"
MODEL_REGISTRY_VERSION = "model_registry_version"
MODEL_ALIAS = "model_alias"
SCORED_AT = "scored_at"
PREDICTED_CATEGORY = "predicted_category"
PREDICTED_PROBABILITY = "predicted_probability"
TOP3 = "top3"

TOP3_TYPE = T.ArrayType(
    T.StructType(
        [
            T.StructField("category", T.StringType()),
            T.StructField("probability", T.DoubleType()),
        ]
    ),
)

#: With `scoring.explain`: the largest contributions to the predicted category's margin.
EXPLANATION = "explanation"
EXPLANATION_TYPE = T.ArrayType(
    T.StructType(
        [
            T.StructField("feature", T.StringType()),
            T.StructField("contribution", T.DoubleType()),
        ]
    ),
)

#: One row per scored transaction, partitioned by run_date on disk.
PREDICTION_SCHEMA = T.StructType(
    [
        T.StructField(ROW_ID, T.StringType(), False),
        T.StructField(ACCOUNT_ID, T.StringType(), False),
        T.StructField(SOURCE_FILE, T.StringType(), False),
        T.StructField(LINE_NUMBER, T.IntegerType(), False),
        T.StructField(IS_REPEATED_LINE, T.BooleanType(), False),
        T.StructField(TRANSACTION_DATE, T.DateType(), True),
        T.StructField(AMOUNT, T.DoubleType(), True),
        T.StructField(PREDICTED_CATEGORY, T.StringType(), False),
        T.StructField(PREDICTED_PROBABILITY, T.DoubleType(), False),
        T.StructField(TOP3, TOP3_TYPE, False),
        T.StructField(LABEL, T.StringType(), True),
        T.StructField(MODEL_VERSION, T.StringType(), False),
        T.StructField(MODEL_SHA256, T.StringType(), False),
        T.StructField(MODEL_NAME, T.StringType(), True),
        T.StructField(MODEL_REGISTRY_VERSION, T.StringType(), True),
        T.StructField(MODEL_ALIAS, T.StringType(), True),
        T.StructField(RUN_ID, T.StringType(), False),
        T.StructField(SCORED_AT, T.TimestampType(), False),
        T.StructField(RUN_DATE, T.DateType(), False),
    ]
)


def prediction_schema(explain: bool) -> T.StructType:
    """The predictions' schema; with `scoring.explain`, `explanation` before the run date."""
    if not explain:
        return PREDICTION_SCHEMA
    fields = list(PREDICTION_SCHEMA.fields)
    return T.StructType(
        [*fields[:-1], T.StructField(EXPLANATION, EXPLANATION_TYPE, True), fields[-1]]
    )


# Quarantine: rejected rows and rejected files in one table, told apart by `level`.
LEVEL = "level"
REASON = "reason"
DETAIL = "detail"
LEVEL_FILE = "file"
LEVEL_ROW = "row"

QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField(LEVEL, T.StringType(), False),
        T.StructField(REASON, T.StringType(), False),
        T.StructField(DETAIL, T.StringType(), True),
        T.StructField(SOURCE_FILE, T.StringType(), False),
        T.StructField(ACCOUNT_ID, T.StringType(), True),
        T.StructField(LINE_NUMBER, T.IntegerType(), True),
        T.StructField(ROW_ID, T.StringType(), True),
        T.StructField(RAW_LINE, T.StringType(), True),
        T.StructField(RUN_ID, T.StringType(), False),
        T.StructField(RUN_DATE, T.DateType(), False),
    ]
)
