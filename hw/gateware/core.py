"""The signal core: klines in, trading signals out, board-independent."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.gateware.credits import CreditQueue
from hw.gateware.features import FoldedFeatureExtractor, ParallelFeatureExtractor
from hw.gateware.layouts import KLINE, signal_layout
from hw.gateware.mlp import MLP, in_series, lanes_per_layer
from sw.spec.artifact import QuantizedModel

#: Named configurations, fastest first (``hw.flow.build --config auto`` tries them in this
#: order): whether the feature extractor is folded, and MAC lanes per layer (``None``: fully
#: parallel). ``folded`` is one lane per layer and the folded feature extractor: the
#: smallest core, for an iCE40UP5K.
CONFIGS = {
    "parallel": {"folded_features": False, "lanes": None},
    "folded": {"folded_features": True, "lanes": 1},
}


def resolve_config(model: QuantizedModel, config) -> tuple[bool, tuple]:
    """``(folded feature extractor, MAC lanes per layer)`` of a configuration; a ValueError
    naming the problem for an unknown name or a lane count a layer cannot use."""
    if isinstance(config, str):
        if config not in CONFIGS:
            raise ValueError(f"config {config!r}: choose one of {', '.join(CONFIGS)}, "
                             f"or a tuple of MAC lanes per layer")
        lanes = CONFIGS[config]["lanes"]
        return CONFIGS[config]["folded_features"], (lanes,) * len(model.layers)
    if not isinstance(config, (tuple, list)):
        raise ValueError(f"config {config!r}: a name or a tuple of MAC lanes per layer")
    return False, lanes_per_layer(model, config)


class SignalCore(wiring.Component):
    """A :class:`hw.gateware.features.FeatureExtractor` (parallel or folded) ->
    :class:`hw.gateware.mlp.MLP` (with the argmax in its last layer), bit-exact with
    :func:`sw.spec.golden.run` on every kline.

    Latency (input handshake to ``o.valid``, ``o.ready`` high) is the sum of the stages'
    latencies: no register between them, each takes the previous one's output register.
    It does not depend on how far apart klines arrive (back to back too). ``ii`` (cycles
    between klines accepted back to back) is the largest stage ``ii``.

    The stages never stall, so no clock enable spans the core: backpressure on ``o`` fills
    a queue of :attr:`credits` entries instead, and ``i.ready`` (a registered compare of a
    counter) admits a kline only while fewer than :attr:`credits` are outstanding
    (:class:`hw.gateware.credits.CreditQueue`). The queue is bypassed while empty, so it
    adds no cycle. Nothing is lost, duplicated or reordered; a synchronous reset empties
    the core and restarts the feature warm-up (``python -m hw.prove`` proves these rules).

    Parameters
    ----------
    model : sw.spec.artifact.QuantizedModel
    config : str or tuple
        A name from :data:`CONFIGS`, or a tuple of MAC lanes per layer (``None`` for a fully
        parallel layer) with the parallel feature extractor.

    Members
    -------
    i : In(stream.Signature(KLINE))
    o : Out(stream.Signature(signal_layout(classes)))
    """

    def __init__(self, model: QuantizedModel, config="parallel"):
        folded, lanes = resolve_config(model, config)
        self._config = config
        extractor = FoldedFeatureExtractor if folded else ParallelFeatureExtractor
        self.features = extractor(model.features)
        self.mlp = MLP(model, lanes, argmax=True, input_levels=self.features.output_levels,
                       input_copies=self.features.code_copies)
        self._stages = [self.features, self.mlp]
        super().__init__({
            "i": In(stream.Signature(KLINE)),
            "o": Out(stream.Signature(signal_layout(len(model.classes)))),
        })

    @property
    def config(self):
        return self._config

    @property
    def latency(self) -> int:
        return sum(stage.latency for stage in self._stages)

    @property
    def stage_cycles(self) -> dict:
        """Cycles per stage, in pipeline order (they sum to :attr:`latency`): the feature
        extractor, then each layer (the last one deciding the argmax)."""
        return {"features": self.features.latency,
                **{f"layer{index}": layer.latency for index, layer in enumerate(self.mlp.layers)}}

    def timing(self) -> dict:
        """The declared timing under the report keys: the latency does not depend on how
        far apart klines arrive (every denominator is prepared while the kline before is
        taken), so back to back it is the same and the spacing it needs is 1 cycle."""
        return {"latency_cycles": self.latency, "latency_cycles_back_to_back": self.latency,
                "latency_spacing_cycles": 1, "stage_cycles": self.stage_cycles, "ii": self.ii}

    @property
    def ii(self) -> int:
        return max(stage.ii for stage in self._stages)

    @property
    def credits(self) -> int:
        """Klines admitted and not yet delivered, at most: what the pipeline can hold at
        full rate, plus one."""
        return -(-self.latency // self.ii) + 1

    def datapath(self, m: Module, source, sink):
        """Add the stages to ``m``, from the stream ``source`` to ``sink``, whose ``ready``
        must be 1: the stages never stall, so every clock enable folds away."""
        m.submodules.features = self.features
        m.submodules.mlp = self.mlp
        in_series(m, source, self._stages, sink)

    def elaborate(self, platform):
        m = Module()
        m.submodules.credits = credits = CreditQueue(self.i.payload.shape(),
                                                     self.o.payload.shape(), self.credits)
        wiring.connect(m, wiring.flipped(self.i), credits.i)
        self.datapath(m, credits.admit, credits.result)
        wiring.connect(m, credits.o, wiring.flipped(self.o))
        return m
