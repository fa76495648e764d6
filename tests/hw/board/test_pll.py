"""PLL divider search, checked against the datasheet limits and against the reference
calculators that ship with the YoWASP toolchain (Trellis' ecppll, IceStorm's icepll)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hw.board.pll import (
    ECP5_LIMITS,
    ICE40_LIMITS,
    TOLERANCE,
    PllError,
    ecp5_pll,
    ice40_pll,
)

MHZ = 1e6


def reference_tool(name: str) -> str:
    path = shutil.which(f"yowasp-{name}", path=Path(sys.executable).parent)
    assert path, f"yowasp-{name} ships with the yowasp-nextpnr wheels this project installs"
    return path


def check_legal(pll, limits):
    assert limits.pfd_hz[0] <= pll.pfd_hz <= limits.pfd_hz[1]
    assert limits.vco_hz[0] <= pll.vco_hz <= limits.vco_hz[1]
    assert limits.output_hz[0] <= pll.output_hz <= limits.output_hz[1]


@pytest.mark.parametrize("input_mhz, output_mhz", [
    (25, 125), (25, 100), (25, 50), (25, 200), (25, 62.5), (25, 33.333), (100, 150)])
def test_ecp5_reaches_requested_clock(input_mhz, output_mhz):
    pll = ecp5_pll(input_mhz * MHZ, output_mhz * MHZ)
    assert abs(pll.output_hz - output_mhz * MHZ) <= TOLERANCE * output_mhz * MHZ
    check_legal(pll, ECP5_LIMITS)
    assert 1 <= pll.clki_div <= 128 and 1 <= pll.clkfb_div <= 80 and 1 <= pll.clkop_div <= 128
    assert pll.output_hz == pytest.approx(input_mhz * MHZ / pll.clki_div * pll.clkfb_div)


@pytest.mark.parametrize("input_mhz, output_mhz", [
    (12, 24), (12, 30), (12, 48), (12, 100), (12, 16), (12, 250)])
def test_ice40_reaches_requested_clock(input_mhz, output_mhz):
    pll = ice40_pll(input_mhz * MHZ, output_mhz * MHZ)
    assert abs(pll.output_hz - output_mhz * MHZ) <= TOLERANCE * output_mhz * MHZ
    check_legal(pll, ICE40_LIMITS)
    assert 0 <= pll.divr <= 15 and 0 <= pll.divf <= 127 and 1 <= pll.divq <= 6


@pytest.mark.parametrize("search, input_mhz, output_mhz, message", [
    (ecp5_pll, 25, 500, "outside the output range"),
    (ecp5_pll, 25, 2, "outside the output range"),
    (ecp5_pll, 5, 100, "input clock 5 MHz is outside"),
    (ecp5_pll, 25, 73.3, "nearest is 71.88 MHz"),
    (ice40_pll, 12, 12, "outside the output range"),
    (ice40_pll, 12, 300, "outside the output range"),
])
def test_unreachable_clock_is_an_error(search, input_mhz, output_mhz, message):
    with pytest.raises(PllError, match=re.escape(message)):
        search(input_mhz * MHZ, output_mhz * MHZ)


@pytest.mark.parametrize("output_mhz", [125, 48, 37, 200])
def test_ecp5_matches_ecppll(tmp_path, output_mhz):
    """Same best frequency as Trellis' calculator (whose choice is exhaustive too)."""
    subprocess.run([reference_tool("ecppll"), "-i", "25", "-o", str(output_mhz), "-f", "pll.v"],
                   cwd=tmp_path, check=True, capture_output=True)
    verilog = (tmp_path / "pll.v").read_text()
    divider = {name: int(re.search(rf"\.{name}\((\d+)\)", verilog)[1])
               for name in ("CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV")}
    ours = ecp5_pll(25 * MHZ, output_mhz * MHZ, tolerance=0.05)
    assert ours.output_hz == pytest.approx(25 * MHZ / divider["CLKI_DIV"] * divider["CLKFB_DIV"])


@pytest.mark.parametrize("output_mhz", [24, 30, 48, 100])
def test_ice40_matches_icepll(output_mhz):
    done = subprocess.run([reference_tool("icepll"), "-i", "12", "-o", str(output_mhz)],
                          check=True, capture_output=True, text=True)
    achieved = float(re.search(r"F_PLLOUT:\s+([\d.]+) MHz \(achieved\)", done.stdout)[1])
    filter_range = int(re.search(r"FILTER_RANGE:\s+(\d+)", done.stdout)[1])
    ours = ice40_pll(12 * MHZ, output_mhz * MHZ)
    assert ours.output_hz / MHZ == pytest.approx(achieved, abs=5e-4)
    assert ours.filter_range == filter_range
