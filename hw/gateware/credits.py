"""The core's admission and output queue: backpressure without stalling the stages.

:class:`CreditQueue` sits around the stages of :class:`hw.gateware.core.SignalCore`;
:class:`Queue` is its first-in first-out buffer. Their proofs (:func:`proofs`) run on the
core with its stages replaced by a :class:`TagPipeline` of the same latency and initiation
interval, an abstraction itself checked against the real stages cycle by cycle.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Cover, Module, Mux, ResetSignal, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.gateware.formal import (
    FreeInputs,
    Proof,
    after_clean_cycle,
    check_held,
    check_order,
    drive_free,
)


class Queue(wiring.Component):
    """First in, first out: ``depth`` entries in one memory with an asynchronous read
    (LUT RAM), like :class:`amaranth.lib.fifo.SyncFIFO`, but with its entries named for
    proofs: in formal elaboration :attr:`slots` are the entries, oldest first, each with
    its valid bit.

    Latency 1 cycle (an entry written is offered the next cycle); one entry in and one out
    per cycle. ``i.ready`` is low only while full.

    Members
    -------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape))
    level : Out(range(depth + 1)), entries held
    """

    def __init__(self, shape, depth: int):
        if depth < 1:
            raise ValueError(f"queue depth must be at least 1, got {depth}")
        self._depth = depth
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape)),
                          "level": Out(range(depth + 1))})
        self.slots = [(Signal(name=f"slot{k}_valid"), Signal(shape, name=f"slot{k}"))
                      for k in range(depth)]

    @property
    def depth(self) -> int:
        return self._depth

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        m.submodules.storage = storage = Memory(shape=self.i.payload.shape(), depth=depth,
                                                init=[])
        write, read = storage.write_port(), storage.read_port(domain="comb")
        produce, consume = Signal(range(depth)), Signal(range(depth))
        push, pop = self.i.valid & self.i.ready, self.o.valid & self.o.ready

        def following(pointer, step=1):
            return Mux(pointer + step >= depth, pointer + step - depth, pointer + step)

        m.d.comb += [
            self.i.ready.eq(self.level != depth), self.o.valid.eq(self.level != 0),
            write.addr.eq(produce), write.data.eq(self.i.payload), write.en.eq(push),
            read.addr.eq(consume), self.o.payload.eq(read.data),
        ]
        m.d.sync += self.level.eq(self.level + push - pop)
        with m.If(push):
            m.d.sync += produce.eq(following(produce))
        with m.If(pop):
            m.d.sync += consume.eq(following(consume))

        if platform == "formal":
            for index, (valid, payload) in enumerate(self.slots):
                port = storage.read_port(domain="comb")
                m.d.comb += [port.addr.eq(following(consume, index)),
                             valid.eq(index < self.level), payload.eq(port.data)]
            m.d.comb += [
                Assert((produce < depth) & (consume < depth) & (self.level <= depth),
                       "queue: pointers and level in range"),
                Assert(produce == following(consume, self.level) if depth > 1 else 1,
                       "queue: level = produce - consume"),
            ]
        return m


class CreditQueue(wiring.Component):
    """Admission and output queue of the core: ``i -> admit -> (stages) -> result -> o``.

    The stages never stall (``result.ready`` is always 1), so no clock enable spans the
    core: backpressure on ``o`` fills a :class:`Queue` of :attr:`credits` entries instead,
    and ``i.ready`` admits a kline only while fewer than :attr:`credits` are outstanding
    (:attr:`outstanding`, admitted and not yet delivered). ``i.ready`` is a register: the
    compare with ``credits`` is made beside the handshake for each count ``outstanding``
    can take next. The queue is bypassed while empty, so it adds no cycle. A synchronous
    reset forgets every kline admitted and not delivered, and a kline taken in the reset
    cycle.

    Parameters
    ----------
    kline, result : shapes of the streams
    credits : int, klines admitted and not yet delivered, at most

    Members
    -------
    i : In(stream.Signature(kline)), admit : Out(stream.Signature(kline))
    result : In(stream.Signature(result)), o : Out(stream.Signature(result))
    """

    def __init__(self, kline, result, credits: int):
        self._credits = credits
        super().__init__({"i": In(stream.Signature(kline)),
                          "admit": Out(stream.Signature(kline)),
                          "result": In(stream.Signature(result)),
                          "o": Out(stream.Signature(result))})
        self.outstanding = Signal(range(credits + 1))
        self.queue = Queue(result, self.queue_depth)

    @property
    def credits(self) -> int:
        return self._credits

    @property
    def queue_depth(self) -> int:
        """Entries of the output queue: one per credit, so it cannot overflow."""
        return self._credits

    def elaborate(self, platform):
        m = Module()
        m.submodules.queue = queue = self.queue
        credits, outstanding = self._credits, self.outstanding
        admitted, delivered = self.i.valid & self.i.ready, self.o.valid & self.o.ready
        # `outstanding < credits`, registered: each count outstanding can take next is
        # compared beside the handshake, which only selects one (no carry chain after it)
        room = Signal(init=1)
        m.d.sync += [
            outstanding.eq(outstanding + admitted - delivered),
            room.eq(Mux(admitted == delivered, outstanding < credits,
                        Mux(admitted, outstanding + 1 < credits, outstanding - 1 < credits))),
        ]
        # an empty queue hands a result straight on: no cycle added
        bypass = ~queue.o.valid
        m.d.comb += [
            self.admit.payload.eq(self.i.payload),
            self.admit.valid.eq(self.i.valid & room),
            self.i.ready.eq(self.admit.ready & room),
            self.result.ready.eq(1),
            self.o.valid.eq(queue.o.valid | self.result.valid),
            self.o.payload.eq(Mux(bypass, self.result.payload, queue.o.payload)),
            queue.o.ready.eq(self.o.ready),
            queue.i.payload.eq(self.result.payload),
            queue.i.valid.eq(self.result.valid & ~(bypass & self.o.ready)),
        ]
        if platform == "formal":
            m.d.comb += [
                Assert(outstanding <= credits, "credits: outstanding above credits"),
                Assert(room == (outstanding < credits), "credits: registered compare wrong"),
                Assert(~queue.i.valid | queue.i.ready, "credits: result offered to a full queue"),
            ]
        return m


#: Payload bits a :class:`TagPipeline` carries. Nothing in the core's control reads a
#: payload, so a tag the solver chooses freely shows any loss, duplication or reordering
#: (data independence); the queue still holds and shows whole payloads.
TAG_BITS = 4


class TagPipeline(wiring.Component):
    """The stages of the core, for proofs: ``i.payload``'s low :data:`TAG_BITS` bits,
    delayed ``latency`` cycles, as ``o.payload``; a kline taken every ``ii`` cycles at
    most. The stages never stall, and neither does this: ``o.ready`` must be high whenever
    ``o.valid`` is (an assertion in formal elaboration). :attr:`slots`, oldest first, are
    its registers.

    Latency ``latency`` cycles, ``ii`` cycles between klines. Checked against the real
    stages by the bounded check of :func:`proofs` (:func:`abstraction_harness`).
    """

    def __init__(self, kline, result, *, latency: int, ii: int):
        if latency < 1 or ii < 1:
            raise ValueError(f"latency {latency} and ii {ii} must be at least 1")
        self._latency, self._ii = latency, ii
        super().__init__({"i": In(stream.Signature(kline)), "o": Out(stream.Signature(result))})
        self.slots = [(Signal(name=f"stage{k}_valid"),
                       Signal(result, name=f"stage{k}", reset_less=True))
                      for k in range(latency)]

    def elaborate(self, platform):
        m = Module()
        width = TAG_BITS
        (last_valid, last), *_ = self.slots
        first_valid, first = self.slots[-1]
        cooldown = Signal(range(self._ii))
        taken = self.i.valid & self.i.ready
        m.d.comb += [self.o.valid.eq(last_valid), self.o.payload.eq(last),
                     self.i.ready.eq(cooldown == 0)]
        with m.If(taken):
            m.d.sync += cooldown.eq(self._ii - 1)
        with m.Elif(cooldown != 0):
            m.d.sync += cooldown.eq(cooldown - 1)
        for (valid, payload), (source_valid, source) in zip(self.slots, self.slots[1:]):
            m.d.sync += [valid.eq(source_valid), payload.eq(source)]
        m.d.sync += [first_valid.eq(taken),
                     Value.cast(first)[:width].eq(Value.cast(self.i.payload)[:width])]
        if platform == "formal":
            m.d.comb += Assert(~self.o.valid | self.o.ready, "stages: a result was refused")
        return m


class AbstractCore(wiring.Component):
    """A :class:`CreditQueue` around a :class:`TagPipeline` with the core's latency and
    ``ii``: the core as its proofs see it (``credit_queue`` makes the credit queue)."""

    def __init__(self, core, credit_queue=CreditQueue):
        kline, result = core.i.payload.shape(), core.o.payload.shape()
        self.credit_queue = credit_queue(kline, result, core.credits)
        self.stages = TagPipeline(kline, result, latency=core.latency, ii=core.ii)
        super().__init__({"i": In(stream.Signature(kline)), "o": Out(stream.Signature(result))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.credits, m.submodules.stages = self.credit_queue, self.stages
        wiring.connect(m, wiring.flipped(self.i), self.credit_queue.i)
        wiring.connect(m, self.credit_queue.admit, self.stages.i)
        wiring.connect(m, self.stages.o, self.credit_queue.result)
        wiring.connect(m, self.credit_queue.o, wiring.flipped(self.o))
        return m


def core_properties(m, core: AbstractCore):
    credit_queue, stages = core.credit_queue, core.stages
    credits = credit_queue.credits
    width = TAG_BITS
    stall = check_held(m, core.o, "o")
    held = check_order(m, core.i, core.o, credit_queue.queue.slots + stages.slots,
                       capacity=credits, name="core", packed=credit_queue.queue_depth,
                       value=lambda payload: Value.cast(payload)[:width])
    m.d.comb += Assert(credit_queue.outstanding == held, "core: credit counter = klines held")
    # a reset forgets what was held: right after it nothing is held or offered (and
    # `o.valid` with nothing held fails above, so nothing held before it leaves after it)
    with m.If(~after_clean_cycle(m)):
        m.d.comb += Assert((held == 0) & ~core.o.valid, "core: output after a reset")
    m.d.comb += [
        Cover(stall & core.o.ready & (held == credits), "o taken with every credit in use"),
        Cover(core.i.valid & ~core.i.ready & (held == credits), "i refused for credits"),
        Cover(credit_queue.queue.level == credit_queue.queue_depth, "output queue full"),
        Cover(ResetSignal() & (held == credits), "reset with every credit in use"),
    ]


def abstraction_harness(core):
    """The real stages of ``core`` and a :class:`TagPipeline` side by side, fed the same
    ``valid`` and reset: the harness of the bounded check in :func:`proofs`."""
    from amaranth.hdl import Elaboratable

    class Harness(Elaboratable):
        def elaborate(self, platform):
            m = Module()
            kline, result = core.i.payload.shape(), core.o.payload.shape()
            admit = stream.Signature(kline).create()
            last = stream.Signature(result).create()
            core.datapath(m, admit, wiring.flipped(last))
            m.submodules.tags = tags = TagPipeline(kline, result, latency=core.latency,
                                                   ii=core.ii)
            drive_free(m, admit.valid, admit.payload)
            m.d.comb += [tags.i.valid.eq(admit.valid), tags.i.payload.eq(admit.payload),
                         last.ready.eq(1), tags.o.ready.eq(1),
                         Assert(admit.ready == tags.i.ready, "stages: ready differs"),
                         Assert(last.valid == tags.o.valid, "stages: valid differs"),
                         Cover(last.valid & tags.o.valid, "a result left both")]
            return m

    return Harness()


def proofs(core) -> list[Proof]:
    """The stream rules of ``core`` (a :class:`hw.gateware.core.SignalCore`)."""
    credits = core.credits
    cover_depth = 2 * credits + core.latency + 4
    return [
        Proof("core: stream rules", "hw.gateware.core.SignalCore (CreditQueue)", "prove",
              depth=1, harness=lambda: FreeInputs(AbstractCore(core), core_properties),
              cover_depth=cover_depth,
              shows=f"o.payload holds while o.valid & ~o.ready; every kline admitted leaves "
                    f"exactly once, in order; the credit counter never exceeds {credits} "
                    f"and equals the klines held; the output queue is never offered a "
                    f"result while full; a synchronous reset empties the core (it forgets "
                    f"only the klines held and one taken in the reset cycle), and every "
                    f"kline admitted after it leaves"),
        Proof("core: stages abstraction", "hw.gateware.core.SignalCore (stages)", "bmc",
              depth=core.latency + 3 * core.ii + 6, harness=lambda: abstraction_harness(core),
              inner_checks=False,
              shows=f"the real stages and a tag pipeline of latency {core.latency} and ii "
                    f"{core.ii} agree on ready and valid every cycle, reset included"),
        Proof("queue: stream rules", "hw.gateware.credits.Queue", "prove", depth=2,
              harness=lambda: FreeInputs(Queue(8, 5), queue_properties), cover_depth=8,
              shows="o.payload holds while stalled; every entry leaves once, in order"),
        Proof("core: i.ready registered", "hw.gateware.core.SignalCore", "structural",
              depth=0, harness=lambda: core,
              shows="i.valid is not in the combinational cone of i.ready"),
    ]


def queue_properties(m, queue):
    stall = check_held(m, queue.o, "o")
    check_order(m, queue.i, queue.o, queue.slots, capacity=queue.depth, name="queue",
                packed=queue.depth)
    m.d.comb += [Cover(stall & queue.o.ready & (queue.level == queue.depth), "full, then o moved"),
                 Cover(queue.i.valid & queue.o.ready & (queue.level == 1), "in and out at once")]
