"""The vocabulary of the proofs: stream rules as Amaranth ``Assert``/``Cover`` statements,
and :class:`Proof`, one property of one component for :mod:`hw.flow.prove` to run.

Components state their invariants in ``elaborate`` when ``platform == "formal"`` (as
``amaranth.lib.fifo`` does), so they hold wherever the component is used; environments
(free inputs, and every ``Assume``) live in the proof harnesses beside each component.
Every register here resets with the ``sync`` domain, so a proof also covers a synchronous
reset at any cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, Elaboratable, Module, Mux, Signal, Value
from amaranth.lib.wiring import In

__all__ = ["AnyConst", "AnySeq", "FreeInputs", "Proof", "after_clean_cycle", "check_held",
           "check_order", "count_while", "drive_free", "occupancy"]

METHODS = ("prove", "bmc", "structural")


@dataclass(frozen=True)
class Proof:
    """One property of one component, checked by SymbiYosys.

    ``method`` "prove" is k-induction at ``depth`` (its covers are searched to
    ``cover_depth``), "bmc" a bounded check of ``depth`` cycles from reset. ``harness()``
    builds the design under proof: the component, its free inputs, every ``Assume`` and
    ``Assert`` and at least one ``Cover``. For "structural" it builds the component itself,
    whose ``i.ready`` must not depend combinationally on its ``i.valid``. Without
    ``inner_checks`` only the harness's own checks are kept: the components' invariants
    are proven elsewhere, and leaving them out lets the solver drop what only they read."""

    name: str
    component: str
    method: str
    depth: int
    harness: Callable[[], Elaboratable]
    shows: str
    cover_depth: int = 0
    #: keep the checks of the components inside the harness (their own invariants)
    inner_checks: bool = True
    #: keep their covers too (reached in their own proofs; some need more cycles than this
    #: proof's cover depth)
    inner_covers: bool = True

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"proof {self.name}: method {self.method!r} not in {METHODS}")


def drive_free(m: Module, *values) -> None:
    """Each value takes any value in every cycle: an input the solver chooses."""
    for value in values:
        value = Value.cast(value)
        m.d.comb += value.eq(AnySeq(len(value)))


def count_while(m: Module, counter: Signal, condition, limit: int) -> None:
    """``counter`` counts the cycles ``condition`` has held, up to ``limit``; 0 when it
    does not."""
    m.d.sync += counter.eq(Mux(condition, Mux(counter == limit, counter, counter + 1), 0))


def after_clean_cycle(m: Module) -> Signal:
    """High from the second cycle on while the cycle before was not in reset: then a
    register holds what the cycle before left in it."""
    clean = Signal()
    m.d.sync += clean.eq(1)
    return clean


def check_held(m: Module, stream, name: str) -> Signal:
    """The stream rule: once ``valid`` is offered and not taken, ``valid`` stays and
    ``payload`` holds until ``ready`` (a reset excepted). Returns the signal that is high
    when the cycle before was such a stall, for a cover."""
    clean = after_clean_cycle(m)
    stalled = Signal(name=f"{name}_stalled")
    before = Signal.like(stream.payload, name=f"{name}_before", reset_less=True)
    m.d.sync += [stalled.eq(stream.valid & ~stream.ready), before.eq(stream.payload)]
    with m.If(clean & stalled):
        m.d.comb += Assert(stream.valid, f"{name}: valid dropped before ready")
        m.d.comb += Assert(Value.cast(stream.payload) == Value.cast(before),
                           f"{name}: payload changed while stalled")
    return clean & stalled


def check_order(m: Module, i, o, slots, *, capacity: int, name: str, value=None,
                packed: int = 0) -> Signal:
    """Every payload taken on ``i`` leaves on ``o`` exactly once, in order: ``o`` carries a
    prefix of what ``i`` took, and what is missing from it waits in ``slots``.

    ``slots`` are ``(valid, payload)`` pairs, oldest first, which between them hold every
    item taken and not yet given (gaps allowed); ``capacity`` bounds how many. ``value``
    maps a payload (of ``i``, ``o`` or a slot) to what is compared (default: all its bits).
    The first ``packed`` slots fill from the front (as a queue's entries do), so a slot's
    place among the items is its index there, with no count of the slots before it.

    One item, the ``N``-th taken for a free constant ``N``, is tracked: while it waits its
    slot holds it, and when it leaves ``o`` carries it. Counts are taken modulo a power of
    two above ``capacity``, so every ``N`` is every ``N + k * 2**bits``. Returns the number
    of items held (for further assertions)."""
    value = value or Value.cast
    bits = (2 * capacity + 1).bit_length()
    taken, given = Signal(bits, name=f"{name}_taken"), Signal(bits, name=f"{name}_given")
    tracked = Signal(bits, name=f"{name}_tracked")
    m.d.comb += tracked.eq(AnyConst(bits))
    held = Signal(bits, name=f"{name}_held")
    ahead = Signal(bits, name=f"{name}_ahead")     # items before the tracked one
    recorded = Signal(len(value(i.payload)), name=f"{name}_recorded", reset_less=True)
    take, give = i.valid & i.ready, o.valid & o.ready
    m.d.comb += [held.eq(taken - given), ahead.eq(tracked - given)]
    m.d.sync += [taken.eq(taken + take), given.eq(given + give)]
    with m.If(take & (taken == tracked)):
        m.d.sync += recorded.eq(value(i.payload))
    waiting = ahead < held

    occupied = [Value.cast(valid) for valid, _ in slots]
    m.d.comb += [
        Assert(held == sum(occupied, Value.cast(0)), f"{name}: items held = slots occupied"),
        Assert(held <= capacity, f"{name}: more than {capacity} items held"),
        Assert(~o.valid | (held != 0), f"{name}: output offered with nothing held"),
    ]
    before = Value.cast(0)
    for index, (valid, payload) in enumerate(slots):
        place = index if index < packed else before
        with m.If(waiting & valid & (place == ahead)):
            m.d.comb += Assert(value(payload) == recorded, f"{name}: slot {index} holds the "
                               f"wrong item")
        before = before + valid
    with m.If(give & (given == tracked)):
        m.d.comb += Assert(value(o.payload) == recorded, f"{name}: item given out of order")
    return held


def occupancy(m: Module, i, o, bits: int, name: str) -> Signal:
    """Items taken on ``i`` and not yet given on ``o`` (modulo ``2**bits``): for covers."""
    held = Signal(bits, name=f"{name}_occupancy")
    m.d.sync += held.eq(held + (i.valid & i.ready) - (o.valid & o.ready))
    return held


class FreeInputs(Elaboratable):
    """A component with every input free, and ``properties(m, component)`` added beside
    it: the harness of a component whose rules hold for any environment."""

    def __init__(self, component, properties):
        self.component = component
        self._properties = properties

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.component
        for path, member, value in self.component.signature.flatten(self.component):
            if member.flow == In:
                drive_free(m, value)
        self._properties(m, self.component)
        return m
