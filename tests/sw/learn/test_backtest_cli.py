"""python -m sw.backtest: the report files and keys, --model, and one-line errors."""

import json

import pytest

from sw.backtest import main
from sw.data.fetch import save_csv
from sw.data.synthetic import synthetic_klines
from sw.learn.train import train_model
from sw.spec.artifact import save

ROW_KEYS = {"name", "gross_return", "net_return_maker", "net_return_taker", "sharpe",
            "max_drawdown", "trades", "turnover", "time_in_market", "hit_rate", "accuracy",
            "balanced_accuracy"}
DAYS = 7


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """Seven days of synthetic 5m klines (walk-forward with two training days: a selection
    fold, a boundary fold and two headline folds)."""
    return save_csv(synthetic_klines(288 * DAYS, seed=21),
                    tmp_path_factory.mktemp("data") / "BTCUSDT_linear_5m.csv")


def test_walk_forward_writes_the_report(week, tmp_path, capsys):
    code = main(["--data", str(week), "--walk-forward", "--train-days", "2", "--epochs", "2",
                 "--taker-fee", "0.0006", "--slippage-bp", "1", "--reports", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads((tmp_path / "backtest.json").read_text())
    assert report["schema_version"] == 1 and report["scheme"]["name"]
    assert report["costs"] == {"maker_fee": 0.0002, "taker_fee": 0.0006, "slippage_bp": 1.0,
                               "funding": "ignored"}
    assert {row["name"] for row in report["schemes"]} >= {"fp32", "fp16", "exported",
                                                          "int4-qat", "binary-qat"}
    assert [row["name"] for row in report["baselines"]] == [
        "buy-and-hold", "always-flat", "majority", "persistence", "volatility-rule", "random"]
    for row in report["schemes"] + report["baselines"]:
        assert ROW_KEYS <= set(row), row["name"]
    wf = report["walk_forward"]
    assert [fold["part"] for fold in wf["folds"]] == ["selection", "boundary", "headline",
                                                      "headline"]
    for fold in wf["folds"]:
        assert len(fold["exported_seeds"]) == 3 and fold["test_klines"] > 0
    assert wf["labels"]["chosen"] in {c["name"] for c in wf["labels"]["candidates"]} | {None}
    assert "exported_vs_best_baseline" in wf["pooled"]["headline"]
    assert report["multiple_testing"]["variants"] > len(report["schemes"])
    assert "## The label" in (tmp_path / "backtest.md").read_text()
    assert (tmp_path / "backtest.png").stat().st_size > 20_000
    assert "walk-forward, last third: exported" in out
    assert "[walk-forward" in err and "fold 4/4" in err


def test_model_artifact_is_the_exported_row(week, tmp_path, capsys):
    from sw.data.load import load
    model = train_model(load(week), epochs=2, weight_bits=4, label="sign-band", progress=False)
    model_dir = save(model, tmp_path / "model").parent
    assert main(["--data", str(week), "--model", str(model_dir),
                 "--reports", str(tmp_path / "r")]) == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "r" / "backtest.json").read_text())
    assert report["scheme"]["name"] == "int4-qat" and report["label"]["name"] == "sign-band"
    exported = next(r for r in report["schemes"] if r["name"] == "exported")
    assert "--model" in exported["signal"]
    assert report["training"]["epochs"] == 2
    code = main(["--data", str(week), "--model", str(model_dir), "--label", "terciles"])
    assert code == 2 and "trained on the sign-band label" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--taker-fee", "0.5"], ["--maker-fee", "-0.1"],
                                    ["--slippage-bp", "-1"], ["--train-days", "0"]])
def test_bad_option_is_a_usage_error(option, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--data", "unread.csv", *option])
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err


def test_missing_file_is_one_line_error(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "nope.csv"), "--reports", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no such kline file" in err and "\n" not in err
    assert not (tmp_path / "backtest.json").exists()
