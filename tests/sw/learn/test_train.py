"""Training on the real 5m data: the must-show targets, determinism, and the CLI."""

import dataclasses
import json

import pytest

from sw.learn import precision
from sw.learn.labels import DEFAULT_LABEL, LABELS
from sw.learn.train import EXPORT, train
from sw.spec import schema
from sw.spec.artifact import save, to_json
from sw.train import main


@pytest.fixture(scope="module")
def report(klines_5m, tmp_path_factory):
    trained = train(klines_5m, progress=False)
    out = tmp_path_factory.mktemp("reports")
    model = save(trained.artifact, out / "model.json")
    precision.write(precision.measure(trained, progress=False), out, model)
    return trained, out


def schemes(out) -> dict:
    return {s["name"]: s for s in json.loads((out / "precision.json").read_text())["schemes"]}


def test_default_model_is_small_and_described(default_model, klines_5m):
    assert [(l.inputs, l.outputs) for l in default_model.layers] == [(7, 16), (16, 3)]
    meta = default_model.meta
    assert meta["scheme"]["name"] == "int8-ptq-per-channel-percentile-pow2"
    assert all((l.multiplier == 2 ** 14).all() for l in default_model.layers)
    assert meta["data"]["source"] == klines_5m.source and meta["data"]["synthetic"] is False
    assert meta["label"]["name"] == DEFAULT_LABEL and meta["label"]["definition"]
    h = LABELS[DEFAULT_LABEL].horizon   # h unlabelled klines at the end, h - 1 purged twice
    assert sum(meta["split"].values()) == (len(klines_5m) - default_model.features.warmup_klines
                                           - h - 2 * (h - 1))
    assert 0.40 < meta["test_accuracy"] < 0.60


def test_precision_report_is_written(report):
    _, out = report
    for name in ("precision.json", "precision.md", "precision.png"):
        assert (out / name).stat().st_size > 500
    assert json.loads((out / "precision.json").read_text())["schema_version"] == schema.PRECISION
    table = schemes(out)
    assert {"fp32", "fp16", "int8-ptq-per-tensor-minmax", "int8-ptq-per-channel-percentile",
            "int8-ptq-per-channel-percentile-pow2", "int4-ptq", "int4-qat", "binary-ptq",
            "binary-qat"} <= set(table)
    for s in table.values():
        assert s["latency_us"] > 0 and s["weight_bytes"] > 0
    assert table["int4-qat"]["weight_bytes"] * 2 == table["int8-ptq-per-channel-minmax"][
        "weight_bytes"]


def test_the_report_names_the_model_it_describes(report, tmp_path):
    """D11: a reader can tell a report left by an interrupted run from the model's own"""
    trained, out = report
    model = out / "model.json"
    assert precision.read(out, model)["model"]["sha256"] in (out / "precision.md").read_text()
    other = dataclasses.replace(trained.artifact, meta={**trained.artifact.meta, "note": "2"})
    other_path = save(other, tmp_path / "model.json")
    with pytest.raises(precision.ReportMismatch, match="describes the model with SHA-256"):
        precision.read(out, other_path)


def test_must_show_targets(report):
    trained, out = report
    table = schemes(out)
    exported = json.loads((out / "precision.json").read_text())["exported"]
    int8, fp32 = table[exported], table["fp32"]
    assert exported == EXPORT[8].name and EXPORT[8].power_of_two
    assert int8["weight_snr_db"] > 30
    assert int8["agreement_vs_fp32"] >= 0.98
    assert abs(int8["accuracy"] - fp32["accuracy"]) <= 0.01
    assert table["int4-qat"]["agreement_vs_fp32"] > table["int4-ptq"]["agreement_vs_fp32"]
    golden_vs_fake = json.loads((out / "precision.json").read_text())["golden_vs_fake_quant"]
    assert golden_vs_fake["argmax_identical"] >= 0.999
    assert golden_vs_fake["max_code_difference"] <= 1


def test_training_is_deterministic(klines_5m):
    runs = [to_json(train(klines_5m[:3000], epochs=2, weight_bits=4, seed=7,
                          progress=False).artifact) for _ in range(2)]
    assert runs[0] == runs[1]
    other = to_json(train(klines_5m[:3000], epochs=2, weight_bits=4, seed=8,
                          progress=False).artifact)
    assert other["layers"] != runs[0]["layers"]


def test_cli_writes_artifact_and_report(data_dir, tmp_path, capsys):
    code = main(["--data", str(data_dir / "BTCUSDT_linear_5m.csv"), "--out", str(tmp_path / "m"),
                 "--reports", str(tmp_path / "r"), "--epochs", "2", "--weight-bits", "1"])
    assert code == 0
    assert json.loads((tmp_path / "m" / "model.json").read_text())["layers"][0]["weight_bits"] == 1
    assert (tmp_path / "r" / "precision.md").is_file()
    assert "epoch" in capsys.readouterr().err


def test_cli_missing_file_is_one_line_error(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no such kline file" in err and "\n" not in err


def test_cli_rejects_bad_hidden(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--data", "x.csv", "--hidden", "16,zero"])
    assert exit_.value.code == 2 and "layer sizes" in capsys.readouterr().err
