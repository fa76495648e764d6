"""Feature extractor: a stream of klines in, INT8 feature codes out, bit for bit
:func:`sw.spec.features.features_int` and :func:`sw.spec.features.warm`.

Every feature is ``num / den`` with ``num = a - b`` (see :data:`OPERANDS`); the hardware
takes ``|num|`` and its sign, and codes ``q = sign * min((m + 1) >> 1, 127)`` with
``m = floor((|num| << (shift + 1)) / den)``, 0 while the feature warms up or ``S == 0``:
the parallel extractor by compares with multiples of ``den`` prepared ahead
(:mod:`hw.gateware.quotient`), the folded one with a serial divider whose 8-bit quotient
saturates (a quotient of 253 or more already codes as 127).

History (the previous close and the closes for ``ret_4``/``ret_16``, volumes for the
window sum) lives in small ``Memory`` rings addressed by a kline pointer; the volume
window sums are running registers. A synchronous reset clears pointer, counter and sums,
so warm-up starts again (stale ring contents are masked by the counter until
overwritten).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.gateware.divider import SerialDivider
from hw.gateware.layouts import KLINE, codes_layout
from hw.gateware.quotient import CODE_COPIES, DivisorMultiples, FeatureQuotient
from sw.spec.features import CANDLE, FEATURE_LIMIT, LAGS, MAX_SHIFT, FeatureSpec
from sw.spec.klines import WORD_BITS

#: ``m`` is needed up to 255: from ``2 * FEATURE_LIMIT - 1 = 253`` on, ``q`` saturates.
QUOTIENT_BITS = 8
assert (1 << QUOTIENT_BITS) - 3 == 2 * FEATURE_LIMIT - 1  # what feature_code's test relies on


#: ``num = a - b`` and ``den`` of each feature (the table of :mod:`sw.spec.features`), as names
#: of the values :func:`sources` provides.
OPERANDS = {
    "body": ("close", "open", "previous_close"),
    "range": ("high", "low", "previous_close"),
    "upper_wick": ("high", "body_top", "previous_close"),
    "lower_wick": ("body_bottom", "low", "previous_close"),
    **{name: ("close", f"{name}_base", f"{name}_base") for name in LAGS},
    "volume": ("window_volume", "window_sum", "window_sum"),
}


def sources(kline, body_top, body_bottom, past, window_sum, window) -> dict:
    """The values the operands are drawn from: the kline's fields, ``max``/``min(open,
    close)``, the previous close, the close ``lag`` klines back (``ret_*_base``),
    ``W * volume`` and ``S``."""
    values = {name: getattr(kline, name) for name in KLINE.members}
    values.update(body_top=body_top, body_bottom=body_bottom, window_sum=window_sum,
                  window_volume=kline.volume << window.bit_length() - 1)
    values.update({f"{name}_base": close for name, close in past.items() if name in LAGS})
    if "previous_close" in past:
        values["previous_close"] = past["previous_close"]
    return values


def abs_difference(a, b):
    """``(|a - b|, a < b)`` with both subtractions side by side (one carry chain deep)."""
    width = max(len(a), len(b))
    negative = a < b
    return Mux(negative, b - a, a - b)[:width], negative


#: ``max(open, close)`` and ``min(open, close)``: the field when the close is not up, and
#: when it is.
BODY_BOUNDS = {"body_top": ("open", "close"), "body_bottom": ("close", "open")}
#: Features whose numerator a valid kline (``low <= open, close <= high``, as
#: :mod:`sw.spec.klines` checks) never makes negative.
NON_NEGATIVE = ("range", "upper_wick", "lower_wick")


def numerator(name: str, values: dict, close_up):
    """``(|num|, num < 0)`` of feature ``name``'s ``num = a - b`` (operands as in
    :data:`OPERANDS`): subtractions side by side, then one multiplexer. A signed numerator
    takes ``a - b`` or ``b - a`` by the sign; a wick one of the two subtractions its body
    bound may give, by ``close_up``; the range its one subtraction."""
    a, b, _ = OPERANDS[name]
    width = max(len(values[key]) for key in (a, b) if key in values)
    for bound, (down, up) in BODY_BOUNDS.items():
        if bound in (a, b):
            down, up = ((values[field if a == bound else a] - values[field if b == bound else b])
                        [:width] for field in (down, up))
            return Mux(close_up, up, down), Const(0)
    difference = values[a] - values[b]
    if name in NON_NEGATIVE:
        return difference[:width], Const(0)
    negative = difference[-1]
    return Mux(negative, (values[b] - values[a])[:width], difference[:width]), negative


def feature_code(quotient, negative, ready):
    """INT8 code from the saturated quotient ``m``: ``sign * min((m + 1) >> 1, 127)``, or 0
    unless ``ready``. ``(m + 1) >> 1 = (m >> 1) + m[0]``, and the sign folds into that one
    8-bit addition (``-(a + r) = ~a + (1 - r)``), keeping the output stage one short chain."""
    half = Cat(quotient[1:], Const(0, 1))
    signed_sum = (Mux(negative, ~half, half) + (quotient[0] ^ negative))[:8].as_signed()
    saturated = quotient[2:].all() & quotient[:2].any()  # m >= 253 = 0b11111101
    limit = Mux(negative, -FEATURE_LIMIT, FEATURE_LIMIT)
    return Mux(ready, Mux(saturated, limit, signed_sum), 0)


def body_bounds(kline):
    """``(max(open, close), min(open, close))``."""
    close_up = kline.close >= kline.open
    return (Mux(close_up, kline.close, kline.open), Mux(close_up, kline.open, kline.close))


def select(m, index, target, values, keys=None, domain="comb"):
    """``target = values[index]``, with one multiplexer input per distinct key."""
    groups = {}
    for position, (key, value) in enumerate(zip(keys or range(len(values)), values)):
        groups.setdefault(key, (value, []))[1].append(position)
    with m.Switch(index):
        for value, positions in groups.values():
            with m.Case(*positions):
                m.d[domain] += target.eq(value)


class History:
    """Close and volume rings, the window sums, and the klines-since-reset counter
    (saturating at warm-up).

    On ``commit`` the kline's close and volume are written at the pointer and the pointer
    and counter advance. Read ports (enabled by ``read_en``) fetch the entries ``lag``
    klines before the pointer (the previous close, ``previous_close``, is lag 1); their
    data appears one cycle after the address. ``window_sum`` is the spec's ``S`` of the
    kline being computed (``volume[t-2] + ... + volume[t-1-W]``), ``running_sum`` the sum
    of the last ``W`` volumes, the next kline's ``S`` (see :meth:`update_sums`).
    """

    def __init__(self, m: Module, spec: FeatureSpec, commit, close, volume, read_en):
        self.spec = spec
        self.count = Signal(range(spec.warmup_klines + 1))
        lags = {name: LAGS[name] for name in spec.names if name in LAGS}
        if set(CANDLE) & set(spec.names):
            lags["previous_close"] = 1
        rings = {}
        if lags:
            rings["close"] = (max(lags.values()), close, lags)
        if "volume" in spec.names:
            rings["volume"] = (spec.volume_window, volume, {"volume": spec.volume_window})
        depth = max((ring[0] for ring in rings.values()), default=1)
        self.pointer = Signal(range(depth)) if depth > 1 else Const(0, 1)
        self.past = {}
        for ring_name, (ring_depth, data, ring_lags) in rings.items():
            memory = Memory(shape=WORD_BITS, depth=ring_depth, init=[])
            m.submodules[f"{ring_name}_ring"] = memory
            address_bits = (ring_depth - 1).bit_length()
            write = memory.write_port()
            m.d.comb += [write.addr.eq(self.pointer[:address_bits]), write.data.eq(data),
                         write.en.eq(commit)]
            for name, lag in ring_lags.items():
                read = memory.read_port()
                m.d.comb += [read.addr.eq((self.pointer - lag)[:address_bits]),
                             read.en.eq(read_en)]
                self.past[name] = read.data
        with m.If(commit):
            if depth > 1:
                m.d.sync += self.pointer.eq(self.pointer + 1)
            with m.If(self.count < spec.warmup_klines):
                m.d.sync += self.count.eq(self.count + 1)

    def past_closes(self) -> dict:
        return {name: data for name, data in self.past.items() if name != "volume"}

    def volume_leaving(self, count):
        """The volume leaving the window, 0 before the window has filled."""
        if "volume" not in self.past:
            return Const(0, WORD_BITS)
        return Mux(count >= self.spec.volume_window, self.past["volume"], 0)

    def update_sums(self, window_sum, running_sum, volume, count):
        """Statements that move the window on by the kline ``volume`` (the kline number
        ``count`` since reset): its ``running_sum`` becomes the next kline's ``S``."""
        return [window_sum.eq(running_sum),
                running_sum.eq(running_sum + volume - self.volume_leaving(count))]

    def ready(self, name, count, window_sum):
        """The feature has its history (and a nonzero window sum, for ``volume``)."""
        ready = count >= self.spec.history[name]
        return ready & (window_sum != 0) if name == "volume" else ready

    def warm(self, count):
        return count >= self.spec.warmup_klines


