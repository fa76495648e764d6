"""Supported boards, and the board top that puts a board-independent core behind a PLL.

A :class:`Board` names the amaranth-boards platform per device, the default clock the
design runs at, and the tools that build and program it. :class:`BoardTop` adds the PLL,
a power-on reset held until the PLL locks, the UART pins and the LEDs around any
component with ports ``rx: In(1)``, ``tx: Out(1)`` and ``leds: Out(n)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amaranth.build import ResourceError
from amaranth.hdl import (
    ClockDomain,
    ClockSignal,
    Elaboratable,
    Module,
    ResetSignal,
    Signal,
)
from amaranth.lib import io
from amaranth.lib.cdc import FFSynchronizer
from amaranth_boards.colorlight_5a75b_r7_0 import Colorlight_5A75B_R70Platform
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.icesugar import ICESugarPlatform
from amaranth_boards.ulx3s import (
    ULX3S_12F_Platform,
    ULX3S_25F_Platform,
    ULX3S_45F_Platform,
    ULX3S_85F_Platform,
)

from hw.board.pll import ecp5_pll, ice40_pll

#: Time the design is held in reset after the PLL locks; it also covers the iCE40 erratum
#: that block RAM reads as zero for about 3 us after configuration.
POWER_ON_RESET_S = 10e-6


class BoardError(ValueError):
    """An unknown board or device."""


@dataclass(frozen=True)
class Board:
    """One development board and how to build for it.

    Parameters
    ----------
    name : the ``--board`` name.
    family : ``"ecp5"`` or ``"ice40"``: picks the PLL and the nextpnr flavour.
    platforms : device name (the ``--device`` value) to amaranth-boards platform class.
    default_device : the device used when none is given.
    clock_mhz : default design clock per core configuration (``parallel``, ``folded``):
        one that place and route meets whatever the placement
        (``python -m hw.seeds`` checks a board and configuration).
    programmer : the tool that programs this board (:data:`hw.flow.program.PROGRAMMERS`).
    programmer_args : the options that tell ``programmer`` which board or cable this is.
    toolchain_opts : Amaranth build overrides, e.g. Yosys options.
    """
    name: str
    family: str
    platforms: dict
    default_device: str
    clock_mhz: dict
    programmer: str
    programmer_args: tuple = ()
    toolchain_opts: dict = field(default_factory=dict)

    @property
    def devices(self) -> tuple:
        return tuple(self.platforms)

    @property
    def tools(self) -> tuple:
        packer = {"ecp5": "ecppack", "ice40": "icepack"}[self.family]
        return ("yosys", f"nextpnr-{self.family}", packer)

    @property
    def bitstream_suffix(self) -> str:
        """What the packer writes: ``.bit`` (ecppack) or ``.bin`` (icepack)."""
        return {"ecp5": ".bit", "ice40": ".bin"}[self.family]

    def platform(self, device: str | None = None):
        device = device or self.default_device
        if device not in self.platforms:
            raise BoardError(f"board {self.name} has no device {device!r}; valid: "
                             f"{', '.join(self.devices)}")
        return self.platforms[device]()

    def pll(self, platform, clock_hz: float):
        """PLL settings that make ``clock_hz`` from the board oscillator."""
        search = {"ecp5": ecp5_pll, "ice40": ice40_pll}[self.family]
        return search(platform.default_clk_frequency, clock_hz)


#: The UP5K has eight 16x16 multipliers (SB_MAC16); Yosys maps to them only when asked.
UP5K_OPTS = {"synth_opts": "-dsp"}
#: Default clocks (MHz) per core configuration.
ECP5_CLOCKS = {"parallel": 70, "folded": 90}
ICE40_CLOCKS = {"parallel": 20, "folded": 20}

BOARDS = {board.name: board for board in [
    Board("ulx3s", "ecp5", {"12F": ULX3S_12F_Platform, "25F": ULX3S_25F_Platform,
                            "45F": ULX3S_45F_Platform, "85F": ULX3S_85F_Platform},
          default_device="85F", clock_mhz=ECP5_CLOCKS, programmer="openFPGALoader",
          programmer_args=("--board", "ulx3s")),
    Board("icebreaker", "ice40", {"UP5K": ICEBreakerPlatform},
          default_device="UP5K", clock_mhz=ICE40_CLOCKS, programmer="iceprog",
          toolchain_opts=UP5K_OPTS),
    Board("icesugar", "ice40", {"UP5K": ICESugarPlatform},
          default_device="UP5K", clock_mhz=ICE40_CLOCKS, programmer="icesprog",
          toolchain_opts=UP5K_OPTS),
    Board("colorlight-5a75b", "ecp5", {"25F": Colorlight_5A75B_R70Platform},
          default_device="25F", clock_mhz=ECP5_CLOCKS, programmer="openFPGALoader",
          programmer_args=("--cable", "ft232")),
]}


def board(name: str) -> Board:
    if name not in BOARDS:
        raise BoardError(f"unknown board {name!r}; valid: {', '.join(BOARDS)}")
    return BOARDS[name]


class BoardTop(Elaboratable):
    """``core`` clocked by a PLL, wired to the board's UART and LEDs.

    The ``sync`` domain runs at ``pll.output_hz`` and stays in reset until the PLL has
    been locked for :data:`POWER_ON_RESET_S`. LEDs beyond the board's count are left
    unconnected; the board's UART ``rx``/``tx`` pins drive the core's ``rx``/``tx``.
    """

    def __init__(self, core, family: str, pll):
        self.core = core
        self._family = family
        self._pll = pll

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain("sync")
        platform.add_clock_constraint(sync.clk, self._pll.output_hz)
        locked = Signal()
        clk_port = platform.request(platform.default_clk, dir="-")
        if self._family == "ice40":
            m.submodules.pll = self._pll.instance(clk_port.io, sync.clk, locked)
        else:
            m.submodules.clk_buffer = clk_buffer = io.Buffer("i", clk_port)
            m.submodules.pll = self._pll.instance(clk_buffer.i, sync.clk, locked)
        self.power_on_reset(m, locked)

        m.submodules.core = core = self.core
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buffer = rx_buffer = io.Buffer("i", uart.rx)
        m.submodules.tx_buffer = tx_buffer = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx_buffer.i), tx_buffer.o.eq(core.tx)]
        for index, led in enumerate(self.leds(platform, len(core.leds))):
            m.submodules[f"led_buffer_{index}"] = led_buffer = io.Buffer("o", led)
            m.d.comb += led_buffer.o.eq(core.leds[index])
        return m

    def power_on_reset(self, m: Module, locked: Signal):
        m.domains.por = por = ClockDomain("por", reset_less=True, local=True)
        m.d.comb += por.clk.eq(ClockSignal("sync"))
        delay = max(1, int(POWER_ON_RESET_S * self._pll.output_hz))
        timer = Signal(range(delay + 1))
        locked_por = Signal()
        m.submodules.locked_sync = FFSynchronizer(locked, locked_por, o_domain="por")
        # the reset reaches every flip-flop: drive it from a flip-flop, not from a comparator
        in_reset = Signal(init=1)
        with m.If(~locked_por):
            m.d.por += timer.eq(0)
        with m.Elif(timer != delay):
            m.d.por += timer.eq(timer + 1)
        m.d.por += in_reset.eq(timer != delay)
        m.d.comb += ResetSignal("sync").eq(in_reset)

    @staticmethod
    def leds(platform, count: int) -> list:
        leds = []
        for index in range(count):
            try:
                leds.append(platform.request("led", index, dir="-"))
            except ResourceError:
                break
        return leds
