"""The board-independent top: the signal core behind the UART host link, with status LEDs."""

from amaranth.hdl import ClockDomain, ClockSignal, DomainRenamer, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.board.link import UartLink
from hw.gateware.core import SignalCore, resolve_config
from sw.spec.frames import model_id

LED_WARM, LED_ERROR, LED_HEARTBEAT = 5, 6, 7
#: Classes shown one-hot on the LEDs below ``LED_WARM``; a model with more shows its signal
#: in binary there.
ONE_HOT_CLASSES = LED_WARM


class LinkedCore(wiring.Component):
    """:class:`hw.gateware.core.SignalCore` fed and read by :class:`hw.board.link.UartLink`.

    Klines arrive as frames on ``rx`` (:mod:`sw.spec.frames`); each result leaves as a frame on
    ``tx`` with the cycles it spent in the core. A reset frame resets the core's history.
    A board top adds the clock (``clk_freq``), the pins and nothing else.

    LEDs: ``leds[0:classes]`` the last signal one-hot (binary for more than
    ``ONE_HOT_CLASSES`` classes), ``leds[5]`` its ``warm`` flag, ``leds[6]`` an error
    (bad frame, framing, overrun, timeout) since the last reset frame, ``leds[7]`` a
    heartbeat toggling every half second: the clock runs.

    Latency and initiation interval are the core's (:attr:`latency`, :attr:`ii`): the link
    measures exactly the core, and the UART, not the core, limits the kline rate.

    Members
    -------
    rx : In(1), tx : Out(1), leds : Out(8)
    """

    def __init__(self, model, *, config: str = "parallel", clk_freq: float,
                 baud: int = 115200, timeout_bytes: int = 64):
        self._clk_freq = clk_freq
        self._classes = len(model.classes)
        self._core = SignalCore(model, config=config)
        # the folded core runs at an iCE40's 20 MHz and nearly fills it: no kline skid there
        folded, _ = resolve_config(model, config)
        self._link = UartLink(self._classes, clk_freq=clk_freq, baud=baud, kline_skid=not folded,
                              latency=self._core.latency, model_id=model_id(model),
                              timeout_bytes=timeout_bytes)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(8)})

    @property
    def latency(self) -> int:
        """Cycles from a kline entering the core to its result leaving it."""
        return self._core.latency

    @property
    def ii(self) -> int:
        """Cycles between klines the core can accept."""
        return self._core.ii

    def timing(self) -> dict:
        """The core's declared timing (:meth:`hw.gateware.core.SignalCore.timing`)."""
        return self._core.timing()

    @property
    def bit_cycles(self) -> int:
        """Clock cycles per UART bit."""
        return self._link.bit_cycles

    def elaborate(self, platform):
        m = Module()
        core, link = self._core, self._link
        m.submodules.link = link
        # the core in a domain of its own, reset by link.core_reset alone (a register)
        m.domains.core = domain = ClockDomain("core", local=True)
        m.d.comb += [domain.clk.eq(ClockSignal("sync")), domain.rst.eq(link.core_reset)]
        m.submodules.core = DomainRenamer("core")(core)
        wiring.connect(m, link.kline, core.i)
        wiring.connect(m, core.o, link.result)
        m.d.comb += [link.rx.eq(self.rx), self.tx.eq(link.tx)]

        signal, warm, error = Signal.like(core.o.payload.signal), Signal(), Signal()
        with m.If(core.o.valid & core.o.ready):
            m.d.sync += [signal.eq(core.o.payload.signal), warm.eq(core.o.payload.warm)]
        with m.If(link.error):
            m.d.sync += error.eq(1)
        with m.If(link.core_reset):
            m.d.sync += [error.eq(0), warm.eq(0)]

        half_period = max(int(self._clk_freq // 2), 1)
        countdown, heartbeat = Signal(range(half_period)), Signal()
        m.d.sync += countdown.eq(countdown - 1)
        with m.If(countdown == 0):
            m.d.sync += [countdown.eq(half_period - 1), heartbeat.eq(~heartbeat)]

        shown = (1 << signal) if self._classes <= ONE_HOT_CLASSES else signal
        m.d.comb += [self.leds[:LED_WARM].eq(shown), self.leds[LED_WARM].eq(warm),
                     self.leds[LED_ERROR].eq(error), self.leds[LED_HEARTBEAT].eq(heartbeat)]
        return m