class FeatureExtractor(wiring.Component):
    """Integer features of each kline (:mod:`sw.spec.features`), bit-exact, with backpressure:
    a kline in, its INT8 feature codes out in the ``codes`` field of
    :func:`hw.gateware.layouts.codes_layout`, with ``warm`` (every feature had its full
    history).

    The interface of two designs, as :class:`amaranth.lib.fifo.FIFOInterface` is of the
    FIFOs: :class:`ParallelFeatureExtractor` (a kline every cycle, no divider) and
    :class:`FoldedFeatureExtractor` (one serial divider shared by all features, the
    smallest). Both have the members and attributes below.

    Parameters
    ----------
    spec : sw.spec.features.FeatureSpec

    Members
    -------
    i : In(stream.Signature(hw.gateware.layouts.KLINE))
    o : Out(stream.Signature(hw.gateware.layouts.codes_layout(len(spec.names))))

    Attributes
    ----------
    latency : int
        Cycles from the input handshake to ``o.valid`` (with ``o.ready`` held high).
    ii : int
        Cycles between accepted klines at full rate.
    output_levels : int
        Logic levels between the last register and ``o.payload`` (the next stage counts
        them in its first cycle): 1 for the parallel extractor, 0 for the folded one.
    code_copies : list of Signal(ArrayLayout(signed(8), features))
        ``o.payload.codes`` again, each copy from registers of its own, for a consumer
        to share out among the logic it drives (valid with ``o.valid``); none for the
        folded extractor.
    """

    output_levels = 0

    def __init__(self, spec: FeatureSpec):
        self._spec = spec
        self._window_bits = WORD_BITS + spec.volume_window.bit_length() - 1
        super().__init__({
            "i": In(stream.Signature(KLINE)),
            "o": Out(stream.Signature(codes_layout(len(spec.names)))),
        })
        self.code_copies = []


