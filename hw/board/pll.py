"""PLL divider search and instantiation for the Lattice families the boards use.

:func:`ecp5_pll` finds ``EHXPLLL`` dividers (feedback from CLKOP, as Trellis' ``ecppll``
does), :func:`ice40_pll` finds ``SB_PLL40`` dividers in SIMPLE feedback mode (as
IceStorm's ``icepll`` does). Both search every legal divider combination, keep the VCO
and phase-detector frequencies inside the datasheet limits, and return the closest
achievable output; a request that cannot be met within :data:`TOLERANCE` raises
:class:`PllError` naming the nearest frequency that can.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Instance

#: Relative error accepted between the requested and the achieved output frequency.
TOLERANCE = 0.01

MHZ = 1e6


class PllError(ValueError):
    """A clock frequency the PLL cannot produce."""


@dataclass(frozen=True)
class Limits:
    input_hz: tuple
    pfd_hz: tuple
    vco_hz: tuple
    output_hz: tuple


ECP5_LIMITS = Limits(input_hz=(8 * MHZ, 400 * MHZ), pfd_hz=(3.125 * MHZ, 400 * MHZ),
                     vco_hz=(400 * MHZ, 800 * MHZ), output_hz=(3.125 * MHZ, 400 * MHZ))
ICE40_LIMITS = Limits(input_hz=(10 * MHZ, 133 * MHZ), pfd_hz=(10 * MHZ, 133 * MHZ),
                      vco_hz=(533 * MHZ, 1066 * MHZ), output_hz=(16 * MHZ, 275 * MHZ))


@dataclass(frozen=True)
class Ecp5Pll:
    """``EHXPLLL`` settings: ``output = input / clki_div * clkfb_div`` and
    ``vco = output * clkop_div``."""
    input_hz: float
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def pfd_hz(self) -> float:
        return self.input_hz / self.clki_div

    @property
    def output_hz(self) -> float:
        return self.pfd_hz * self.clkfb_div

    @property
    def vco_hz(self) -> float:
        return self.output_hz * self.clkop_div

    def instance(self, clk_in, clk_out, locked) -> Instance:
        """The PLL primitive; ``clk_in`` is the buffered board clock."""
        return Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{self.input_hz / MHZ:g}",
            a_FREQUENCY_PIN_CLKOP=f"{self.output_hz / MHZ:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKOP_ENABLE="ENABLED", p_FEEDBK_PATH="CLKOP",
            p_CLKI_DIV=self.clki_div, p_CLKFB_DIV=self.clkfb_div,
            p_CLKOP_DIV=self.clkop_div, p_CLKOP_CPHASE=self.clkop_div - 1, p_CLKOP_FPHASE=0,
            i_CLKI=clk_in, i_CLKFB=clk_out, i_RST=0, i_STDBY=0, i_PHASESEL0=0,
            i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=clk_out, o_LOCK=locked)


@dataclass(frozen=True)
class Ice40Pll:
    """``SB_PLL40`` settings (SIMPLE feedback): ``pfd = input / (divr + 1)``,
    ``vco = pfd * (divf + 1)``, ``output = vco / 2**divq``."""
    input_hz: float
    divr: int
    divf: int
    divq: int

    @property
    def pfd_hz(self) -> float:
        return self.input_hz / (self.divr + 1)

    @property
    def vco_hz(self) -> float:
        return self.pfd_hz * (self.divf + 1)

    @property
    def output_hz(self) -> float:
        return self.vco_hz / 2 ** self.divq

    @property
    def filter_range(self) -> int:
        """Loop filter setting for the phase-detector frequency (as ``icepll`` picks it)."""
        pfd_mhz = self.pfd_hz / MHZ
        return next(setting for setting, upper in enumerate((17, 26, 44, 66, 101), 1)
                    if pfd_mhz < upper) if pfd_mhz < 101 else 6

    def instance(self, pad, clk_out, locked) -> Instance:
        """The PLL primitive fed straight from the clock pad: on iCE40 a PLL placed at the
        pin it is fed from disables that pin's input buffer, so ``SB_PLL40_PAD`` it is."""
        return Instance(
            "SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE", p_DIVR=self.divr, p_DIVF=self.divf, p_DIVQ=self.divq,
            p_FILTER_RANGE=self.filter_range,
            i_PACKAGEPIN=pad, i_RESETB=1, i_BYPASS=0,
            o_PLLOUTGLOBAL=clk_out, o_LOCK=locked)


def ecp5_pll(input_hz: float, output_hz: float, tolerance: float = TOLERANCE) -> Ecp5Pll:
    # CLKOP_DIV only moves the VCO: try the ones that put it nearest the middle of its range
    vco_middle = sum(ECP5_LIMITS.vco_hz) / 2
    candidates = (Ecp5Pll(input_hz, clki, clkfb, clkop)
                  for clki in range(1, 129) for clkfb in range(1, 81)
                  for nearest in [round(vco_middle * clki / (input_hz * clkfb))]
                  for clkop in range(max(1, nearest - 1), min(128, nearest + 1) + 1))
    return best(candidates, "ECP5 EHXPLLL", ECP5_LIMITS, input_hz, output_hz, tolerance)


def ice40_pll(input_hz: float, output_hz: float, tolerance: float = TOLERANCE) -> Ice40Pll:
    candidates = (Ice40Pll(input_hz, divr, divf, divq)
                  for divr in range(16) for divf in range(128) for divq in range(1, 7))
    return best(candidates, "iCE40 SB_PLL40", ICE40_LIMITS, input_hz, output_hz, tolerance)


def best(candidates, name: str, limits: Limits, input_hz: float, output_hz: float,
         tolerance: float):
    """The legal candidate closest to ``output_hz``; among equals, the VCO nearest the
    middle of its range (the most margin for the loop)."""
    mhz = f"{output_hz / MHZ:g} MHz"
    if not within(input_hz, limits.input_hz):
        raise PllError(f"{name}: input clock {input_hz / MHZ:g} MHz is outside "
                       f"{span(limits.input_hz)}")
    if not within(output_hz, limits.output_hz):
        raise PllError(f"{name}: {mhz} is outside the output range {span(limits.output_hz)}")
    vco_middle = sum(limits.vco_hz) / 2

    def legal(pll):
        return within(pll.pfd_hz, limits.pfd_hz) and within(pll.vco_hz, limits.vco_hz) \
            and within(pll.output_hz, limits.output_hz)

    def cost(pll):
        return abs(pll.output_hz - output_hz), abs(pll.vco_hz - vco_middle)

    chosen = min(filter(legal, candidates), key=cost, default=None)
    if chosen is None or abs(chosen.output_hz - output_hz) > tolerance * output_hz:
        nearest = f"; nearest is {chosen.output_hz / MHZ:.4g} MHz" if chosen else ""
        raise PllError(f"{name}: cannot make {mhz} from {input_hz / MHZ:g} MHz within "
                       f"{tolerance:.1%}{nearest}")
    return chosen


def within(value: float, bounds: tuple) -> bool:
    return bounds[0] <= value <= bounds[1]


def span(bounds: tuple) -> str:
    return f"[{bounds[0] / MHZ:g}, {bounds[1] / MHZ:g}] MHz"
