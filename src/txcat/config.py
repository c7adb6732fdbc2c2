"""Configuration: `conf/base.yaml` overlaid by `conf/<env>.yaml` and command-line overrides.

Loaded once at start-up into frozen dataclasses, validated there, so a typo in a key fails the
run before Spark starts instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from txcat import resources

#: `conf/` of the installed package, or of the repository in a source checkout.
DEFAULT_CONF_DIR = resources.conf_dir()


class ConfigError(ValueError):
    """The configuration is missing, malformed or inconsistent."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How runs of the same day exclude each other (see `txcat.runlock`)."""

    #: A day's lock older than this is taken to be left by a killed run, and replaced.
    lock_stale_after_minutes: int

    def __post_init__(self) -> None:
        if self.lock_stale_after_minutes < 1:
            raise ConfigError("run.lock_stale_after_minutes must be >= 1")

    @property
    def lock_stale_after(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.lock_stale_after_minutes)


#: The two readers of `input.parser`.
PARSERS = ("arrow", "spark")


@dataclasses.dataclass(frozen=True)
class InputConfig:
    extensions: tuple[str, ...]
    #: A gzip file whose content inflates beyond this many bytes is quarantined.
    max_inflated_bytes: int
    #: Who cuts the files into cleaned records: "arrow" (the Python workers, `txcat.read_arrow`)
    #: or "spark" (the JVM's expressions, `txcat.read` + `txcat.clean`). The same records.
    parser: str = "arrow"

    def __post_init__(self) -> None:
        if self.parser not in PARSERS:
            raise ConfigError(f"input.parser must be one of {', '.join(PARSERS)}")


@dataclasses.dataclass(frozen=True)
class ReferenceConfig:
    """Reference data paths; `{run_date}` in a path is replaced by the run date."""

    holidays: str
    countries: str
    bureau: str

    def for_run_date(self, run_date: dt.date) -> ReferenceConfig:
        iso = run_date.isoformat()
        return ReferenceConfig(
            holidays=self.holidays.replace("{run_date}", iso),
            countries=self.countries.replace("{run_date}", iso),
            bureau=self.bureau.replace("{run_date}", iso),
        )