class ParallelFeatureExtractor(FeatureExtractor):
    """The parallel :class:`FeatureExtractor`: no divider. Every denominator is known before
    its kline arrives, so its multiples are prepared while the kline before it is taken
    (:class:`hw.gateware.quotient.DivisorMultiples`, one per denominator); each feature
    then takes two stages of compares (:class:`hw.gateware.quotient.FeatureQuotient`),
    whose registers its code comes from with no output register (:attr:`output_levels`):
    ``latency = 2`` cycles after the input handshake, a kline every cycle (``ii == 1``),
    back to back too. The first stage takes ``|num|``
    straight from the kline (:func:`numerator`: subtractions and a multiplexer, then the
    compares). It needs valid klines (:data:`NON_NEGATIVE`). The whole pipeline stalls
    while the output is valid and not ready.

    The codes come in ``copies`` copies (``o.payload.codes`` and :attr:`code_copies`), each
    from its own registers (:data:`hw.gateware.quotient.CODE_COPIES` by default).

    Parameters and members: those of :class:`FeatureExtractor`, and ``copies``.
    """

    def __init__(self, spec: FeatureSpec, copies: int = CODE_COPIES):
        super().__init__(spec)
        self.code_copies = [Signal(self.o.payload.codes.shape(), name=f"codes_copy_{c}")
                            for c in range(1, copies)]

    @property
    def latency(self) -> int:
        return FeatureQuotient.latency

    @property
    def output_levels(self) -> int:
        """Logic levels between the last register and ``o.payload``: the codes come
        straight from the quotients' registers (a few LUTs,
        :func:`hw.gateware.quotient.signed_code`), counted in the next stage's first cycle."""
        return 1

    @property
    def ii(self) -> int:
        return 1

    def elaborate(self, platform):
        m = Module()
        spec = self._spec
        advance = ~self.o.valid | self.o.ready
        accept = self.i.valid & advance
        kline = self.i.payload
        m.d.comb += self.i.ready.eq(advance)

        def stage(value, name, *, reset_less=True):
            """``value`` one pipeline step later (registers advance together); only valid
            bits keep a reset (see :func:`hw.gateware.layouts.payload_register`)."""
            register = Signal(value.shape(), name=name, reset_less=reset_less)
            with m.If(advance):
                m.d.sync += register.eq(value)
            return register

        # what earlier klines left: their count, closes and volumes, and each
        # denominator's multiples for the kline being taken (prepared when the one before
        # it was taken, see DivisorMultiples)
        count = Signal(range(spec.warmup_klines + 1))
        with m.If(accept & (count < spec.warmup_klines)):
            m.d.sync += count.eq(count + 1)
        nexts = self._next_denominators(m, accept, count)
        divisors = {}
        for key, next_value in nexts.items():
            divisor = m.submodules[f"multiples_{key}"] = DivisorMultiples(len(next_value))
            m.d.comb += [divisor.en.eq(advance), divisor.load.eq(accept),
                         divisor.next.eq(next_value)]
            divisors[key] = divisor
        values = {name: getattr(kline, name) for name in KLINE.members}
        values.update({key: divisor.value for key, divisor in divisors.items()},
                      window_volume=kline.volume << spec.volume_window.bit_length() - 1)

        # two quotient stages per feature; the codes come from their registers
        close_up = kline.close >= kline.open
        codes = []
        for name, shift in zip(spec.names, spec.shifts):
            magnitude, negative = numerator(name, values, close_up)
            divisor = divisors[OPERANDS[name][2]]
            ready = count >= spec.history[name]
            quotient = m.submodules[f"quotient_{name}"] = FeatureQuotient(
                len(magnitude), len(divisor.value), shift, len(self.code_copies) + 1)
            m.d.comb += [
                quotient.en.eq(advance), quotient.magnitude.eq(magnitude),
                quotient.negative.eq(negative),
                quotient.ready.eq(ready & divisor.nonzero if name == "volume" else ready),
                quotient.divisor.eq(divisor.value), quotient.high.eq(divisor.high),
                quotient.low.eq(divisor.low)]
            codes.append(quotient.code)
            m.d.comb += [copy[len(codes) - 1].eq(quotient.code_copies[c])
                         for c, copy in enumerate(self.code_copies)]
        valid, warm = accept, count >= spec.warmup_klines
        for step in range(FeatureQuotient.latency):
            valid = stage(valid, f"valid_{step}", reset_less=False)
            warm = stage(warm, f"warm_{step}")

        # no output register: the codes come straight from the quotients' registers, which
        # hold while o stalls (they advance with ~o.valid | o.ready)
        m.d.comb += [self.o.valid.eq(valid), self.o.payload.warm.eq(warm)]
        m.d.comb += [self.o.payload.codes[index].eq(code) for index, code in enumerate(codes)]
        return m

    def _next_denominators(self, m, accept, count) -> dict:
        """Per denominator of the spec (named as in :data:`OPERANDS`), its value for the
        kline after the one being taken: that kline's close (``previous_close``), an
        earlier close from a line of registers (``ret_*_base``), the sum of the last ``W``
        volumes (``window_sum``), kept in a running register over a ring of volumes."""
        spec, kline = self._spec, self.i.payload
        dens = {OPERANDS[name][2] for name in spec.names}
        lags = [LAGS[name] for name in spec.names if name in LAGS]
        line = [Signal(WORD_BITS, name=f"close_{k + 1}", reset_less=True)
                for k in range(max(lags, default=1) - 1)]
        with m.If(accept):
            m.d.sync += [register.eq(value) for register, value in
                         zip(line, [kline.close, *line[:-1]])]
        nexts = {f"{name}_base": line[LAGS[name] - 2] for name in spec.names if name in LAGS}
        nexts["previous_close"] = kline.close
        if "volume" in spec.names:
            window = spec.volume_window
            m.submodules.volume_ring = ring = Memory(shape=WORD_BITS, depth=window, init=[])
            pointer = Signal(range(window))
            write, read = ring.write_port(), ring.read_port()
            # read one cycle ahead: the entry the next kline overwrites, its oldest volume
            m.d.comb += [write.addr.eq(pointer), write.data.eq(kline.volume),
                         write.en.eq(accept), read.addr.eq(pointer + accept)]
            leaving = Mux(count >= window, read.data, 0)
            running_sum = Signal(self._window_bits)
            with m.If(accept):
                m.d.sync += [pointer.eq(pointer + 1),
                             running_sum.eq(running_sum + kline.volume - leaving)]
            nexts["window_sum"] = running_sum
        return {key: value for key, value in nexts.items() if key in dens}


