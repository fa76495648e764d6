"""hw.flow.equivalence: Yosys shows a design equivalent to itself and does not show a
changed one equivalent; a git revision's sources come out of ``git archive``."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hw.flow.equivalence import check, elaborate, source_tree
from sw.spec import artifact
from sw.spec.features import FEATURES, FeatureSpec

ROOT = Path(__file__).resolve().parents[3]


def tiny_models(tmp_path) -> tuple[Path, Path]:
    """A 2-2-2 model, and the same with one weight of its last layer changed."""
    model = artifact.random_model(np.random.default_rng(3), FeatureSpec(FEATURES[:2], (10, 10)),
                                  hidden=(2,), classes=2)
    same = artifact.save(model, tmp_path / "same.json")
    model.layers[-1].weights[0, 0] += 1 if model.layers[-1].weights[0, 0] < 127 else -1
    return same, artifact.save(model, tmp_path / "changed.json")


@pytest.mark.slow
@pytest.mark.parametrize("config", ["parallel", "folded"])
def test_equivalent_to_itself_and_not_to_a_changed_model(tmp_path, config):
    same, changed = tiny_models(tmp_path)
    results = {}
    for name, other in (("same", same), ("changed", changed)):
        workdir = tmp_path / name
        workdir.mkdir()
        elaborate(ROOT, same, config, "mlp", workdir / "before.il")
        elaborate(ROOT, other, config, "mlp", workdir / "after.il")
        results[name] = check(workdir)
    assert results["same"].equivalent and results["same"].unproven == 0
    assert results["same"].same_stat and sum(results["same"].stat_after.values()) > 0
    assert not results["changed"].equivalent and results["changed"].unproven > 0


def test_source_tree_of_a_revision(tmp_path):
    if shutil.which("git") is None or subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
            check=False).returncode:
        pytest.skip("not a git checkout")
    tree = source_tree("HEAD", tmp_path / "tree", ROOT)
    assert (tree / "hw" / "gateware" / "core.py").is_file()
    assert (tree / "sw" / "spec" / "artifact.py").is_file()
    assert not (tree / "tests").exists()
