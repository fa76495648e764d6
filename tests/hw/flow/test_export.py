"""python -m hw.export: Verilog + JSON for a model, one-line errors for a bad model or config."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hw.export import main
from hw.flow.export import TOP, ExportMismatch, read
from sw.spec import artifact, schema

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("model")
    artifact.save(artifact.random_model(np.random.default_rng(0)), directory)
    return directory


@pytest.mark.parametrize("config", ["parallel", "folded"])
def test_export_writes_verilog_and_json(model_dir, tmp_path, config, capsys):
    assert main(["--model", str(model_dir), "--config", config, "--out", str(tmp_path)]) == 0
    assert f"{config} core" in capsys.readouterr().out
    verilog = (tmp_path / f"{TOP}.v").read_text()
    header = verilog[verilog.index(f"module {TOP}("):].split(";")[0]
    for port in ("clk", "rst", "i__valid", "i__ready", "i__payload", "o__valid", "o__ready",
                 "o__payload"):
        assert port in header
    assert "input [159:0] i__payload;" in verilog and "output [26:0] o__payload;" in verilog
    described = json.loads((tmp_path / f"{TOP}.json").read_text())
    model_file = model_dir / "model.json"
    assert described["model"]["sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert described["config"] == config and described["classes"] == ["down", "flat", "up"]
    assert described["schema_version"] == schema.EXPORT
    assert (described["ii"] == 1) == (config == "parallel")
    assert described["schema_version"] >= 2
    assert sum(described["stage_cycles"].values()) == described["latency_cycles"]
    assert described["latency_cycles_back_to_back"] == described["latency_cycles"]
    assert described["latency_spacing_cycles"] == 1
    assert described["latency_cycles"] > 0 and described["mac_lanes"] == (
        [7 * 16, 16 * 3] if config == "parallel" else [1, 1])
    out = described["ports"]["o__payload"]
    assert out["width"] == 27
    assert out["fields"] == {"signal": [1, 0], "raw[0]": [9, 2], "raw[1]": [17, 10],
                             "raw[2]": [25, 18], "warm": [26, 26]}
    assert described["ports"]["i__payload"]["fields"]["volume"] == [159, 128]
    assert read(tmp_path / f"{TOP}.json") == described
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{TOP}.json", f"{TOP}.v"]


def test_a_torn_pair_is_refused(model_dir, tmp_path):
    """D10: the Verilog of one export beside the description of another (a kill between
    the two writes) is not taken for a pair (the folded core: the pair check is the same,
    its export a fraction of the time)"""
    assert main(["--model", str(model_dir), "--config", "folded", "--out", str(tmp_path)]) == 0
    verilog = tmp_path / f"{TOP}.v"
    verilog.write_text(verilog.read_text() + "// another export\n")
    with pytest.raises(ExportMismatch, match=f"{verilog} is not the Verilog"):
        read(tmp_path / f"{TOP}.json")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "hw.export", *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_export_bad_model_path(tmp_path):
    done = run_cli("--model", str(tmp_path / "missing"), "--out", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "no model file" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / f"{TOP}.v").exists()


def test_export_truncated_model_and_bad_config(model_dir, tmp_path):
    broken = tmp_path / "model.json"
    broken.write_text((model_dir / "model.json").read_text()[:200])
    done = run_cli("--model", str(tmp_path), "--out", str(tmp_path))
    assert done.returncode == 1 and "not a complete JSON model file" in done.stderr
    done = run_cli("--model", str(model_dir), "--config", "fast", "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: config 'fast': choose one of parallel, folded, "
                                   "or a tuple of MAC lanes per layer")