class FoldedFeatureExtractor(FeatureExtractor):
    """The folded :class:`FeatureExtractor`: one serial divider shared by all features, one
    dividend bit per cycle, for the smallest area (one subtractor for ``|num|``, one for the
    division). Each feature takes ``5 + N + shift`` cycles (select, operands, start,
    ``N + shift + 1`` division steps, result write), with ``N`` the divider's dividend
    width, the same for every feature: 32, or ``32 + log2 W`` when the spec has ``volume``.
    So ``latency = ii = 1 + sum over features of (5 + N + shift)``: 376 for the default
    ``FeatureSpec()`` (7 features, ``N = 36``, shifts summing to 88), and the next kline is
    accepted in the cycle the result is handed over.

    Parameters and members: those of :class:`FeatureExtractor`.
    """

    def _serial_cycles(self, name, shift) -> int:
        """Select and operand cycles, start cycle, division, result write of one feature."""
        return 2 + 1 + self._serial_width() + shift + 1 + 1

    def _serial_width(self) -> int:
        """The serial divider's dividend and divisor width, the widest feature's
        (``|num|`` and ``den`` of a feature are equally wide: the window sum's for
        ``volume``, a kline word's for the others)."""
        return max(self._window_bits if name == "volume" else WORD_BITS
                   for name in self._spec.names)

    @property
    def latency(self) -> int:
        return 1 + sum(self._serial_cycles(name, shift)
                       for name, shift in zip(self._spec.names, self._spec.shifts))

    @property
    def ii(self) -> int:
        """The next kline is taken in the cycle its predecessor's result is handed over."""
        return self.latency

    def elaborate(self, platform):
        m = Module()
        spec = self._spec
        names = spec.names
        handed_over = ~self.o.valid | self.o.ready
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        kline = Signal(KLINE)
        commit = Signal()
        history = History(m, spec, commit, kline.close, kline.volume, read_en=1)
        window_sum, running_sum = Signal(self._window_bits), Signal(self._window_bits)
        top, bottom = body_bounds(kline)

        divider = SerialDivider(self._serial_width(), self._serial_width(), QUOTIENT_BITS,
                                max_scale=MAX_SHIFT + 1)
        m.submodules.divider = divider
        index = Signal(range(len(names)))
        a, b = Signal(self._serial_width()), Signal(self._serial_width())
        ready = Signal()
        values = sources(kline, top, bottom, history.past_closes(), window_sum,
                         spec.volume_window)
        # a and b are registered (in every state; read in "Operands"), the divisor is
        # registered by the divider at its start
        for target, keys in zip((a, b, divider.divisor), zip(*(OPERANDS[n] for n in names))):
            select(m, index, target, [values[key] for key in keys], keys,
                   "comb" if target is divider.divisor else "sync")
        scales = [shift + 1 for shift in spec.shifts]
        select(m, index, divider.scale, scales, scales)
        select(m, index, ready, [history.ready(name, history.count, window_sum)
                                 for name in names])
        # |num| and its sign are registered: selection, subtraction and division would
        # otherwise be one long carry-chain path (iCE40 fmax)
        magnitude, negative = Signal(self._serial_width()), Signal()
        m.d.comb += divider.dividend.eq(magnitude)
        code = feature_code(divider.quotient, negative, ready)

        with m.FSM():
            with m.State("Wait kline"):
                m.d.comb += self.i.ready.eq(handed_over)
                with m.If(self.i.valid & handed_over):
                    m.d.sync += [kline.eq(self.i.payload), index.eq(0)]
                    m.next = "Select"
            with m.State("Select"):
                m.next = "Operands"
            with m.State("Operands"):
                m.d.sync += Cat(magnitude, negative).eq(Cat(*abs_difference(a, b)))
                m.next = "Start"
            with m.State("Start"):
                m.d.comb += divider.start.eq(1)
                m.next = "Divide"
            with m.State("Divide"):
                with m.If(~divider.busy):
                    with m.Switch(index):
                        for position in range(len(names)):
                            with m.Case(position):
                                m.d.sync += self.o.payload.codes[position].eq(code)
                    m.next = "Select"
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == len(names) - 1):
                        m.d.comb += commit.eq(1)
                        m.d.sync += [
                            self.o.valid.eq(1),
                            self.o.payload.warm.eq(history.warm(history.count)),
                            *history.update_sums(window_sum, running_sum, kline.volume,
                                                 history.count),
                        ]
                        m.next = "Wait kline"
        return m
