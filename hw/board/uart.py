"""8N1 UART: a receiver and a transmitter with ``lib.stream`` byte ports."""

from amaranth.hdl import Assert, Cat, Const, Cover, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from hw.gateware.formal import FreeInputs, Proof, check_held, count_while

#: Fewest clock cycles per bit: the receiver samples mid-bit and needs room either side.
MIN_CYCLES_PER_BIT = 4
#: Largest rate error from rounding the divisor; 8N1 tolerates about 5 % across both ends.
MAX_BAUD_ERROR = 0.02


class BaudRateError(ValueError):
    """A clock too slow, or a divisor too coarse, for the requested baud rate."""


def bit_cycles(clk_freq: float, baud: int) -> int:
    """Clock cycles per UART bit, checked against the limits above."""
    if baud <= 0 or clk_freq <= 0:
        raise BaudRateError(f"baud rate {baud} and clock {clk_freq} Hz must be positive")
    cycles = round(clk_freq / baud)
    if cycles < MIN_CYCLES_PER_BIT:
        raise BaudRateError(f"a {clk_freq / 1e6:g} MHz clock is too slow for {baud} baud: "
                            f"it needs at least {MIN_CYCLES_PER_BIT * baud / 1e6:g} MHz "
                            f"({MIN_CYCLES_PER_BIT} clocks per bit)")
    error = abs(clk_freq / cycles - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise BaudRateError(f"{baud} baud from a {clk_freq / 1e6:g} MHz clock is off by "
                            f"{error:.1%} (divisor {cycles}); at most {MAX_BAUD_ERROR:.0%} works")
    return cycles


def idle_cycles(bit_cycles: int) -> int:
    """Cycles of ``rx`` high after which a :class:`UartRx` is idle, whatever it was doing:
    two of synchroniser, then at most the rest of a start bit, eight data bits and the
    stop bit's half, ``9 * bit_cycles`` in all."""
    return 2 + 9 * bit_cycles


class UartRx(wiring.Component):
    """8N1 receiver: start bit, 8 data bits LSB first, one stop bit.

    ``rx`` passes a two-flop synchroniser; a start bit is confirmed half a bit after its
    falling edge, and every bit is then sampled in its middle. A byte is offered on ``o``
    in the middle of its stop bit, two cycles of synchroniser later than on the wire. A low
    stop bit pulses ``framing_error`` and drops the byte; the receiver then waits for the
    line to go idle (high), so a held-low line (a break) gives one error, not a stream of
    them. A byte completed while ``o`` still holds the previous one pulses ``overrun`` and
    is dropped.

    Members
    -------
    rx : In(1), idle high
    o : Out(stream.Signature(8))
    framing_error, overrun : Out(1), one-cycle pulses
    busy : Out(1), a byte (or a break) in progress: high from three cycles after its start
        bit's falling edge (the synchroniser, then the state register) until the receiver
        is idle again, as it offers the byte
    """

    def __init__(self, *, clk_freq: float, baud: int):
        self._bit_cycles = bit_cycles(clk_freq, baud)
        super().__init__({"rx": In(1, init=1), "o": Out(stream.Signature(8)),
                          "framing_error": Out(1), "overrun": Out(1), "busy": Out(1)})
        #: formal only: cycles ``rx`` has been high, saturating at :attr:`idle_cycles`
        #: (made here, so a proof of an enclosing design can relate its own counts to it)
        self.formal_high = Signal(range(self.idle_cycles + 1))

    @property
    def bit_cycles(self) -> int:
        return self._bit_cycles

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(self._bit_cycles))
        bits = Signal(range(8))
        shift = Signal(8)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(self._bit_cycles // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self._bit_cycles - 1), bits.eq(0)]
                    m.next = "DATA"
                    with m.If(rx):  # a glitch, not a start bit
                        m.next = "IDLE"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self._bit_cycles - 1), shift.eq(Cat(shift[1:], rx)),
                                 bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(~rx):
                        m.d.comb += self.framing_error.eq(1)
                        m.next = "BREAK"
                    with m.Elif(self.o.valid & ~self.o.ready):
                        m.d.comb += self.overrun.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [self.o.payload.eq(shift), self.o.valid.eq(1)]
                        m.next = "IDLE"
            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        if platform == "formal":
            self._check(m, fsm, timer, bits)
        return m

    @property
    def idle_cycles(self) -> int:
        """Cycles of ``rx`` high after which the receiver is idle: :func:`idle_cycles`."""
        return idle_cycles(self._bit_cycles)

    def _check(self, m, fsm, timer, bits):
        """Formal: after :attr:`idle_cycles` of ``rx`` high the receiver is idle (no byte
        in progress). Each cycle of ``rx`` high after the synchroniser brings the end of
        the byte in progress one cycle closer."""
        cycles = self._bit_cycles
        high = self.formal_high
        count_while(m, high, self.rx, self.idle_cycles)
        left = Signal(range(9 * cycles + 1))         # cycles to IDLE while rx stays high
        with m.Switch(fsm.state):
            for state, cycles_left in {
                    "START": timer + 1, "STOP": timer + 1, "BREAK": 1,
                    "DATA": timer + 1 + (7 - bits) * cycles + cycles}.items():
                with m.Case(fsm.encoding[state]):
                    m.d.comb += left.eq(cycles_left)
        m.d.comb += [
            Assert(Cat(fsm.ongoing(state) for state in fsm.encoding).any(),
                   "uart rx: a known state"),
            Assert(~fsm.ongoing("START") | (timer < cycles // 2), "uart rx: start bit timer"),
            Assert(high <= self.idle_cycles, "uart rx: the count of rx high saturates"),
            Assert((high < 2) | (left + high <= self.idle_cycles), "uart rx: no progress"),
            Assert((high < self.idle_cycles) | fsm.ongoing("IDLE"), "uart rx: not idle"),
            Cover((high >= 8 * cycles) & ~fsm.ongoing("IDLE"),
                  "uart rx: still receiving after 8 bit times of rx high"),
        ]


class UartTx(wiring.Component):
    """8N1 transmitter: takes a byte from ``i`` whenever the line is idle.

    Throughput: one byte per ``10 * bit_cycles + 1`` cycles when ``i`` is always valid (the
    stop bit lasts one cycle longer than the other bits). ``tx`` comes straight from a
    flip-flop.

    Members
    -------
    i : In(stream.Signature(8))
    tx : Out(1), idle high
    """

    def __init__(self, *, clk_freq: float, baud: int):
        self._bit_cycles = bit_cycles(clk_freq, baud)
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    @property
    def bit_cycles(self) -> int:
        return self._bit_cycles

    def elaborate(self, platform):
        m = Module()
        frame = Signal(10, init=~0)  # start, data LSB first, stop; shifts in idle ones
        bits_left = Signal(range(11))
        timer = Signal(range(self._bit_cycles))
        m.d.comb += [self.tx.eq(frame[0]), self.i.ready.eq(bits_left == 0)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [frame.eq(Cat(Const(0, 1), self.i.payload, Const(1, 1))),
                         bits_left.eq(10), timer.eq(self._bit_cycles - 1)]
        with m.Elif(bits_left != 0):
            with m.If(timer == 0):
                m.d.sync += [frame.eq(Cat(frame[1:], Const(1, 1))), bits_left.eq(bits_left - 1),
                             timer.eq(self._bit_cycles - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m


def proofs() -> list[Proof]:
    """The receiver's rules at the smallest divisor, for any line."""
    divisor, baud = MIN_CYCLES_PER_BIT, 115200

    def properties(m, rx):
        stall = check_held(m, rx.o, "o")
        m.d.comb += [Cover(stall & rx.o.ready, "a byte taken after a stall"),
                     Cover(rx.overrun, "an overrun"), Cover(rx.framing_error, "a framing error")]
    return [Proof("uart rx: idle after a quiet line", "hw.board.uart.UartRx", "prove",
                  depth=3, cover_depth=2 + 30 * divisor,
                  harness=lambda: FreeInputs(UartRx(clk_freq=divisor * baud, baud=baud),
                                             properties),
                  shows=f"with the divisor {divisor} (clock cycles per bit), after "
                        f"T = {idle_cycles(divisor)} cycles of rx high the receiver is idle, "
                        f"whatever it was receiving; o.payload holds while o.valid & ~o.ready")]
