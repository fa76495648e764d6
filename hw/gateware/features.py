"""Feature extractor: a stream of klines in, INT8 feature codes out, bit for bit
:func:`sw.spec.features.features_int` and :func:`sw.spec.features.warm`.

Every feature is ``num / den`` with ``num = a - b`` (see :data:`OPERANDS`); the hardware
takes ``|num|`` and its sign, and codes ``q = sign * min((m + 1) >> 1, 127)`` with
``m = (u * r) >> 13`` (``|num| * 2**(shift + 1) / den`` through ``den``'s 9-bit
reciprocal, as :func:`sw.spec.features.features_int` computes it), 0 while the feature
warms up or ``S == 0``: the parallel extractor with ``den``'s exponent and reciprocal
prepared ahead (:mod:`hw.gateware.quotient`), the folded one by normalising ``den`` in a
shift register, one feature at a time, with one reciprocal table and one multiplier; its
8-bit ``m`` saturates (253 or more already codes as 127).

History (the previous close and the closes for ``ret_4``/``ret_16``, volumes for the
window sum) lives in small ``Memory`` rings addressed by a kline pointer; the volume
window sums are running registers. A synchronous reset clears pointer, counter and sums,
so warm-up starts again (stale ring contents are masked by the counter until
overwritten).
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.gateware.layouts import KLINE, codes_layout
from hw.gateware.quotient import (
    CODE_COPIES,
    QUOTIENT_BITS,
    WINDOW_BITS,
    DivisorReciprocal,
    FeatureQuotient,
    feature_code,
    reciprocal_table,
    saturated_quotient,
)
from sw.spec.features import (
    CANDLE,
    LAGS,
    MANTISSA_BITS,
    WINDOW_SHIFT,
    FeatureSpec,
)
from sw.spec.klines import WORD_BITS



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
    :class:`FoldedFeatureExtractor` (one reciprocal table and multiplier shared by all
    features, the smallest). Both have the members and attributes below.

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
    its kline arrives, so its exponent and reciprocal are prepared while the kline before
    it is taken (:class:`hw.gateware.quotient.DivisorReciprocal`, one per denominator);
    each feature then takes a shift and a product
    (:class:`hw.gateware.quotient.FeatureQuotient`), whose registers its code comes from
    with no output register (:attr:`output_levels`): ``latency = 2`` cycles after the
    input handshake, a kline every cycle (``ii == 1``), back to back too. The first stage
    takes ``|num|`` straight from the kline (:func:`numerator`: subtractions and a
    multiplexer, then the shift). It needs valid klines (:data:`NON_NEGATIVE`). The whole
    pipeline stalls while the output is valid and not ready.

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
        :func:`hw.gateware.quotient.feature_code`), counted in the next stage's first cycle."""
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
        # denominator's exponent and reciprocal for the kline being taken (prepared when
        # the one before it was taken, see DivisorReciprocal)
        count = Signal(range(spec.warmup_klines + 1))
        with m.If(accept & (count < spec.warmup_klines)):
            m.d.sync += count.eq(count + 1)
        nexts = self._next_denominators(m, accept, count)
        divisors = {}
        for key, next_value in nexts.items():
            divisor = m.submodules[f"reciprocal_{key}"] = DivisorReciprocal(len(next_value))
            m.d.comb += [divisor.en.eq(advance), divisor.load.eq(accept),
                         divisor.next.eq(next_value)]
            divisors[key] = divisor
        values = {name: getattr(kline, name) for name in KLINE.members}
        values.update({key: divisor.value for key, divisor in divisors.items()},
                      window_volume=kline.volume << spec.volume_window.bit_length() - 1)

        # two stages per feature, a shift and a product; the codes come from their registers
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
                quotient.exponent.eq(divisor.exponent),
                quotient.reciprocal.eq(divisor.reciprocal)]
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
    """The folded :class:`FeatureExtractor`: one datapath shared by all features, one feature
    at a time, for the smallest area (one subtractor for ``|num|``, two shift registers, a
    256-entry reciprocal table in one block RAM and one multiplier).

    Each feature normalises its denominator: a register holding ``den`` (left-aligned in
    the widest denominator's width) shifts left while its top bit is clear, and a register
    holding ``|num|`` shifts with it, for ``n - 1`` cycles, ``n`` the feature's ``den``
    width (32, or ``32 + log2 W`` for ``volume``), enough for ``den = 1``. Then the top 9
    bits of the first are ``M``, and ``u`` is a window of the second at a position fixed
    by the feature's shift (the bits above it, and those shifted out, saturate). ``r`` is
    read from the table during the last shift; ``u * r`` (a DSP) and the saturation are
    registered, and the code (:func:`hw.gateware.quotient.feature_code`) follows. So a
    feature takes ``n + 3`` cycles (operands, ``|num|``, ``n - 1`` shifts, product, code),
    whatever its values, and ``latency = ii = 1 + sum over features of (n + 3)`` cycles:
    250 for the default ``FeatureSpec()`` (six features with ``n = 32``, ``volume`` with
    ``n = 36``); the next kline is accepted in the cycle the result is handed over.

    Parameters and members: those of :class:`FeatureExtractor`.
    """

    def _den_width(self, name) -> int:
        """``den``'s width, and ``|num|``'s: the window sum's for ``volume``, a kline
        word's for the others."""
        return self._window_bits if name == "volume" else WORD_BITS

    def _serial_cycles(self, name) -> int:
        """Operand and ``|num|`` cycles, normalisation, product, code of one feature."""
        return 2 + self._den_width(name) - 1 + 2

    @property
    def latency(self) -> int:
        return 1 + sum(self._serial_cycles(name) for name in self._spec.names)

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

        widths = [self._den_width(name) for name in names]
        den_bits = max(widths)
        # normalised, |num| sits n - 1 - E bits up: u = (|num| << shift + 5) >> E starts at
        # bit n - 6 - shift
        windows = [width - 1 - WINDOW_SHIFT - shift
                   for width, shift in zip(widths, spec.shifts)]
        num_bits = max(den_bits, max(windows) + WINDOW_BITS)

        index = Signal(range(len(names)))
        a, b = Signal(den_bits), Signal(den_bits)
        den = Signal(den_bits)
        ready = Signal()
        values = sources(kline, top, bottom, history.past_closes(), window_sum,
                         spec.volume_window)
        # a and b are registered (in every state; read in "Numerator"), the denominator is
        # loaded left-aligned in "Numerator", so that its top bit is the normalised one
        for target, keys in zip((a, b), zip(*(OPERANDS[n] for n in names))):
            select(m, index, target, [values[key] for key in keys], keys, "sync")
        den_keys = [OPERANDS[name][2] for name in names]
        select(m, index, den, [values[key] << den_bits - width
                               for key, width in zip(den_keys, widths)], den_keys)
        select(m, index, ready, [history.ready(name, history.count, window_sum)
                                 for name in names])

        divisor, magnitude = Signal(den_bits), Signal(num_bits)
        negative, overflow = Signal(), Signal()
        steps = Signal(range(den_bits))
        steps_init = Signal.like(steps)
        select(m, index, steps_init, [width - 2 for width in widths], widths)
        shifting = ~divisor[-1]
        shifted = Mux(shifting, divisor << 1, divisor)[:den_bits]

        m.submodules.reciprocals = table = reciprocal_table()
        lookup = table.read_port()
        # read with the divisor the cycle's shift leaves: r is there with the last shift done
        m.d.comb += lookup.addr.eq(shifted[den_bits - MANTISSA_BITS:den_bits - 1])

        window, above = Signal(WINDOW_BITS), Signal()
        select(m, index, window, [magnitude[p:p + WINDOW_BITS] for p in windows], windows)
        select(m, index, above, [magnitude[p + WINDOW_BITS:].any() for p in windows], windows)
        product = window * lookup.data
        quotient = Signal(QUOTIENT_BITS)
        code = feature_code(quotient, negative, ready)

        with m.FSM():
            with m.State("Wait kline"):
                m.d.comb += self.i.ready.eq(handed_over)
                with m.If(self.i.valid & handed_over):
                    m.d.sync += [kline.eq(self.i.payload), index.eq(0)]
                    m.next = "Operands"
            with m.State("Operands"):
                m.next = "Numerator"
            with m.State("Numerator"):
                difference, below = abs_difference(a, b)
                m.d.sync += [magnitude.eq(difference), negative.eq(below), divisor.eq(den),
                             overflow.eq(0), steps.eq(steps_init)]
                m.next = "Normalise"
            with m.State("Normalise"):
                m.d.sync += [divisor.eq(shifted), steps.eq(steps - 1)]
                with m.If(shifting):
                    m.d.sync += [magnitude.eq(magnitude << 1),
                                 overflow.eq(overflow | magnitude[-1])]
                with m.If(steps == 0):
                    m.next = "Product"
            with m.State("Product"):
                m.d.sync += quotient.eq(saturated_quotient(product, overflow | above))
                m.next = "Code"
            with m.State("Code"):
                with m.Switch(index):
                    for position in range(len(names)):
                        with m.Case(position):
                            m.d.sync += self.o.payload.codes[position].eq(code)
                m.next = "Operands"
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
