"""The board side of the host link: UART bytes <-> frames (:mod:`sw.spec.frames`) <-> core streams."""

from contextlib import contextmanager

from amaranth.hdl import Array, Assert, Assume, Cat, Cover, Module, Mux, ResetInserter, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.crc import Processor, catalog
from amaranth.lib.wiring import In, Out

from hw.board.uart import MIN_CYCLES_PER_BIT, UartRx, UartTx, idle_cycles
from hw.gateware.formal import (AnySeq, FreeInputs, Proof, after_clean_cycle, check_held,
                                count_while, drive_free)
from hw.gateware.layouts import KLINE, signal_layout
from hw.gateware.skid import SkidBuffer
from sw.spec.frames import SYNC, VERSION, ErrorCode, Ready, Type, encode, payload_length

ERROR_CODE = range(max(ErrorCode) + 1)   # 0: no error
#: Cycles from the receiver's idle to its last byte taken by the parser on a quiet line:
#: through the receiver's output register and the skid buffer.
DRAIN_CYCLES = 3
COUNTER_BITS = 32


def crc8() -> Processor:
    """CRC-8/SMBUS over bytes, as :func:`sw.spec.frames.crc8`."""
    return Processor(catalog.CRC8_SMBUS(data_width=8))


def crc8_step(crc, byte):
    """CRC-8/SMBUS of one more byte, bit by bit as :func:`sw.spec.frames.crc8` computes it:
    the reference the proofs hold :func:`crc8` to."""
    crc = crc ^ byte
    for _ in range(8):
        crc = Mux(crc[7], (crc << 1)[:8] ^ 0x07, (crc << 1)[:8])
    return crc


