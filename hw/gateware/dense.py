"""Dense layer in hardware: ``y = requantize(bias + W @ x)``, bit-exact with :func:`sw.spec.golden.dense`."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import (
    Array,
    Cat,
    ClockSignal,
    Const,
    Instance,
    Module,
    Mux,
    Shape,
    Signal,
    signed,
    unsigned,
)
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.gateware.argmax import first_maximum
from hw.gateware.arith import add_levels, csd, total, tree_levels
from hw.gateware.layouts import codes_layout, payload_register, signal_layout
from sw.spec.artifact import MAX_REQUANT_SHIFT, MULTIPLIER_BITS, QuantizedLayer

#: Logic levels between two pipeline registers of the fully parallel layer: an adder level
#: (one carry chain of about 20 bits), the clamp of a shift requantization (the top bits'
#: check and the output multiplexer) and the fused argmax each count as one.
LEVELS_PER_STAGE = 3
#: Folded layer: an accumulator up to this wide is multiplied by ``M`` in one 18x18 DSP; a
#: wider one is split at :data:`SPLIT_BITS` into two DSP products, registered, then added
#: in a stage of their own (a DSP and a carry chain in series are too slow).
DSP_BITS = 18
SPLIT_BITS = 17
#: Parallel layer: an accumulator up to this many bits wider than :data:`SPLIT_BITS` still
#: needs one DSP per output for its multiply by ``M`` (its top bits select precomputed
#: constants, see :meth:`ParallelDense._requantize_in_dsps`); a wider one multiplies with
#: shifted adds.
TABLE_BITS = 3
#: Pipeline stages of the folded layer after its step counter: ROM read + operand select,
#: multiply, accumulate (then the requantization multiply and rounding, as in parallel).
FOLDED_STAGES = 3


def power_of_two_exponent(value: int) -> int | None:
    """``e`` with ``value == 2**e``, or ``None``."""
    value = int(value)
    return value.bit_length() - 1 if value > 0 and value & (value - 1) == 0 else None


def shift_requantization(layer: QuantizedLayer, j: int) -> tuple[int, int, int]:
    """``(term_shift, pre_shift, constant)`` of output ``j`` of a layer whose multiplier is a
    power of two, ``M = 2**e``: with ``n = s - e``, ``y = zp + ((acc + 2**(n-1)) >> n)``
    exactly for ``n >= 1`` and ``y = zp + (acc << -n)`` for ``n <= 0``. So
    ``y = (acc * 2**term_shift + constant) >> pre_shift`` before the clamp, with the bias,
    the rounding and the zero-point folded into ``constant``: the requantization is a
    shift, the adder tree sums the terms shifted by ``term_shift`` and the constant."""
    n = int(layer.shift[j]) - power_of_two_exponent(layer.multiplier[j])
    term_shift, pre_shift = max(-n, 0), max(n, 0)
    rounding = 1 << (pre_shift - 1) if pre_shift else 0
    # an output range starting at -128 is offset to start at 0: see clamp_shifted
    offset = 128 if layer.output_min == -128 else 0
    constant = (int(layer.bias[j]) << term_shift) + rounding + \
        ((layer.output_zero_point + offset) << pre_shift)
    return term_shift, pre_shift, constant


def clamp_shifted(total_value, pre_shift: int, output_min: int):
    """``clamp(total_value >> pre_shift, output_min, 127)`` (an arithmetic shift of a signed
    value) for an ``output_min`` above -128: both bounds are compares with constants. For
    ``output_min == -128`` the constant carries 128 more (:func:`shift_requantization`):
    the output is in range exactly when the shifted value lies in ``[0, 256)``, when its
    bits from bit 8 up (sign included) are all zero (an OR, two LUT levels), and is then its
    low byte with bit 7 flipped."""
    shifted = total_value >> pre_shift
    if output_min == -128:
        assert len(shifted) > 8, "the total is at least pre_shift + 9 bits wide"
        in_range = ~shifted[8:].any()
        return Mux(in_range, Cat(shifted[:7], ~shifted[7]).as_signed(),
                   Mux(shifted[-1], -128, 127))
    return Mux(shifted > 127, 127, Mux(shifted < output_min, output_min, shifted[:8].as_signed()))


def stage_plan(levels: int) -> list[int]:
    """``levels`` adder levels split into pipeline stages of :data:`LEVELS_PER_STAGE`
    levels, the remainder (if any) in a last, shorter stage."""
    return [LEVELS_PER_STAGE] * (levels // LEVELS_PER_STAGE) + (
        [levels % LEVELS_PER_STAGE] if levels % LEVELS_PER_STAGE else [])


def accumulator_range(layer: QuantizedLayer) -> range:
    """Every value ``bias + W @ x`` can take for INT8 ``x``: the accumulator is exactly this
    wide (narrower than INT32, which saves multiplier inputs)."""
    low, high = output_ranges(layer)
    return range(min(int(low.min()), -1), int(high.max()) + 1)


def output_ranges(layer: QuantizedLayer) -> tuple[np.ndarray, np.ndarray]:
    """Per output, the lowest and highest ``bias + W @ x`` for INT8 ``x``."""
    w = layer.weights.astype(np.int64)
    return (layer.bias + np.minimum(w * -128, w * 127).sum(axis=1),
            layer.bias + np.maximum(w * -128, w * 127).sum(axis=1))


def requantize(product, pre_shift, zero_point: int, output_min: int):
    """``clamp(zp + ((product + 2**(s-1)) >> s), output_min, 127)`` with ``s = pre_shift + 1``.

    With ``half = product >> (s - 1)`` and ``c = 1 + 2 * zp`` the unclamped output is
    ``(half + c) >> 1`` (``floor((floor(p / 2**(s-1)) + 1) / 2) == floor((p + 2**(s-1)) / 2**s)``,
    and ``zp`` enters as the even ``2 * zp``). Both clamps compare ``half`` with a constant,
    side by side with a 9-bit adder whose bits 1..8 are the output when no clamp applies: one
    carry chain deep. ``pre_shift`` is an int (constant) or a Value (from a ROM).
    """
    half = product >> pre_shift
    rounding = 1 + 2 * zero_point
    too_high = half >= 256 - rounding
    too_low = half < 2 * output_min - rounding
    in_range = (half[:9] + rounding)[1:9].as_signed()
    return Mux(too_high, 127, Mux(too_low, output_min, in_range))


def clamp_thresholds(acc_range: range, multiplier: int, shift: int, zero_point: int,
                     output_min: int) -> tuple[int, int]:
    """``(ceiling, floor)``: the requantized output of an accumulator ``acc`` in
    ``acc_range``, ``zp + ((acc * M + 2**(s-1)) >> s)``, is clamped to 127 exactly where
    ``acc >= ceiling`` and to ``output_min`` exactly where ``acc < floor``. That output
    never decreases as ``acc`` grows (``M >= 0``), so each clamp is one compare with a
    constant. Thresholds are limited to ``[acc_range.start, acc_range.stop]``: a clamp
    that never applies has ``ceiling == acc_range.stop`` or ``floor == acc_range.start``."""

    def first_reaching(code):
        """The smallest ``acc`` whose output before the clamp is at least ``code``."""
        if multiplier == 0:     # the output is zp for every acc
            return acc_range.stop if code > zero_point else acc_range.start
        return -(((1 << (shift - 1)) - ((code - zero_point) << shift)) // multiplier)

    return tuple(min(max(first_reaching(code), acc_range.start), acc_range.stop)
                 for code in (128, output_min))


def registered_product(m: Module, platform, advance, value, multiplier: int, name: str):
    """``value * multiplier`` (``value`` at most 18 bits signed or 17 unsigned, ``multiplier``
    a constant below 2**17), registered on ``advance``. On an ECP5 the register is the
    output register of a MULT18X18D (inputs straight from ``value``, ``advance`` its clock
    enable), so no route follows the multiplier inside the cycle: the DSP row is far from
    most logic. Elsewhere (simulation, other FPGAs) ``*`` and a register, which synthesis
    maps as it can."""
    product = Signal(signed(len(value) + multiplier.bit_length() + 1), name=name,
                     reset_less=True)
    if getattr(platform, "family", None) != "ecp5":
        with m.If(advance):
            m.d.sync += product.eq(value * multiplier)
        return product
    a = Signal(signed(DSP_BITS), name=f"{name}_a")
    p = Signal(signed(2 * DSP_BITS), name=f"{name}_p")
    b = Const(multiplier, DSP_BITS)
    m.d.comb += [a.eq(value), product.eq(p)]
    m.submodules[f"{name}_dsp"] = Instance(
        "MULT18X18D",
        p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE0", p_REG_OUTPUT_RST="RST0",
        i_CLK0=ClockSignal(), i_CE0=advance, i_RST0=Const(0),
        i_SIGNEDA=Const(1), i_SIGNEDB=Const(1), i_SOURCEA=Const(0), i_SOURCEB=Const(0),
        **{f"i_A{k}": a[k] for k in range(DSP_BITS)},
        **{f"i_B{k}": b[k] for k in range(DSP_BITS)},
        **{f"i_C{k}": Const(0) for k in range(DSP_BITS)},
        **{f"o_P{k}": p[k] for k in range(2 * DSP_BITS)})
    return product



def check_lanes(layer: QuantizedLayer, lanes: int | None) -> int:
    """The MAC lanes of a :class:`Dense` for ``lanes`` (``None``: fully parallel); a
    ValueError saying why for a count it cannot build (checked before any hardware is
    made)."""
    macs = layer.inputs * layer.outputs
    if lanes is None:
        return macs
    if not isinstance(lanes, (int, np.integer)) or isinstance(lanes, bool):
        raise ValueError(f"lanes must be an integer, got {lanes!r}")
    if lanes != macs and (not 1 <= lanes <= layer.outputs or layer.outputs % lanes):
        divisors = [d for d in range(1, layer.outputs + 1) if layer.outputs % d == 0]
        raise ValueError(
            f"lanes={lanes} for a {layer.inputs}->{layer.outputs} layer: use "
            f"{macs} (fully parallel) or a divisor of its {layer.outputs} outputs "
            f"({', '.join(map(str, divisors))}), one MAC lane per group of outputs")
    return int(lanes)


def dense_layer(layer: QuantizedLayer, lanes: int | None = None, *, argmax: bool = False,
                input_levels: int = 0, hand_on_clamp: bool = False,
                input_copies=()) -> Dense:
    """The :class:`Dense` variant with ``lanes`` MAC lanes: a :class:`ParallelDense` for
    ``None`` or ``inputs * outputs``, else a :class:`FoldedDense`; a ValueError from
    :func:`check_lanes` for a count neither can build. ``input_levels``,
    ``hand_on_clamp`` and ``input_copies`` go to a :class:`ParallelDense` (see
    :func:`streams_clamp`)."""
    lanes = check_lanes(layer, lanes)
    if lanes == layer.inputs * layer.outputs:
        return ParallelDense(layer, argmax=argmax, input_levels=input_levels,
                             hand_on_clamp=hand_on_clamp, input_copies=input_copies)
    return FoldedDense(layer, lanes, argmax=argmax)


def streams_clamp(layer: QuantizedLayer, lanes: int | None) -> bool:
    """Whether the layer with ``lanes`` MAC lanes can hand its clamp on unregistered and
    count a producer's logic levels in its first stage: fully parallel with every
    multiplier a power of two (shift requantization)."""
    return (check_lanes(layer, lanes) == layer.inputs * layer.outputs
            and all(power_of_two_exponent(M) is not None for M in layer.multiplier))


class Dense(wiring.Component):
    """One quantized dense layer: INT8 vector in, INT8 vector out, per output channel ``j``
    ``y_j = clamp(zp + ((acc_j * M_j + 2**(s_j-1)) >> s_j), zp if relu else -128, 127)``
    with ``acc_j = bias_j + sum_i W_ji * x_i`` (:func:`sw.spec.golden.dense`). The vector
    travels in the ``codes`` field of :func:`hw.gateware.layouts.codes_layout`;
    ``warm`` rides along. With ``argmax`` (the last layer), the output is
    :func:`hw.gateware.layouts.signal_layout`: the vector as ``raw`` and its
    :func:`hw.gateware.argmax.first_maximum` as ``signal``, decided in the last stage.

    The interface of two designs, as :class:`amaranth.lib.fifo.FIFOInterface` is of the
    FIFOs: :class:`ParallelDense` (every MAC in logic, a vector per cycle) and
    :class:`FoldedDense` (``lanes`` MAC lanes stepping through a weight ROM);
    :func:`dense_layer` picks one for a lane count. Both have the members and attributes
    below.

    The accumulator is exactly as wide as :func:`accumulator_range` (never wraps).

    Flow control: the whole pipeline advances on cycles where the output register is empty
    or being read (``~o.valid | o.ready``), so a stall loses, duplicates or reorders nothing;
    latency is counted from the input handshake to ``o.valid`` with ``o.ready`` high.

    Parameters
    ----------
    layer : sw.spec.artifact.QuantizedLayer
    argmax : bool
        Also decide the signal (the model's last layer).

    Members
    -------
    i : In(stream.Signature(codes_layout(inputs)))
    o : Out(stream.Signature(codes_layout(outputs) or signal_layout(outputs)))

    Attributes
    ----------
    lanes : int
        MAC lanes: ``inputs * outputs`` when fully parallel.
    latency : int
        Cycles from the input handshake to ``o.valid`` (``o.ready`` high).
    ii : int
        Cycles between vectors accepted back to back.
    output_levels : int
        Logic levels between the last register and ``o.payload`` (0 unless a
        :class:`ParallelDense` hands its clamp on).
    """

    output_levels = 0

    def __init__(self, layer: QuantizedLayer, *, argmax: bool = False):
        self._layer = layer
        self._argmax = argmax
        self._acc_range = accumulator_range(layer)
        self._acc_bits = Shape.cast(self._acc_range).width
        output = signal_layout if argmax else codes_layout
        super().__init__({
            "i": In(stream.Signature(codes_layout(layer.inputs))),
            "o": Out(stream.Signature(output(layer.outputs))),
        })

    @property
    def _shift_requantization(self) -> bool:
        """Whether every multiplier is a power of two, so that the requantization is a shift
        (:func:`shift_requantization`)."""
        return all(power_of_two_exponent(M) is not None for M in self._layer.multiplier)

    @property
    def _split(self) -> bool:
        return self._acc_bits > DSP_BITS

    def _stage(self, m, advance, values, name, *, reset_less=False):
        """Register ``values`` (a list) on ``advance``; return the registers. Data beside
        a valid bit needs no reset (``reset_less``, see :func:`hw.gateware.layouts.payload_register`)."""
        registers = []
        for k, value in enumerate(values):
            register = Signal(value.shape(), name=f"{name}_{k}", reset_less=reset_less)
            with m.If(advance):
                m.d.sync += register.eq(value)
            registers.append(register)
        return registers

    def _payload(self, payload, codes, warm) -> list:
        """Statements that put ``codes`` and ``warm`` in the output payload, with the
        argmax (:func:`hw.gateware.argmax.first_maximum`) when the layer decides it."""
        if not self._argmax:
            return [payload.warm.eq(warm), *(payload.codes[j].eq(y)
                                             for j, y in enumerate(codes))]
        return [payload.warm.eq(warm), payload.signal.eq(first_maximum(codes)),
                *(payload.raw[j].eq(y) for j, y in enumerate(codes))]


class ParallelDense(Dense):
    """The fully parallel :class:`Dense`: every weight is a constant folded into logic as
    canonical-signed-digit shifted adds (binary weights: one add or subtract), summed by an
    adder tree (like signs paired first, so a tree has few subtractions) registered every
    :data:`LEVELS_PER_STAGE` levels. No ROM here: a ROM read would add a cycle and every
    word is needed on every cycle anyway. One vector per cycle (``ii = 1``),
    ``lanes = inputs * outputs``. Then the requantization:

    * every ``M_j`` a power of two (the default quantization scheme's models): a shift.
      The bias, the rounding and the zero-point are one constant of the tree
      (:func:`shift_requantization`), and the clamp decides from the sum's top bits
      (:func:`clamp_shifted`). The tree levels, the clamp and the argmax are one list of
      levels cut into stages of :data:`LEVELS_PER_STAGE` (:attr:`schedule`); latency its
      number of stages (2 and 3 for the default 7-16-3 model, argmax in the second layer).
    * otherwise, the multiply by the constant ``M_j``: for an accumulator up to
      :data:`SPLIT_BITS` + :data:`TABLE_BITS` bits wide, two stages around one DSP per
      output (:meth:`_requantize_in_dsps`), else a second pipelined tree of shifted adds;
      the last stage rounds, shifts, adds the zero-point and clamps. Latency ``tree stages
      + multiply stages``.

    Parameters and members: those of :class:`Dense`, and, with shift requantization
    (:func:`streams_clamp`):

    input_levels : int
        Logic levels in front of ``i.payload`` after its producer's last register (the
        parallel feature extractor's output codes, or the clamp a layer hands on: 1),
        counted in the first stage (:attr:`schedule`).
    hand_on_clamp : bool
        Leave the clamp after the last register (:attr:`output_levels` 1), for the next
        layer's first stage; not with ``argmax``.
    input_copies : list of Value
        Copies of ``i.payload.codes`` from registers of their own (the parallel feature
        extractor's :attr:`~hw.gateware.features.FeatureExtractor.code_copies`): the
        outputs take ``i.payload.codes`` and the copies in turn, so no input net drives
        every output's adders.
    """

    def __init__(self, layer: QuantizedLayer, *, argmax: bool = False,
                 input_levels: int = 0, hand_on_clamp: bool = False, input_copies=()):
        super().__init__(layer, argmax=argmax)
        self._input_copies = list(input_copies)
        if (input_levels or hand_on_clamp) and not self._shift_requantization:
            raise ValueError("only a layer with shift requantization streams its clamp")
        if hand_on_clamp and argmax:
            raise ValueError("the layer deciding the argmax registers its clamp")
        self._input_levels = input_levels
        self._register_clamp = not hand_on_clamp

    @property
    def lanes(self) -> int:
        return self._layer.inputs * self._layer.outputs

    @property
    def ii(self) -> int:
        return 1

    @property
    def latency(self) -> int:
        if self._shift_requantization:
            return len(self.schedule)
        # dot product, then multiply by M and round + clamp
        requantization = 2 if self._dsp_requantization else len(self._requant_levels)
        return len(self._tree_levels) + requantization

    @property
    def output_levels(self) -> int:
        return int(not self._register_clamp)

    @property
    def schedule(self) -> list[list[str]]:
        """Shift requantization: the levels of each pipeline stage, in order: ``input`` (the
        producer's logic in front of ``i.payload``, ``input_levels``), ``add`` (an adder
        level of the tree over the terms and the constant), ``clamp``, ``argmax``."""
        terms = max(len(self._terms(j)) for j in range(self._layer.outputs)) + 1
        levels = (["input"] * self._input_levels + ["add"] * tree_levels(terms)
                  + ["clamp"] * self._register_clamp + ["argmax"] * self._argmax)
        return [levels[k:k + LEVELS_PER_STAGE] for k in range(0, len(levels), LEVELS_PER_STAGE)]

    @property
    def _dsp_requantization(self) -> bool:
        """Whether the parallel layer multiplies by ``M`` in DSPs (see
        :meth:`_requantize_in_dsps`) rather than with shifted adds: when the accumulator is
        at most :data:`TABLE_BITS` wider than the DSP's unsigned :data:`SPLIT_BITS`, as in
        both layers of the default model."""
        return self._acc_bits <= SPLIT_BITS + TABLE_BITS

    def _terms(self, j: int) -> list[tuple[int, int, int]]:
        """``(input, sign, shift)`` of every shifted add of output ``j``'s dot product."""
        return [(i, sign, shift) for i, w in enumerate(self._layer.weights[j])
                for sign, shift in csd(int(w))]

    @property
    def _tree_levels(self) -> list[int]:
        """Adder levels per pipeline stage of the adder tree over the terms and the bias
        (:data:`LEVELS_PER_STAGE` each), ahead of a requantization multiply."""
        most = max(len(self._terms(j)) + 1 for j in range(self._layer.outputs))
        return stage_plan(max(tree_levels(most), 1))

    @property
    def _requant_levels(self) -> list[int]:
        """Adder levels per pipeline stage of the parallel layer's multiply by the constant
        ``M`` (shifted adds of its canonical signed digits), :data:`LEVELS_PER_STAGE` each;
        the rounding shift + clamp counts as one more level, in the last stage."""
        most = max(len(csd(int(M))) for M in self._layer.multiplier)
        return stage_plan((max(most, 1) - 1).bit_length() + 1)

    def elaborate(self, platform):
        m = Module()
        advance = ~self.o.valid | self.o.ready
        if self._shift_requantization:
            self._elaborate_shift(m, advance)
        else:
            self._elaborate_multiply(m, advance, platform)
        return m

    def _adder_tree(self, m, advance, sums, level_plan, passengers, name):
        """Per output, the sum of its ``(negative, value)`` terms by a tree of adders,
        registered after each stage's number of levels in ``level_plan``; ``passengers``
        are delayed alongside. Returns the terms left and the delayed passengers."""
        for stage, levels in enumerate(level_plan):
            sums = self._register_terms(m, advance, add_levels(m, sums, levels),
                                        f"{name}{stage}")
            passengers = self._stage(m, advance, passengers, f"{name}{stage}_passengers")
        return sums, passengers

    def _sums(self, constants, term_shifts) -> list[list]:
        """Per output ``j``, the ``(negative, value)`` terms of its dot product (shifted
        ``term_shifts[j]`` more) and the constant ``constants[j]``."""
        copies = [self.i.payload.codes, *self._input_copies]
        sums = []
        for j, (constant, term_shift) in enumerate(zip(constants, term_shifts)):
            x = copies[j % len(copies)]
            terms = [(constant < 0, Const(abs(constant)))] if constant else []
            terms += [(sign < 0, x[i] << shift + term_shift) for i, sign, shift in self._terms(j)]
            # like signs side by side: pairs add, and only where the two runs meet is there
            # a subtraction (whose inverted operand costs a LUT per bit in front of the chain)
            terms.sort(key=lambda term: term[0])
            sums.append(terms or [(False, Const(0))])
        return sums

    def _elaborate_shift(self, m, advance):
        """The shift requantization's pipeline: :attr:`schedule`, its last stage into the
        output register."""
        layer = self._layer
        m.d.comb += self.i.ready.eq(advance)
        plans = [shift_requantization(layer, j) for j in range(layer.outputs)]
        low, high = output_ranges(layer)
        sums = self._sums([constant for *_, constant in plans],
                          [term_shift for term_shift, *_ in plans])
        valid, warm = self.i.valid, self.i.payload.warm

        def clamped(sums):
            outputs = []
            for j, (terms, (term_shift, pre_shift, constant)) in enumerate(zip(sums, plans)):
                # the terms' sum is acc << term_shift plus the constant without the bias
                added = constant - (int(layer.bias[j]) << term_shift)
                width = Shape.cast(range(min((int(low[j]) << term_shift) + added, -1),
                                         (int(high[j]) << term_shift) + added + 1)).width
                value = Signal(signed(max(width, pre_shift + 9)), name=f"total_{j}")
                m.d.comb += value.eq(total(terms))
                outputs.append(clamp_shifted(value, pre_shift, layer.output_min))
            return outputs

        outputs = None
        schedule = self.schedule
        for index, levels in enumerate(schedule):
            sums = add_levels(m, sums, levels.count("add"))
            if "clamp" in levels:
                outputs = clamped(sums)
            if index == len(schedule) - 1 and self._register_clamp:
                break
            if outputs is None:
                sums = self._register_terms(m, advance, sums, f"sum{index}")
            else:
                outputs = self._stage(m, advance, outputs, f"output{index}", reset_less=True)
            valid, = self._stage(m, advance, [valid], f"valid{index}")
            warm, = self._stage(m, advance, [warm], f"warm{index}", reset_less=True)
        if self._register_clamp:
            self._output(m, advance, valid, warm, outputs)
            return
        # the clamp goes on unregistered: the next layer counts it as its first level
        m.d.comb += [self.o.valid.eq(valid),
                     *self._payload(self.o.payload, clamped(sums), warm)]

    def _register_terms(self, m, advance, sums, name):
        """``sums`` (lists of ``(negative, value)`` terms) through registers."""
        return [list(zip([negative for negative, _ in terms], self._stage(
                    m, advance, [value for _, value in terms], f"{name}_{j}",
                    reset_less=True)))
                for j, terms in enumerate(sums)]

    def _elaborate_multiply(self, m, advance, platform):
        layer = self._layer
        m.d.comb += self.i.ready.eq(advance)
        sums = self._sums([int(b) for b in layer.bias], [0] * layer.outputs)
        sums, (valid, warm) = self._adder_tree(
            m, advance, sums, self._tree_levels, [self.i.valid, self.i.payload.warm], "sum")
        accumulators = [Signal(self._acc_range, name=f"acc_{j}") for j in range(layer.outputs)]
        m.d.comb += [acc.eq(total(terms)) for acc, terms in zip(accumulators, sums)]
        if self._dsp_requantization:
            self._requantize_in_dsps(m, advance, platform, accumulators, valid, warm)
            return
        *registered, last = self._requant_levels
        sums, (valid, warm) = self._adder_tree(
            m, advance, [[(sign < 0, acc << shift) for sign, shift in csd(int(M))] or
                         [(False, Const(0))] for acc, M in zip(accumulators, layer.multiplier)],
            registered, [valid, warm], "product")
        products = [total(terms) for terms in add_levels(m, sums, last - 1)]
        self._output(m, advance, valid, warm, [
            requantize(product, int(layer.shift[j]) - 1, layer.output_zero_point,
                       layer.output_min) for j, product in enumerate(products)])

    def _output(self, m, advance, valid, warm, codes):
        """The output register of the parallel layer (:func:`hw.gateware.layouts.payload_register`)."""
        payload = payload_register(m, self.o)
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(valid), *self._payload(payload, codes, warm)]

    def _requantize_in_dsps(self, m, advance, platform, accumulators, valid, warm):
        """Two stages: ``low * M`` in a DSP, registered beside a constant chosen by the
        accumulator's top bits ``high`` (``acc = high * 2**SPLIT_BITS + low``; with no top
        bits, ``low = acc`` and the constant is fixed) and beside both clamp decisions;
        then one carry chain and the clamp multiplexer. With ``P = low * M`` and ``s`` the
        shift, ``y = (P + offset) >> s`` for ``offset = (high * M << SPLIT_BITS) +
        2**(s-1) + zp * 2**s`` (the rounding and the zero-point folded in). ``y`` grows
        with ``acc`` (``M >= 0``), so each clamp is one compare of the registered
        accumulator with a constant (:func:`clamp_thresholds`), side by side with the
        DSP: no compare follows the DSP, and no adder precedes a compare."""
        layer = self._layer
        outputs = []
        for j, acc in enumerate(accumulators):
            multiplier, shift = int(layer.multiplier[j]), int(layer.shift[j])

            def offset(top):
                return ((top * multiplier) << SPLIT_BITS) + \
                    (1 << (shift - 1)) + (layer.output_zero_point << shift)

            low = acc[:SPLIT_BITS] if self._split else acc
            product = registered_product(m, platform, advance, low, multiplier, f"product_{j}")
            ceiling, floor = clamp_thresholds(self._acc_range, multiplier, shift,
                                              layer.output_zero_point, layer.output_min)
            too_high, too_low = self._stage(m, advance, [
                acc >= ceiling if ceiling < self._acc_range.stop else Const(0),
                acc < floor if floor > self._acc_range.start else Const(0)],
                f"clamp_{j}", reset_less=True)
            if self._split:
                high = acc[SPLIT_BITS:].as_signed()
                tops = range(-(1 << len(high) - 1), 1 << len(high) - 1)
                values = [offset(top) for top in tops]
                chosen = Signal(range(min(values), max(values) + 1), name=f"offset_{j}",
                                reset_less=True)
                with m.If(advance), m.Switch(high):
                    for top, value in zip(tops, values):
                        with m.Case(top):
                            m.d.sync += chosen.eq(value)
            else:
                chosen = Const(offset(0))
            outputs.append(Mux(too_high, 127, Mux(too_low, layer.output_min,
                                                  ((product + chosen) >> shift)[:8].as_signed())))
        (valid,) = self._stage(m, advance, [valid], "product_valid")
        (warm,) = self._stage(m, advance, [warm], "product_warm", reset_less=True)
        self._output(m, advance, valid, warm, outputs)


class FoldedDense(Dense):
    """The folded :class:`Dense`: ``lanes = P`` MAC lanes (``P`` a divisor of ``outputs``;
    8x8 multipliers for INT8, 8x4 for INT4, add/subtract for binary) step through the
    ``inputs * outputs / P`` weight words of a ROM, lane ``l`` computing output
    ``g * P + l`` in group ``g``. The weight ROM holds one word per step, ``P`` unpacked
    weight codes side by side (binary: bit 1 is +1); a second ROM holds per group and lane
    the bias, ``M`` and ``s - 1``. Each lane has its own requantization multiplier (DSP,
    see :data:`DSP_BITS`) and variable shifter, pipelined behind the MAC.
    ``ii = inputs * outputs / P`` cycles, latency ``ii + 3 + requantization stages``
    cycles, one more with the argmax (decided from the registered vector).

    Parameters
    ----------
    layer : sw.spec.artifact.QuantizedLayer
    lanes : int
        MAC lanes, a divisor of the layer's outputs.
    argmax : bool
        Also decide the signal (the model's last layer).

    Members: those of :class:`Dense`.
    """

    def __init__(self, layer: QuantizedLayer, lanes: int, *, argmax: bool = False):
        if check_lanes(layer, lanes) > layer.outputs:
            raise ValueError(f"lanes={lanes} for a {layer.inputs}->{layer.outputs} layer: a "
                             f"folded layer has at most one lane per output")
        self._lanes = int(lanes)
        super().__init__(layer, argmax=argmax)

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def ii(self) -> int:
        return self._layer.inputs * self._layer.outputs // self._lanes

    @property
    def latency(self) -> int:
        # ..., multiply (+ add), round (then the argmax)
        return self.ii + FOLDED_STAGES + 2 + self._split + self._argmax

    def _requantization_multiply(self, m, advance, accumulators, multipliers, passengers):
        """``acc * M`` per lane, registered (in one or two stages, see :data:`DSP_BITS`);
        ``passengers`` (a list of values) are delayed alongside. Returns both."""
        if not self._split:
            products = self._stage(m, advance, [a * mul for a, mul in
                                                zip(accumulators, multipliers)], "product")
            return products, self._stage(m, advance, passengers, "product_passengers")
        low = self._stage(m, advance, [a[:SPLIT_BITS] * mul for a, mul in
                                       zip(accumulators, multipliers)], "product_low")
        high = self._stage(m, advance, [a[SPLIT_BITS:].as_signed() * mul for a, mul in
                                        zip(accumulators, multipliers)], "product_high")
        passengers = self._stage(m, advance, passengers, "product_passengers")
        products = self._stage(m, advance, [(h << SPLIT_BITS) + l for l, h in zip(low, high)],
                               "product")
        return products, self._stage(m, advance, passengers, "sum_passengers")

    def elaborate(self, platform):
        m = Module()
        advance = ~self.o.valid | self.o.ready
        layer, lanes = self._layer, self._lanes
        inputs, groups = layer.inputs, layer.outputs // lanes
        steps = self.ii

        weight_shape = unsigned(1) if layer.weight_bits == 1 else signed(layer.weight_bits)
        weight_codes = (layer.weights > 0) if layer.weight_bits == 1 else layer.weights
        m.submodules.weights = weights = memory.Memory(
            shape=data.ArrayLayout(weight_shape, lanes), depth=steps,
            init=[[int(weight_codes[g * lanes + l, i]) for l in range(lanes)]
                  for g in range(groups) for i in range(inputs)])
        bias_bits = max(int(abs(b)).bit_length() for b in layer.bias) + 1
        lane_params = data.StructLayout({
            "bias": signed(bias_bits),
            "multiplier": unsigned(MULTIPLIER_BITS),
            "pre_shift": range(MAX_REQUANT_SHIFT),
        })
        m.submodules.params = params = memory.Memory(
            shape=data.ArrayLayout(lane_params, lanes), depth=groups,
            init=[[{"bias": int(layer.bias[j]), "multiplier": int(layer.multiplier[j]),
                    "pre_shift": int(layer.shift[j]) - 1}
                   for j in range(g * lanes, (g + 1) * lanes)] for g in range(groups)])
        weight_port = weights.read_port()
        params_port = params.read_port()

        # step counter: step = group * inputs + index
        step = Signal(range(steps))
        index = Signal(range(inputs))
        group = Signal(range(groups))
        busy = Signal()
        last_step = step == steps - 1
        vector = Signal(codes_layout(inputs))
        m.d.comb += [
            self.i.ready.eq(advance & (~busy | last_step)),
            weight_port.addr.eq(step), weight_port.en.eq(advance),
            params_port.addr.eq(group), params_port.en.eq(advance),
        ]
        with m.If(advance & busy):
            m.d.sync += step.eq(Mux(last_step, 0, step + 1))
            with m.If(index == inputs - 1):
                m.d.sync += [index.eq(0), group.eq(Mux(last_step, 0, group + 1))]
            with m.Else():
                m.d.sync += index.eq(index + 1)
        with m.If(self.i.ready):
            m.d.sync += busy.eq(self.i.valid)
            with m.If(self.i.valid):
                m.d.sync += vector.eq(self.i.payload)

        # A: operand select (ROM words arrive alongside)
        a_valid, a_x, a_first, a_last, a_group, a_final, a_warm = self._stage(m, advance, [
            busy, Array(vector.codes)[index], index == 0, index == inputs - 1, group,
            last_step, vector.warm], "a")
        # B: products
        if layer.weight_bits == 1:
            products = [Mux(w, a_x, -a_x) for w in weight_port.data]
        else:
            products = [w * a_x for w in weight_port.data]
        b_products = self._stage(m, advance, products, "b_product")
        b_params = self._stage(m, advance, [params_port.data], "b_params")[0]
        b_valid, b_first, b_last, b_group, b_final, b_warm = self._stage(
            m, advance, [a_valid, a_first, a_last, a_group, a_final, a_warm], "b")
        # C: accumulate
        accumulators = [Signal(self._acc_range, name=f"acc_{l}") for l in range(lanes)]
        with m.If(advance & b_valid):
            for l, accumulator in enumerate(accumulators):
                start = Mux(b_first, b_params[l].bias, accumulator)
                m.d.sync += accumulator.eq(start + b_products[l])
        c_params = self._stage(m, advance, [b_params], "c_params")[0]
        c_done, c_group, c_final, c_warm = self._stage(
            m, advance, [b_valid & b_last, b_group, b_final, b_warm], "c")
        # requantization multiply
        r_products, (r_done, r_group, r_final, r_warm, *r_shifts) = \
            self._requantization_multiply(
                m, advance, accumulators, [c_params[l].multiplier for l in range(lanes)],
                [c_done, c_group, c_final, c_warm, *(c_params[l].pre_shift for l in range(lanes))])
        # round, shift, clamp, into the collected vector or the output register
        outputs = [requantize(p, s, layer.output_zero_point, layer.output_min)
                   for p, s in zip(r_products, r_shifts)]
        collected = [Signal(signed(8), name=f"collected_{j}") for j in range(layer.outputs)]
        done, final, warm = r_done & r_final, collected[:(groups - 1) * lanes] + outputs, r_warm
        if self._argmax:   # the vector is registered first: a folded layer's clock is slow
            (done,) = self._stage(m, advance, [done], "vector_valid")
            (warm,) = self._stage(m, advance, [warm], "vector_warm", reset_less=True)
            final = self._stage(m, advance, final, "vector", reset_less=True)
        with m.If(advance):
            m.d.sync += self.o.valid.eq(done)
            with m.If(done):
                m.d.sync += self._payload(self.o.payload, final, warm)
            with m.If(r_done & ~r_final):
                with m.Switch(r_group):
                    for g in range(groups - 1):
                        with m.Case(g):
                            m.d.sync += [collected[g * lanes + l].eq(y)
                                         for l, y in enumerate(outputs)]
        return m
