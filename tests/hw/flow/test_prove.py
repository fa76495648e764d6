"""hw.prove: every proof passes, a core whose output queue is one entry short is caught, and
the structural check flags a ready that depends on valid.

Slow: SymbiYosys runs every proof of ``python -m hw.prove`` (the cost this adds to CI)."""

import json
from types import SimpleNamespace

import pytest
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw import prove as prove_command
from hw.flow import prove
from hw.gateware import credits
from hw.gateware.formal import FreeInputs, Proof

pytestmark = pytest.mark.slow


def small_core(latency=3, credits_=4):
    """The timing a core shows its proofs, shrunk so a bounded check reaches a full queue."""
    return SimpleNamespace(i=stream.Signature(8).create(), o=stream.Signature(8).create(),
                           latency=latency, ii=1, credits=credits_)


def core_proof(credit_queue, method, depth):
    core = small_core()
    return Proof(f"small core ({credit_queue.__name__})", "test", method, depth=depth,
                 harness=lambda: FreeInputs(credits.AbstractCore(core, credit_queue),
                                            credits.core_properties),
                 cover_depth=2 * core.credits + core.latency + 4, shows="")


class ShortQueue(credits.CreditQueue):
    """The output queue one entry too small for the credits."""

    @property
    def queue_depth(self):
        return self.credits - 1


def line_of(module, text):
    return next(number for number, line in enumerate(open(module.__file__), 1) if text in line)


def test_every_proof_passes(tmp_path):
    results = prove.run(prove.proofs(prove_command.proof_core()), tmp_path, jobs=2, timeout=900)
    failed = [entry for entry in results if not prove.passed(entry)]
    assert not failed, json.dumps(failed, indent=1)
    assert {entry["method"] for entry in results} == {"prove", "bmc", "structural"}


def test_queue_one_entry_too_small_is_caught(tmp_path):
    proofs = [core_proof(credits.CreditQueue, "prove", 1),
              core_proof(ShortQueue, "bmc", 2 * small_core().credits + 4)]
    right, short = prove.run(proofs, tmp_path, jobs=2, timeout=600)
    assert prove.passed(right), right
    assert short["result"] == "failed"
    overflow = f"credits.py:{line_of(credits, 'result offered to a full queue')}"
    assert any(overflow in problem for problem in short["problems"]), short["problems"]


class CombinationalReady(wiring.Component):
    """A stream stage whose ready looks at its own valid: what the check must refuse."""

    def __init__(self):
        super().__init__({"i": In(stream.Signature(8)), "o": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.o.valid.eq(self.i.valid), self.o.payload.eq(self.i.payload),
                     self.i.ready.eq(self.o.ready | ~self.i.valid)]
        return m


def test_structural_check_finds_ready_depending_on_valid(tmp_path):
    proof = Proof("combinational ready", "test", "structural", depth=0,
                  harness=CombinationalReady, shows="")
    [result] = prove.run([proof], tmp_path, jobs=1, timeout=120)
    assert result["result"] == "failed"


def test_cli_writes_both_reports(tmp_path, capsys):
    assert prove_command.main(["--only", "skid", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "reports" / "formal.json").read_text())
    assert data["schema_version"] == prove.SCHEMA_VERSION and data["all_passed"]
    for entry in data["properties"]:
        assert {"name", "component", "method", "depth", "result", "seconds"} <= set(entry)
    assert "skid: stream rules" in (tmp_path / "reports" / "formal.md").read_text()
    assert prove_command.main(["--only", "no such property", "--out", str(tmp_path)]) == 2