@dataclasses.dataclass(frozen=True)
class QualityConfig:
    max_row_quarantine_share: float
    max_file_quarantine_share: float
    earliest_transaction_date: dt.date
    quarantine_duplicate_rows: bool
    #: Amounts and credit limits beyond ± this are quarantined (`bad_amount`).
    max_abs_amount: float

    def __post_init__(self) -> None:
        for name in ("max_row_quarantine_share", "max_file_quarantine_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"quality.{name} must be between 0 and 1")
        if not 0.0 < self.max_abs_amount < math.inf:
            raise ConfigError("quality.max_abs_amount must be a positive, finite number")


@dataclasses.dataclass(frozen=True)
class FeaturesConfig:
    #: Per-file aggregates: "partition" (no shuffle; needs files whole in their partition, as
    #: the reader leaves them) or "window" (a shuffle by file; any input).
    aggregates: str
    #: Label memory (training only; a model records its own): smoothing constant of each
    #: back-off level (city, account, account x city, account x city x amount), and the number
    #: of time blocks that give training rows out-of-fold counts.
    memory_smoothing: tuple[float, ...]
    memory_folds: int

    def __post_init__(self) -> None:
        if self.aggregates not in ("partition", "window"):
            raise ConfigError(
                f"features.aggregates must be 'partition' or 'window', got {self.aggregates!r}"
            )
        if len(self.memory_smoothing) != 4 or not all(m > 0 for m in self.memory_smoothing):
            raise ConfigError("features.memory_smoothing must be 4 positive numbers")
        if self.memory_folds < 2:
            raise ConfigError("features.memory_folds must be at least 2")


@dataclasses.dataclass(frozen=True)
class ScoringConfig:
    predict_threads: int
    #: Add `explanation` (approximate contributions of the predicted category) to predictions.
    explain: bool


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """The real-time API (`txcat serve`)."""

    #: Seconds between two checks of the model URI (a registry alias moved, a folder rewritten).
    reload_interval_s: float
    #: A request body above this many bytes (inflated, for a gzip body) is refused with 413.
    max_body_bytes: int
    #: A request holding more transactions (JSON) or data lines (CSV) is refused with 413.
    max_rows: int
    #: A request body not received in this many seconds is refused with 408 (slow clients).
    read_timeout_s: float

    def __post_init__(self) -> None:
        for name in ("reload_interval_s", "max_body_bytes", "max_rows", "read_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"serving.{name} must be positive")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    num_boost_round: int
    early_stopping_rounds: int
    max_depth: int
    learning_rate: float
    min_child_weight: float
    subsample: float
    colsample_bytree: float
    class_weight_power: float
    seed: int
    max_driver_rows: int
    #: The prediction engine the model artifact records (`txcat.engine`): every scorer of the
    #: model uses it.
    engine: str = "xgboost"
    #: Classes with fewer training rows than this take their probabilities from the label
    #: memory (`txcat.engine.MemoryBackoff`); 0 (a configuration without the key) turns it
    #: off, `conf/base.yaml` sets 20.
    memory_backoff_rows: int = 0

    def __post_init__(self) -> None:
        from txcat.engine import ENGINES

        if self.engine not in ENGINES:
            raise ConfigError(f"training.engine must be one of {', '.join(ENGINES)}")
        if self.memory_backoff_rows < 0:
            raise ConfigError("training.memory_backoff_rows must be >= 0")


@dataclasses.dataclass(frozen=True)
class StorageConfig:
    """How a manifest's objects are read (see docs/storage.md)."""

    manifest_reader: str
    fetch_threads: int
    files_per_task: int

    def __post_init__(self) -> None:
        if self.manifest_reader not in ("boto3", "spark"):
            raise ConfigError("storage.manifest_reader must be boto3 or spark")
        if self.fetch_threads < 1 or self.files_per_task < 1:
            raise ConfigError("storage.fetch_threads and storage.files_per_task must be >= 1")


@dataclasses.dataclass(frozen=True)
class RedshiftConfig:
    """Redshift sink; connection settings and the IAM role come from the environment."""

    backend: str
    schema: str
    table: str
    staging_subdir: str
    create_table: bool
    poll_interval_s: float
    timeout_s: float

    def __post_init__(self) -> None:
        if self.backend not in ("data_api", "postgres"):
            raise ConfigError("redshift.backend must be data_api or postgres")
        if self.poll_interval_s <= 0 or self.timeout_s <= 0:
            raise ConfigError("redshift.poll_interval_s and redshift.timeout_s must be > 0")


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
    """Great Expectations suites run inside the job (see docs/storage.md)."""

    enabled: bool
    sample_rows: int
    min_parse_success: float
    value_mostly: float

    def __post_init__(self) -> None:
        for name in ("min_parse_success", "value_mostly"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"validation.{name} must be between 0 and 1")
        if self.sample_rows < 1:
            raise ConfigError("validation.sample_rows must be >= 1")


@dataclasses.dataclass(frozen=True)
class MonitoringConfig:
    """The daily monitor's profile settings and alert thresholds (`txcat monitor`)."""

    #: Bins per numeric feature in the reference profile: edges at these quantiles (deciles).
    quantiles: int
    #: Raw columns profiled as categories (value frequencies), e.g. merchant_country.
    categorical_columns: tuple[str, ...]
    #: Values kept per categorical column in the reference; rarer ones are counted together.
    top_categories: int
    #: The scoring job bins the features of at least this share of the day's files ...
    feature_sample_share: float
    #: ... and of all of them while the day has fewer than this many rows to score.
    feature_sample_min_rows: int
    #: Feature PSI: above warn it is listed, above alert it alerts.
    psi_warn: float
    psi_alert: float
    #: Features reported in the drift table but never alerted on (`name`, or `prefix*`).
    report_only_features: tuple[str, ...]
    #: A categorical column alerts when this share of today's rows holds values training never saw.
    max_new_category_share: float
    #: PSI of the predicted-category mix against the hold-out's.
    prediction_psi_alert: float
    #: Mean top probability may fall at most this far below the hold-out's.
    max_confidence_drop: float
    #: Rows whose top probability is under `low_confidence` ...
    low_confidence: float
    #: ... may be at most this share above the hold-out's share.
    max_low_confidence_rise: float
    #: A category predicted for at least this share of the hold-out and never today alerts.
    never_predicted_min_share: float
    #: Volume against the median of the last `volume_history_runs` runs (judged from
    #: `min_history_runs` runs on).
    volume_history_runs: int
    min_history_runs: int
    max_volume_drop: float
    max_volume_rise: float
    #: Quarantine share of one reason: alert above this share ...
    max_reason_share: float
    #: ... or above its trailing median plus this.
    max_reason_rise: float
    #: Feedback labels joined to the predictions of the last `feedback_window_days` run dates.
    feedback_window_days: int
    #: No degradation alert under this many labelled rows (per category: `min_category_feedback`).
    min_feedback_rows: int
    min_category_feedback: int
    #: Largest drops against the model's hold-out figures.
    max_accuracy_drop: float
    max_macro_f1_drop: float
    max_recall_drop: float
    #: Days of history the report's trend charts show.
    trend_days: int
    #: MLflow experiment of the daily monitoring runs (tracking URI: `lifecycle.tracking_uri`).
    mlflow_experiment: str
    log_to_mlflow: bool

    def __post_init__(self) -> None:
        if self.quantiles < 2 or self.top_categories < 1:
            raise ConfigError("monitoring.quantiles must be >= 2 and top_categories >= 1")
        for name in (
            "feature_sample_share",
            "max_new_category_share",
            "low_confidence",
            "max_low_confidence_rise",
            "never_predicted_min_share",
            "max_volume_drop",
            "max_reason_share",
            "max_reason_rise",
            "max_accuracy_drop",
            "max_macro_f1_drop",
            "max_recall_drop",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"monitoring.{name} must be between 0 and 1")
        if not 0.0 < self.psi_warn <= self.psi_alert:
            raise ConfigError("monitoring.psi_warn must be > 0 and <= psi_alert")
        if min(self.volume_history_runs, self.min_history_runs, self.feedback_window_days) < 1:
            raise ConfigError(
                "monitoring.volume_history_runs, min_history_runs and feedback_window_days "
                "must be >= 1"
            )
        if self.min_history_runs > self.volume_history_runs:
            raise ConfigError("monitoring.min_history_runs must be <= volume_history_runs")


#: Hold-out modes of training (`lifecycle.holdout`).
HOLDOUT_TIME = "time"
HOLDOUT_TIME_UNSEEN_ACCOUNTS = "time_unseen_accounts"
HOLDOUT_MODES = (HOLDOUT_TIME, HOLDOUT_TIME_UNSEEN_ACCOUNTS)


@dataclasses.dataclass(frozen=True)
class LifecycleConfig:
    """Model selection, tracking and registry (see docs/lifecycle.md)."""

    tracking_uri: str
    artifact_root: str
    experiment: str
    registered_model: str
    serving_alias: str
    #: Where promotion publishes the served version for production (folder or s3:// prefix);
    #: None: the registry only (`txcat.lifecycle.publish`).
    publish_uri: str | None
    #: Rows dated on/after it form the hold-out; None derives it from the data's days.
    cutoff_date: dt.date | None
    #: Without a cutoff: the last share of the distinct labelled days is the hold-out.
    holdout_days_share: float
    #: `time` (every account, later days) or `time_unseen_accounts` (later days of other accounts).
    holdout: str
    holdout_account_share: float
    #: After the gate's evaluation, refit the chosen configuration on every labelled row.
    refit_all_rows: bool
    cv_folds: int
    search_budget: int
    search_max_rows: int
    latency_repeats: int
    train_threads: int
    #: Among the XGBoost configurations whose cross-validated macro-F1 is within this of the
    #: best, the cheapest to predict (trees x depth) is chosen; 0 keeps the best.
    selection_macro_f1_tolerance: float = 0.005

    def __post_init__(self) -> None:
        if not 0.0 <= self.selection_macro_f1_tolerance < 1.0:
            raise ConfigError("lifecycle.selection_macro_f1_tolerance must be in [0, 1)")
        if not 0.0 < self.holdout_account_share < 1.0:
            raise ConfigError("lifecycle.holdout_account_share must be between 0 and 1")
        if not 0.0 < self.holdout_days_share < 1.0:
            raise ConfigError("lifecycle.holdout_days_share must be between 0 and 1")
        if self.holdout not in HOLDOUT_MODES:
            raise ConfigError(
                f"lifecycle.holdout must be one of {HOLDOUT_MODES}, got {self.holdout!r}"
            )
        if self.cv_folds < 2:
            raise ConfigError("lifecycle.cv_folds must be at least 2")
        if self.train_threads < 0:
            raise ConfigError("lifecycle.train_threads must be >= 0 (0 = every core)")
        if min(self.search_budget, self.latency_repeats, self.search_max_rows) < 1:
            raise ConfigError(
                "lifecycle.search_budget, search_max_rows and latency_repeats must be >= 1"
            )


#: How a candidate must beat the baselines (`quality_gate.baseline_rule`): by fixed margins, or
#: by the bootstrap interval of its lead (`txcat.lifecycle.gate`).
MARGIN = "margin"
INTERVAL = "interval"
BASELINE_RULES = (MARGIN, INTERVAL)


@dataclasses.dataclass(frozen=True)
class QualityGateConfig:
    """What a registered version must show before the serving alias may point at it."""

    min_macro_f1_margin: float
    min_accuracy_margin: float
    min_support_for_recall: int
    max_calibration_error: float
    max_latency_ms_per_10k: float
    max_size_bytes: int
    #: The candidate's hold-out macro-F1 may be at most this much below the champion's.
    max_macro_f1_drop_vs_champion: float
    #: How the candidate must beat the best baseline (`BASELINE_RULES`): `margin`, by the two
    #: margins above; `interval`, with the hold-out's 95 % bootstrap interval of its lead
    #: (accuracy lead above 0, macro-F1 lead not below 0).
    baseline_rule: str

    def __post_init__(self) -> None:
        if self.baseline_rule not in BASELINE_RULES:
            raise ConfigError(
                f"quality_gate.baseline_rule must be one of {', '.join(BASELINE_RULES)}, "
                f"got {self.baseline_rule!r}"
            )


@dataclasses.dataclass(frozen=True)
class Config:
    env: str
    spark: Mapping[str, str]
    run: RunConfig
    input: InputConfig
    reference: ReferenceConfig
    quality: QualityConfig
    features: FeaturesConfig
    scoring: ScoringConfig
    serving: ServingConfig
    training: TrainingConfig
    storage: StorageConfig
    redshift: RedshiftConfig
    validation: ValidationConfig
    lifecycle: LifecycleConfig
    quality_gate: QualityGateConfig
    monitoring: MonitoringConfig


def load_config(
    env: str = "local",
    conf_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> Config:
    """Loads and validates the configuration of one environment.

    Args:
        env: Overlay to apply on top of `base.yaml` (`local`, `emr`, ...).
        conf_dir: Folder holding the YAML files; defaults to the package's `conf/`.
        overrides: `section.key=value` strings applied last (value parsed as YAML).

    Raises:
        ConfigError: A file is missing, a key is unknown or a value has the wrong type.
    """
    folder = Path(conf_dir) if conf_dir is not None else DEFAULT_CONF_DIR
    merged = _read_yaml(folder / "base.yaml")
    overlay_path = folder / f"{env}.yaml"
    if not overlay_path.is_file():
        raise ConfigError(f"no configuration for environment {env!r}: {overlay_path} is missing")
    merged = _deep_merge(merged, _read_yaml(overlay_path))
    for item in overrides:
        merged = _deep_merge(merged, _override_to_tree(item))
    return _build(env, merged)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def _deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _override_to_tree(item: str) -> dict[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {item!r} is not of the form section.key=value")
    section, dot, leaf = key.partition(".")
    value = yaml.safe_load(raw) if raw else ""
    if not dot:
        return {section: value}
    if section == "spark":  # Spark keys contain dots themselves
        return {"spark": {leaf: raw}}
    return _deep_merge({}, {section: _override_to_tree(f"{leaf}={raw}")})


def _build(env: str, tree: Mapping[str, Any]) -> Config:
    known = {f.name for f in dataclasses.fields(Config)} - {"env"}
    unknown = set(tree) - known
    if unknown:
        raise ConfigError(f"unknown configuration sections: {sorted(unknown)}")
    spark = tree.get("spark") or {}
    if not isinstance(spark, Mapping):
        raise ConfigError("spark: must be a mapping of Spark settings")
    return Config(
        env=env,
        spark={str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in spark.items()},
        run=_section(RunConfig, tree, "run"),
        input=_section(InputConfig, tree, "input"),
        reference=_section(ReferenceConfig, tree, "reference"),
        quality=_section(QualityConfig, tree, "quality"),
        features=_section(FeaturesConfig, tree, "features"),
        scoring=_section(ScoringConfig, tree, "scoring"),
        serving=_section(ServingConfig, tree, "serving"),
        training=_section(TrainingConfig, tree, "training"),
        storage=_section(StorageConfig, tree, "storage"),
        redshift=_section(RedshiftConfig, tree, "redshift"),
        validation=_section(ValidationConfig, tree, "validation"),
        lifecycle=_section(LifecycleConfig, tree, "lifecycle"),
        quality_gate=_section(QualityGateConfig, tree, "quality_gate"),
        monitoring=_section(MonitoringConfig, tree, "monitoring"),
    )


def _section(cls: type, tree: Mapping[str, Any], name: str) -> Any:
    values = tree.get(name)
    if not isinstance(values, Mapping):
        raise ConfigError(f"section {name!r} is missing or not a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    missing = set(fields) - set(values)
    if unknown or missing:
        raise ConfigError(
            f"section {name!r}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}"
        )
    return cls(**{key: _coerce(f"{name}.{key}", fields[key].type, values[key]) for key in fields})


def _coerce(where: str, annotation: Any, value: Any) -> Any:
    kind = str(annotation)
    try:
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError("expected true or false")
            return value
        if kind == "int":
            if not isinstance(value, int | float) or isinstance(value, bool) or value % 1:
                raise TypeError("expected a whole number")
            return int(value)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError("expected a number")
            return float(value)
        if kind == "str":
            if not isinstance(value, str) or not value:
                raise TypeError("expected a non-empty string")
            return value
        if kind in ("dt.date | None", "str | None") and value in (None, ""):
            return None
        if kind == "str | None":
            if not isinstance(value, str):
                raise TypeError("expected a string or null")
            return value
        if kind in ("dt.date", "dt.date | None"):
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        if kind == "tuple[float, ...]":
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise TypeError("expected a list of numbers")
            if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
                raise TypeError("expected a list of numbers")
            return tuple(float(v) for v in value)
        if kind == "tuple[str, ...]":
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise TypeError("expected a list of strings")
            return tuple(str(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc} (got {value!r})") from exc
    raise ConfigError(f"{where}: unsupported setting type {kind}")
