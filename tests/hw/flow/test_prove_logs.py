"""hw.flow.prove reading what SymbiYosys and Amaranth write, without running a solver."""

from amaranth.hdl import Cover, Elaboratable, Module, Signal

from hw.flow import prove

COVER_LOG = """\
SBY 18:30:17 [proof_cover] engine_0: ## Reached cover statement in step 28 at top: /x/l.py:472 (_witness_.check_68)
SBY 18:30:21 [proof_cover] engine_0: ## Unreached cover statement at top: /x/link.py:475 (_witness_.check_79)
SBY 18:30:21 [proof_cover] summary:   reached cover statement top._witness_.check_68 at /x/l.py:472
SBY 18:30:21 [proof_cover] summary: unreached cover statements:
SBY 18:30:21 [proof_cover] summary:   top._witness_.check_79 at /x/link.py:475
SBY 18:30:21 [proof_cover] DONE (FAIL, rc=2)
"""


def test_only_the_summary_counts_a_cover_as_reached():
    assert prove.reached_covers(COVER_LOG) == {"top._witness_.check_68"}
    assert prove.failures(COVER_LOG) == ["unreached cover statements:"]


class Part(Elaboratable):
    def elaborate(self, platform):
        m = Module()
        a = Signal()
        m.d.sync += a.eq(~a)
        m.d.comb += Cover(a, "inner")
        return m


class Harness(Elaboratable):
    def elaborate(self, platform):
        m = Module()
        m.submodules.part = Part()
        b = Signal()
        m.d.sync += b.eq(1)
        m.d.comb += Cover(b, "outer")
        return m


def test_covers_of_the_harness_alone():
    """A proof without inner covers counts only the covers of the harness's module."""
    text = prove.rtlil(Harness(), platform="formal")
    assert sorted(c["message"] for c in prove.checks(text)["cover"]) == ["inner", "outer"]
    assert [c["message"] for c in prove.checks(prove.top_module(text))["cover"]] == ["outer"]
