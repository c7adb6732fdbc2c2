"""The report folder: files, plots that render at the right size, numbers that match."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from txcat.lifecycle import metrics as M
from txcat.lifecycle import report as RP
from txcat.validate.offline import external_references

from .test_metrics import CATEGORIES, PROBA, Y_TRUE


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    metrics = M.evaluate(Y_TRUE, PROBA, CATEGORIES) | {
        "latency_ms_per_10k": 12.5,
        "size_bytes": 2048.0,
    }
    baseline = M.evaluate(Y_TRUE, np.full_like(PROBA, 1 / 3), CATEGORIES)
    files = RP.write_report(
        folder,
        metrics,
        CATEGORIES,
        "Model v1",
        importance={"f1": 3.0, "f2": 1.0},
        context={"model_version": "v1", "tracking": "https://mlflow.bank.internal/#/models"},
        baselines={"majority": baseline},
    )
    return folder, files, metrics


def test_every_file_is_written(written):
    folder, files, _ = written
    expected = {
        RP.METRICS_FILE,
        RP.CONFUSION_PNG,
        RP.F1_PNG,
        RP.CALIBRATION_PNG,
        RP.IMPORTANCE_PNG,
        RP.HTML_FILE,
    }
    assert set(files) == expected
    assert {p.name for p in folder.iterdir()} == expected


@pytest.mark.parametrize("name", list(RP.FIGSIZES))
def test_plots_render_at_their_size(written, name):
    folder, _, _ = written
    with Image.open(folder / name) as image:
        assert image.format == "PNG"
        width, height = RP.FIGSIZES[name]
        assert image.size == (int(width * RP.DPI), int(height * RP.DPI))
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5  # something was drawn, not a blank canvas


def test_metrics_json_holds_the_numbers(written):
    folder, _, metrics = written
    document = json.loads((folder / RP.METRICS_FILE).read_text())
    saved = document["metrics"]
    for key in (
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "log_loss",
        "roc_auc_ovr_macro",
        "calibration_error",
        "latency_ms_per_10k",
        "size_bytes",
    ):
        assert saved[key] == pytest.approx(metrics[key])
    assert saved["confusion_matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert saved["per_class"]["C"]["f1"] == pytest.approx(0.8)
    assert document["baselines"]["majority"]["accuracy"] == pytest.approx(2 / 6)
    assert RP.read_metrics(folder) == document


def test_html_shows_the_same_numbers(written):
    folder, _, metrics = written
    page = (folder / RP.HTML_FILE).read_text()
    for key in ("accuracy", "macro_f1", "log_loss", "calibration_error"):
        assert f"<td>{key}</td><td>{metrics[key]:.4f}</td>" in page
    assert "<td>B</td><td>0.5000</td><td>0.5000</td><td>0.5000</td><td>2</td>" in page
    assert page.count("data:image/png;base64,") == 4


def test_nan_becomes_null(tmp_path):
    proba = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0]])
    metrics = M.evaluate(np.array([0, 0]), proba, CATEGORIES)
    RP.write_report(tmp_path, metrics, CATEGORIES, "one class")
    saved = json.loads((tmp_path / RP.METRICS_FILE).read_text())
    assert saved["metrics"]["roc_auc_ovr_macro"] is None
    assert "<td>roc_auc_ovr_macro</td><td>n/a</td>" in (tmp_path / RP.HTML_FILE).read_text()
    assert not (tmp_path / RP.IMPORTANCE_PNG).exists()


def test_the_page_needs_nothing_from_another_host(written):
    """Plots are inlined and the style is in the page: it renders offline; a URL in the
    context is text, not a link."""
    _, files, _ = written
    page = files["report.html"].read_text(encoding="utf-8")
    assert external_references(page) == []
    assert "<script" not in page and "<link" not in page
    assert "https://mlflow.bank.internal/#/models" in page
    assert page.count('src="data:image/png;base64,') == 4