class FrameParser(wiring.Component):
    """Bytes in, klines out: hunts for ``SYNC``, checks the type and the CRC.

    A good kline frame is offered on ``kline`` two cycles after the cycle its CRC byte is
    taken (the ``CHECK`` state, then ``EMIT``), and no more bytes are taken until the kline
    is; a good reset frame pulses ``reset`` one cycle after its CRC byte is taken. A bad
    type or CRC pulses ``error`` with its :class:`~sw.spec.frames.ErrorCode`, as does silence of
    ``timeout_cycles`` inside a frame; the parser then hunts for ``SYNC`` again. ``abort``
    (a byte lost on the wire) drops a partial frame silently, also in the cycle a byte of
    it is taken.

    Members
    -------
    i : In(stream.Signature(8))
    kline : Out(stream.Signature(KLINE))
    reset : Out(1), pulse
    error : Out(ERROR_CODE), non-zero for one cycle
    abort : In(1)
    busy : Out(1), not hunting for ``SYNC``: inside a frame, or offering its kline
    """

    def __init__(self, *, timeout_cycles: int):
        self.timeout_cycles = timeout_cycles
        #: formal only: cycles without a byte offered on ``i``, saturating at
        #: ``timeout_cycles`` (made here, so a proof of the link can relate its counts to it)
        self.formal_quiet = Signal(range(timeout_cycles + 1))
        super().__init__({"i": In(stream.Signature(8)), "kline": Out(stream.Signature(KLINE)),
                          "reset": Out(1), "error": Out(ERROR_CODE), "abort": In(1),
                          "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = crc8()
        byte = self.i.payload
        taken = self.i.valid & self.i.ready
        shift = Signal(KLINE.size)
        left = Signal(range(payload_length(Type.KLINE, 0) + 1))
        is_kline = Signal()
        silence = Signal(range(self.timeout_cycles + 1))
        m.d.comb += [crc.data.eq(byte), self.kline.payload.eq(shift)]

        # a timeout or a lost byte ends a partial frame
        timed_out = Signal()
        m.d.comb += timed_out.eq(~taken & (silence == self.timeout_cycles - 1))
        m.d.sync += silence.eq(Mux(taken, 0, silence + 1))

        @contextmanager
        def receive_byte():   # the body runs for a byte taken: an abort with it wins
            m.d.comb += [self.i.ready.eq(1), crc.valid.eq(taken)]
            with m.If(timed_out | self.abort):
                with m.If(timed_out):
                    m.d.comb += self.error.eq(ErrorCode.TIMEOUT)
                m.next = "HUNT"
            with m.Elif(taken):
                yield

        with m.FSM() as fsm:
            with m.State("HUNT"):
                m.d.comb += [self.i.ready.eq(1), crc.start.eq(1)]
                m.d.sync += silence.eq(0)
                with m.If(taken & (byte == SYNC)):
                    m.next = "TYPE"
            with m.State("TYPE"):
                with receive_byte():
                    m.d.sync += [is_kline.eq(byte == Type.KLINE),
                                 left.eq(payload_length(Type.KLINE, 0))]
                    with m.Switch(byte):
                        with m.Case(Type.KLINE):
                            m.next = "PAYLOAD"
                        with m.Case(Type.RESET):
                            m.next = "CRC"
                        with m.Default():
                            m.d.comb += self.error.eq(ErrorCode.BAD_TYPE)
                            m.next = "HUNT"
            with m.State("PAYLOAD"):
                with receive_byte():
                    m.d.sync += [shift.eq(Cat(shift[8:], byte)), left.eq(left - 1)]
                    with m.If(left == 1):
                        m.next = "CRC"
            with m.State("CRC"):
                with receive_byte():
                    m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(~crc.match_detected):
                    m.d.comb += self.error.eq(ErrorCode.BAD_CHECKSUM)
                    m.next = "HUNT"
                with m.Elif(is_kline):
                    m.next = "EMIT"
                with m.Else():
                    m.d.comb += self.reset.eq(1)
                    m.next = "HUNT"
            with m.State("EMIT"):
                m.d.comb += self.kline.valid.eq(1)
                with m.If(self.kline.ready):
                    m.next = "HUNT"
        m.d.comb += self.busy.eq(~fsm.ongoing("HUNT"))
        if platform == "formal":
            self._check(m, fsm, crc, shift, left, is_kline, silence)
        return m

    def _check(self, m, fsm, crc, shift, left, is_kline, silence):
        """Formal: a kline offered came, byte for byte, from the 20 payload bytes of the
        last 23 bytes taken, which were ``SYNC``, ``KLINE``, payload and a good CRC; and
        after ``timeout_cycles`` without a byte offered the parser hunts for ``SYNC`` (or
        offers a kline the core has not taken); an abort inside a frame (TYPE, PAYLOAD or
        CRC) reports no error of its own, and the parser hunts in the next cycle. The
        reference CRC is computed bit by bit, apart from
        :class:`amaranth.lib.crc.Processor`; a frame's CRC is good when the CRC over its
        type, payload and CRC byte is 0."""
        frame = 2 + payload_length(Type.KLINE, 0) + 1
        byte, taken = self.i.payload, self.i.valid & self.i.ready
        history = Signal(8 * frame)           # the last bytes taken, newest at the top
        count = Signal(range(frame))          # bytes taken since the frame's SYNC
        reference = Signal(8)                 # their CRC, bit by bit
        quiet = self.formal_quiet
        count_while(m, quiet, ~self.i.valid, self.timeout_cycles)
        with m.If(taken):
            m.d.sync += history.eq(Cat(history[8:], byte))
            with m.If(fsm.ongoing("HUNT")):
                m.d.sync += [count.eq(0), reference.eq(0)]
            with m.Else():
                m.d.sync += [count.eq(count + 1), reference.eq(crc8_step(reference, byte))]

        def back(n):          # the byte taken n bytes ago (1: the newest)
            return history.word_select((frame - n) if isinstance(n, int) else
                                       (frame - n).as_unsigned(), 8)

        def payload_bytes(taken_count, newest=1):   # payload taken so far == shift's top
            width = 8 * taken_count
            return shift[len(shift) - width:] == history[8 * (frame - newest + 1) - width:
                                                         8 * (frame - newest + 1)]

        def started(kind):    # SYNC and the type byte where this frame began
            return (back(count + 1) == SYNC) & (back(count) == kind)

        receiving = fsm.ongoing("TYPE") | fsm.ongoing("PAYLOAD") | fsm.ongoing("CRC")
        states = ("HUNT", "TYPE", "PAYLOAD", "CRC", "CHECK", "EMIT")
        m.d.comb += [
            Assert(Cat(fsm.ongoing(state) for state in states).any(), "parser: a known state"),
            Assert(quiet <= self.timeout_cycles, "parser: the quiet count saturates"),
            Assert(~receiving | (quiet <= silence) & (silence < self.timeout_cycles),
                   "parser: silence counts the cycles without a byte"),
            Assert((quiet < self.timeout_cycles) | fsm.ongoing("HUNT") | fsm.ongoing("EMIT"),
                   "parser: not hunting after the timeout"),
        ]
        aborting, aborted = receiving & self.abort, Signal()
        m.d.sync += aborted.eq(aborting)
        m.d.comb += [
            Assert(~aborting | (self.error == 0) | (self.error == ErrorCode.TIMEOUT),
                   "parser: an abort reports an error of its own"),
            Assert(~aborted | fsm.ongoing("HUNT"), "parser: not hunting after an abort"),
            Cover(aborting & taken & fsm.ongoing("CRC"), "parser: an abort as a CRC byte is taken"),
        ]
        with m.If(fsm.ongoing("TYPE")):
            m.d.comb += Assert((count == 0) & (reference == 0) & (crc.crc == 0) &
                               (back(1) == SYNC), "parser: TYPE follows SYNC")
        with m.If(fsm.ongoing("PAYLOAD")):
            m.d.comb += Assert(is_kline & (left >= 1) & (left <= frame - 3) &
                               (count == frame - 2 - left) & started(Type.KLINE) &
                               (crc.crc == reference), "parser: PAYLOAD state")
            with m.Switch(left):
                for remaining in range(1, frame - 2):
                    with m.Case(remaining):
                        m.d.comb += Assert(payload_bytes(frame - 2 - remaining - 1),
                                           "parser: payload shifted in")
        for state, extra in (("CRC", 0), ("CHECK", 1)):    # in CHECK, the CRC byte taken
            with m.If(fsm.ongoing(state)):
                m.d.comb += Assert((crc.crc == reference) & Mux(
                    is_kline, (count == frame - 2 + extra) & started(Type.KLINE) &
                    payload_bytes(frame - 3, newest=1 + extra),
                    (count == 1 + extra) & started(Type.RESET)), f"parser: {state} state")
        with m.If(fsm.ongoing("CHECK")):
            m.d.comb += Assert(quiet == 0, "parser: CHECK right after a byte")
        with m.If(self.kline.valid):
            m.d.comb += Assert(fsm.ongoing("EMIT") & (count == frame - 1) & (reference == 0) &
                               (back(frame) == SYNC) & (back(frame - 1) == Type.KLINE),
                               "parser: a kline without a good frame")
            m.d.comb += Assert(self.kline.payload.as_value() ==
                               history[16:8 * (frame - 1)], "parser: kline is not the payload")


class FrameEncoder(wiring.Component):
    """Results, errors and ready notices in, frame bytes out, one frame at a time.

    Between frames it takes, in this order of priority: a result (with its ``latency``,
    sampled in the same cycle, and the next sequence number), a ready notice requested by
    a pulse on ``announce`` (which also restarts the sequence at 0), or the pending error
    (``error`` latches a code; a newer code replaces one not yet sent). ``result.ready`` is
    high only between frames, so a busy line holds results back (in the core's queue, then
    at its input) and nothing is lost.

    Members
    -------
    result : In(stream.Signature(signal_layout(classes)))
    latency : In(32)
    error : In(ERROR_CODE)
    announce : In(1)
    o : Out(stream.Signature(8))
    """

    def __init__(self, classes: int, *, latency: int, model_id: int):
        self._classes = classes
        # the ready frame between SYNC and CRC: type and payload, as the host decodes them
        self._ready_body = list(encode(Ready(VERSION, classes, latency, model_id))[1:-1])
        super().__init__({"result": In(stream.Signature(signal_layout(classes))),
                          "latency": In(COUNTER_BITS), "error": In(ERROR_CODE),
                          "announce": In(1), "o": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = crc8()
        result = self.result.payload
        seq = Signal(8)
        pending_error = Signal(ERROR_CODE)
        pending_ready = Signal()
        result_body = [Type.RESULT, seq, result.signal,
                       *(result.raw[k] for k in range(self._classes)),
                       result.warm, *(self.latency.word_select(k, 8) for k in range(4))]
        error_body = [Type.ERROR, pending_error]
        body = [Signal(8, name=f"body{k}")
                for k in range(max(len(result_body), len(self._ready_body)))]
        length = Signal(range(len(body) + 1))
        index = Signal(range(len(body)))
        sent = self.o.valid & self.o.ready

        def load(values):
            return [length.eq(len(values)), index.eq(0),
                    *(reg.eq(value) for reg, value in zip(body, values))]

        m.d.comb += crc.data.eq(self.o.payload)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.result.ready.eq(1), crc.start.eq(1)]
                with m.If(self.result.valid):
                    m.d.sync += [*load(result_body), seq.eq(seq + 1)]
                    m.next = "SYNC"
                with m.Elif(pending_ready):
                    m.d.sync += [*load(self._ready_body), pending_ready.eq(0)]
                    m.next = "SYNC"
                with m.Elif(pending_error != 0):
                    m.d.sync += [*load(error_body), pending_error.eq(0)]
                    m.next = "SYNC"
            with m.State("SYNC"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(SYNC)]
                with m.If(self.o.ready):
                    m.next = "BODY"
            with m.State("BODY"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(Array(body)[index]),
                             crc.valid.eq(sent)]
                with m.If(sent):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == length - 1):
                        m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(crc.crc)]
                with m.If(self.o.ready):
                    m.next = "IDLE"

        # requests arriving now win over the clearing of requests served now
        with m.If(self.error != 0):
            m.d.sync += pending_error.eq(self.error)
        with m.If(self.announce):
            m.d.sync += [pending_ready.eq(1), seq.eq(0)]
        return m


class UartLink(wiring.Component):
    """The host link: UART in, klines to the core; results from the core, UART out.

    Klines travel from ``rx`` through :class:`UartRx` and :class:`FrameParser` to ``kline``;
    results from ``result`` through :class:`FrameEncoder` and :class:`UartTx` to ``tx``.
    A free-running ``COUNTER_BITS``-bit cycle counter stamps each kline as the core takes
    it; the stamps wait in a FIFO (the core keeps order) and each result frame carries
    ``now - stamp``: the core's latency, exactly, when the line is free. The link adds no
    cycles of its own to it. A kline waits (in the kline skid buffer, else in the parser)
    while the stamp FIFO is full.

    A reset frame pulses ``core_reset`` (the core's reset: also high while the link itself
    is in reset), empties the stamp FIFO, restarts the sequence and is answered by a ready
    frame carrying ``latency`` and ``model_id``. ``error`` pulses on every error reported.

    Latency of the link itself: a kline reaches the core five cycles after its CRC byte's
    stop bit is sampled (the receiver's registered ``o.valid``, a skid buffer, the parser's
    ``CHECK`` and ``EMIT`` states, a skid buffer), four with ``kline_skid=False`` (no skid
    buffer between parser and core: two kline-wide registers fewer, for a slow clock on a
    small device); a result starts its frame one cycle after it leaves the core.
    Throughput: one kline per 23-byte frame time (the result frame, ``10 + classes``
    bytes, is shorter, so the line back never limits it).
    """

    def __init__(self, classes: int, *, clk_freq: float, baud: int, latency: int,
                 model_id: int, timeout_bytes: int = 64, stamp_depth: int = 4,
                 kline_skid: bool = True):
        self._rx = UartRx(clk_freq=clk_freq, baud=baud)
        self._tx = UartTx(clk_freq=clk_freq, baud=baud)
        self._parser = FrameParser(timeout_cycles=timeout_bytes * 10 * self._rx.bit_cycles)
        self._encoder = FrameEncoder(classes, latency=latency, model_id=model_id)
        # registered both ways: the receiver sits by its pin, far from the parser
        self._rx_skid = SkidBuffer(8)
        # and between the parser and the core: the core's handshake with the stamp FIFO
        # stays out of the parser's state machine
        self._kline_skid = SkidBuffer(KLINE) if kline_skid else None
        self._stamps = fifo.SyncFIFO(width=COUNTER_BITS, depth=stamp_depth)
        super().__init__({
            "rx": In(1, init=1), "tx": Out(1, init=1),
            "kline": Out(stream.Signature(KLINE)),
            "result": In(stream.Signature(signal_layout(classes))),
            "core_reset": Out(1), "error": Out(1)})

    @property
    def bit_cycles(self) -> int:
        return self._rx.bit_cycles

    def elaborate(self, platform):
        m = Module()
        rx, tx, parser, encoder = self._rx, self._tx, self._parser, self._encoder
        m.submodules.rx, m.submodules.tx = rx, tx
        m.submodules.parser, m.submodules.encoder = parser, encoder
        reset = Signal()
        m.d.sync += reset.eq(parser.reset)
        # the core's reset reaches all over the core: one register drives it, with no gate
        # after it to OR in the link's own reset (init 1 holds it while that is asserted)
        core_reset = Signal(init=1)
        m.d.sync += core_reset.eq(parser.reset)
        stamps = self._stamps
        m.submodules.stamps = ResetInserter(reset)(stamps)
        now = Signal(COUNTER_BITS)
        m.d.sync += now.eq(now + 1)

        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        m.submodules.rx_skid = rx_skid = self._rx_skid
        wiring.connect(m, rx.o, rx_skid.i)
        wiring.connect(m, rx_skid.o, parser.i)
        kline = parser.kline
        if self._kline_skid is not None:
            m.submodules.kline_skid = kline_skid = self._kline_skid
            wiring.connect(m, parser.kline, kline_skid.i)
            kline = kline_skid.o
        wiring.connect(m, encoder.o, tx.i)

        # `stamps.w_rdy`, registered (as the core's `room`): the core takes a kline on a
        # handshake that enables most of its registers, so the handshake comes from
        # flip-flops through one gate
        stamp_room = Signal(init=1)
        written, read = stamps.w_en, stamps.r_en
        with m.If(reset):
            m.d.sync += stamp_room.eq(1)
        with m.Else():
            m.d.sync += stamp_room.eq(Mux(written & ~read, stamps.level < stamps.depth - 1,
                                          read | (stamps.level < stamps.depth)))
        m.d.comb += [
            self.kline.payload.eq(kline.payload),
            self.kline.valid.eq(kline.valid & stamp_room),
            kline.ready.eq(self.kline.ready & stamp_room),
            stamps.w_en.eq(self.kline.valid & self.kline.ready),
            stamps.w_data.eq(now),

            encoder.result.payload.eq(self.result.payload),
            encoder.result.valid.eq(self.result.valid),
            self.result.ready.eq(encoder.result.ready),
            stamps.r_en.eq(self.result.valid & self.result.ready),
            encoder.latency.eq(now - stamps.r_data),

            parser.abort.eq(rx.framing_error | rx.overrun),
            encoder.announce.eq(reset),
            self.core_reset.eq(core_reset),
            self.error.eq(encoder.error != 0),
        ]
        with m.If(rx.framing_error):
            m.d.comb += encoder.error.eq(ErrorCode.FRAMING)
        with m.Elif(rx.overrun):
            m.d.comb += encoder.error.eq(ErrorCode.OVERRUN)
        with m.Else():
            m.d.comb += encoder.error.eq(parser.error)
        if platform == "formal":
            m.d.comb += Assert(stamp_room == (stamps.level < stamps.depth),
                               "link: stamp_room is not the stamp FIFO's room")
        return m

    @property
    def quiet_cycles(self) -> int:
        """:func:`quiet_cycles` of this link."""
        return quiet_cycles(self._rx.bit_cycles, self._parser.timeout_cycles)


def quiet_cycles(bit_cycles: int, timeout_cycles: int) -> int:
    """Cycles of ``rx`` high, with no kline waiting for the core, after which nothing is on
    its way from the line to the parser and the parser hunts for ``SYNC``: the receiver's
    :func:`~hw.board.uart.idle_cycles`, ``DRAIN_CYCLES`` for its last byte to reach the
    parser, then the parser's timeout."""
    return idle_cycles(bit_cycles) + DRAIN_CYCLES + timeout_cycles


class FreeReceiver(wiring.Component):
    """A stand-in for :class:`~hw.board.uart.UartRx` in a proof: any byte in any cycle,
    held until taken (the stream rule :func:`hw.board.uart.proofs` proves of the real
    receiver), and any error pulses. Every byte stream the receiver can give, and more,
    so a frame reaches the parser in a few cycles instead of a line's thousand."""

    def __init__(self):
        super().__init__({"rx": In(1, init=1), "o": Out(stream.Signature(8)),
                          "framing_error": Out(1), "overrun": Out(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        with m.If(~self.o.valid | self.o.ready):
            m.d.sync += [self.o.valid.eq(AnySeq(1)), self.o.payload.eq(AnySeq(8))]
        drive_free(m, self.framing_error, self.overrun, self.busy)
        return m


def quiet_line_properties(m, link):
    """On the line itself: after :attr:`UartLink.quiet_cycles` of ``rx`` high in which the
    parser offered no kline, no byte is in the receiver, its skid buffer or the parser,
    and the parser hunts for ``SYNC``. Shown in steps, each relating this count to the
    receiver's and the parser's own (``formal_high``, ``formal_quiet``): within
    ``idle_cycles`` the receiver is idle, within ``DRAIN_CYCLES`` more its last byte has
    reached the parser, and the parser's timeout runs from there."""
    rx, rx_skid, parser = link._rx, link._rx_skid, link._parser
    idle, limit = rx.idle_cycles, link.quiet_cycles
    drained = idle + DRAIN_CYCLES
    quiet = Signal(range(limit + 1))
    count_while(m, quiet, link.rx & ~parser.kline.valid, limit)
    m.d.comb += [
        Assert(quiet <= limit, "link: the quiet count saturates"),
        Assert((rx.formal_high == idle) | (quiet <= rx.formal_high),
               "link: quiet line counts beyond the receiver's"),
    ]
    with m.If(quiet >= drained):
        m.d.comb += Assert(~rx.busy & ~rx.o.valid & ~rx_skid.o.valid & rx_skid.i.ready,
                           "link: a byte still on its way to the parser")
        m.d.comb += Assert((parser.formal_quiet == parser.timeout_cycles) |
                           (parser.formal_quiet >= quiet - drained),
                           "link: the parser was offered a byte after the line went quiet")
    with m.If(quiet == limit):
        m.d.comb += Assert(~parser.busy, "link: the parser is not hunting on a quiet line")
    m.d.comb += [
        Cover((quiet == drained) & parser.busy, "link: a partial frame on a quiet line"),
        Cover(parser.error == ErrorCode.BAD_CHECKSUM, "link: a bad checksum reported"),
        Cover(link.core_reset & after_clean_cycle(m), "link: a reset frame"),
    ]


def kline_properties(m, link):
    """Klines to the core and results back, for any byte stream (:class:`FreeReceiver`)
    and a core that answers only klines it took since its last reset, as
    :class:`hw.gateware.core.SignalCore` is proven to: ``kline.payload`` holds while
    ``kline.valid & ~kline.ready``, a kline is taken only with a place for its stamp, and
    every result is paired with the stamp of its own kline (stamps held = klines owed)."""
    stamps = link._stamps
    source = link._parser.kline if link._kline_skid is None else link._kline_skid.o
    owed = Signal(range(stamps.depth + 2))   # klines the core took and has not answered
    took, answered = link.kline.valid & link.kline.ready, link.result.valid & link.result.ready
    m.d.sync += owed.eq(Mux(link.core_reset, 0, owed + took - answered))
    m.d.comb += Assume(~link.result.valid | (owed != 0), "link: a result for no kline")
    stall = check_held(m, link.kline, "kline")
    with m.If(after_clean_cycle(m) & ~link.core_reset):
        m.d.comb += Assert(stamps.level == owed, "link: stamps held differ from klines owed")
    m.d.comb += [
        Assert(~took | stamps.w_rdy, "link: a kline taken with no place for its stamp"),
        Cover(stall & link.kline.ready, "link: a kline taken by the core after a stall"),
        Cover(answered & (stamps.level == stamps.depth), "link: a result with every stamp "
              "in use"),
        Cover(source.valid & (stamps.level == stamps.depth), "link: a kline waiting for a "
              "stamp's place"),
    ]


def proofs() -> list[Proof]:
    """The frame parser's rules, for any byte stream and any core; the whole link's, for
    any line (or any byte stream) and a core that keeps its own rules, with and without
    the kline skid buffer (the ULX3S's and the iCEBreaker's link)."""
    timeout = 12
    divisor, baud, timeout_bytes = MIN_CYCLES_PER_BIT, 115200, 2
    line_timeout = timeout_bytes * 10 * divisor     # the link's parser timeout
    quiet = quiet_cycles(divisor, line_timeout)

    def link(kline_skid=True, receiver=None):
        link = UartLink(3, clk_freq=divisor * baud, baud=baud, latency=7, model_id=1,
                        timeout_bytes=timeout_bytes, stamp_depth=2, kline_skid=kline_skid)
        if receiver is not None:
            link._rx = receiver
        return link

    def properties(m, parser):
        stall = check_held(m, parser.kline, "kline")
        m.d.comb += [
            Cover(stall & parser.kline.ready, "a kline taken after a stall"),
            Cover(parser.error == ErrorCode.BAD_CHECKSUM, "a bad checksum reported"),
            Cover(parser.error == ErrorCode.TIMEOUT, "a partial frame timed out"),
            Cover(parser.reset, "a reset frame"),
        ]
    return [Proof("parser: frames and timeout", "hw.board.link.FrameParser", "prove", depth=3,
                  harness=lambda: FreeInputs(FrameParser(timeout_cycles=timeout), properties),
                  cover_depth=2 + payload_length(Type.KLINE, 0) + 1 + 4,
                  shows=f"a kline reaches the core only from a frame SYNC, KLINE, 20 payload "
                        f"bytes, good CRC-8 (the last 23 bytes taken), and carries exactly "
                        f"those payload bytes: a bad checksum never reaches the core; after "
                        f"T = {timeout} cycles (timeout_cycles) without a byte offered the "
                        f"parser hunts for SYNC or offers a complete kline; an abort inside a "
                        f"frame, even as one of its bytes is taken, drops it: the parser "
                        f"hunts for SYNC in the next cycle; kline.payload holds while "
                        f"kline.valid & ~kline.ready"),
            Proof("link: a quiet line", "hw.board.link.UartLink", "prove",
                  depth=DRAIN_CYCLES + 2, inner_covers=False,
                  harness=lambda: FreeInputs(link(), quiet_line_properties),
                  cover_depth=quiet + 12 * divisor,
                  shows=f"the whole UartLink on the line (UART divisor {divisor}, parser "
                        f"timeout {line_timeout} cycles): after T = {quiet} cycles of rx high "
                        f"in which the parser offered no kline, no byte is in the receiver, "
                        f"its skid buffer or the parser, and the parser hunts for SYNC; the "
                        f"rules of every part hold in the whole link at once (the parser's: "
                        f"a kline only from a good frame, so a bad checksum never reaches "
                        f"the core; the skid buffers' order)"),
            *(Proof(f"link: klines and stamps{name}", "hw.board.link.UartLink", "prove",
                    depth=4, inner_covers=False,
                    harness=lambda skid=skid: FreeInputs(link(skid, FreeReceiver()),
                                                         kline_properties),
                    # three frames: two klines owed, a third waiting for a stamp's place
                    cover_depth=3 * (2 + payload_length(Type.KLINE, 0) + 1 + 4) + 8,
                    shows="the whole UartLink for any byte stream from its receiver "
                          "(FreeReceiver), so a kline frame takes 23 cycles, not a line's "
                          "thousand: kline.payload holds while kline.valid & ~kline.ready; a "
                          "kline is taken only with a place for its stamp, and the stamps "
                          "held are the klines the core owes, so each result frame carries "
                          "its own kline's stamp; the rules of every part hold at once")
              for skid, name in ((True, ""), (False, " (no kline skid buffer)"))),
            ]
