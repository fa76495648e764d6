"""Argmax: the trading signal from the final layer's INT8 outputs."""

from amaranth.hdl import Cat, Mux


def first_maximum(values):
    """The index of the largest of ``values`` (signed), the lowest index on a tie
    (:func:`sw.spec.golden.argmax`), as a combinational value.

    Output ``k`` wins when it is above every output before it and at least every output
    after it: all ``n * (n - 1)`` comparisons run side by side (one short carry chain
    deep), then a multiplexer per output, not a tree of comparisons in series. The
    parallel core decides it in the last stage of its last layer
    (:class:`hw.gateware.dense.Dense` with ``argmax``)."""
    n = len(values)
    if n < 2:
        raise ValueError(f"argmax needs at least 2 classes, got {n}")
    wins = [Cat(*[values[index] > values[other] if other < index else
                  values[index] >= values[other] for other in range(n) if other != index]).all()
            for index in range(n)]
    signal = 0
    for index in reversed(range(n)):
        signal = Mux(wins[index], index, signal)
    return signal
