"""Every JSON file the project writes, and its keys: one name and one shape per key.

Each file carries ``"schema_version"`` (int, its number below). A reader that meets a
version it does not know refuses the file with an error naming ``schema_version``; the
model artifact also reads its version 1 files (:func:`sw.spec.artifact.load`). Later work
adds keys here rather than inventing its own.

Keys shared by every report
---------------------------
``latency_cycles``
    int: the DECLARED latency of the core, from the cycle a kline's input handshake
    happens to the cycle its ``o.valid`` rises with ``o.ready`` high, for klines at least
    ``latency_spacing_cycles`` apart.
``latency_cycles_back_to_back``
    int: the declared latency when klines arrive every cycle.
``latency_spacing_cycles``
    int K: the spacing ``latency_cycles`` assumes (1 when the latency does not depend on it).
``stage_cycles``
    ``{stage: int}`` in pipeline order (``features``, ``layer0``, ..., ``argmax``); the
    values add up to ``latency_cycles``.
``ii``
    int: the declared initiation interval, in cycles.
``clock_mhz``, ``fmax_mhz``
    float: the clock the bitstream runs at (the PLL output), and nextpnr's fmax.
``latency_ns``, ``latency_ns_at_fmax``
    float: ``latency_cycles`` at ``clock_mhz`` (the running clock, never fmax), and at fmax.
``measured_latency_cycles``, ``measured_ii``
    measured figures never reuse a declared key: ``{"min", "median", "max"}`` and an int.
``sw_compiled_ns``, ``sw_compiled_p99_ns``, ``speedup_vs_sw_compiled``
    the compiled software reference, ns per kline (median, 99th percentile), and
    ``sw_compiled_ns / latency_ns``; the NumPy figures are ``sw_golden_us``, ``sw_float_us``.
``scheme``
    always a dict with at least ``name`` (a random test model: ``{"name": "random"}``).

Ratios are plain floats; a time or frequency carries its unit in the key (``_ns``,
``_us``, ``_s``, ``_mhz``).

The files
---------
``build/model/model.json``, the model artifact (:mod:`sw.spec.artifact`, version
:data:`ARTIFACT`)
    ``format`` ``"fpga-trader/model"``; ``features`` (:class:`sw.spec.features.FeatureSpec`);
    ``classes`` (names, in the order of the last layer's outputs); ``layers``: per layer
    ``inputs``, ``outputs``, ``weight_bits``, ``weights`` (packed, hex), ``bias``,
    ``multiplier``, ``shift`` (one per output), ``output_zero_point``, ``relu``,
    ``input_scale``, ``weight_scale``, ``output_scale`` (floats, for reference only);
    ``meta``: ``scheme``, ``data`` {``source``, ``synthetic``, ``symbol``, ``category``,
    ``interval``, ``klines``}, ``label`` {``definition``, ``thresholds``}, ``split``,
    ``training`` {``hidden``, ``epochs``, ``seed``, ``optimizer``}, ``test_accuracy``,
    ``fp32_test_accuracy``. Version 1 files had ``version`` 1 instead of
    ``schema_version``, and a random model's ``scheme`` was the string ``"random"``.
``build/reports/precision.json`` (:mod:`sw.learn.precision`, version :data:`PRECISION`)
    ``data``, ``label``, ``split`` (as in the artifact's ``meta``); ``exported`` (the
    exported scheme's name); ``fp32_on_feature_codes_agreement``; ``schemes``: per scheme
    ``name``, ``weight_bits``, ``weight_bytes``, ``weight_snr_db``, ``output_mse``,
    ``agreement_vs_fp32``, ``accuracy``, ``latency_us``, ``training``, ``calibration``,
    ``weight_scales``, ``exported``; ``golden_vs_fake_quant`` (the exported model, integer
    against fake-quant float, kline by kline); ``model`` {``path``, ``sha256``}: the model
    file the report describes (:func:`sw.learn.precision.read` checks it).
``build/<board>/report.json``, the build report (:mod:`hw.flow.report`, version :data:`BUILD`;
a build that missed timing writes it to ``build/<board>/failed/``)
    ``board``, ``device``, ``package``, ``config``, ``config_choice`` {``requested``,
    ``decided_by``, ``attempts``}; ``clock`` {``source_mhz``, ``requested_mhz``,
    ``achieved_mhz``, ``pll``}; ``baud``; ``clock_mhz``, ``fmax_mhz``, ``target_mhz``, ``timing_met``,
    ``clocks`` {clock: {``target_mhz``, ``achieved_mhz``, ``met``}}; ``critical_path``
    {``from``, ``to``, ``clock``, ``delay_ns``, ``logic_ns``, ``routing_ns``}; ``placement``,
    ``seed``, ``placements`` (every nextpnr run of the race); ``resources`` {``LUT``,
    ``FF``, ``DSP``, ``BRAM``: {``used``, ``available``, ``cell``}}; ``latency_cycles``,
    ``ii`` and the latency keys above; ``throughput_mklines_per_s``; ``steps_s``;
    ``bitstream`` (``null`` when timing failed); ``model`` {``path``, ``sha256``,
    ``trained_now``, ``scheme``, ``synthetic``, ``layers``, ``weight_bits``}; ``tools``
    {``amaranth``: {``version``}, tool: {``path``, ``version``}}.
``<out>/signal_core.json``, the exported core (:mod:`hw.flow.export`, version :data:`EXPORT`)
    ``top``, ``verilog``, ``config``, ``mac_lanes`` (per layer), ``latency_cycles``,
    ``latency_cycles_back_to_back``, ``latency_spacing_cycles``, ``stage_cycles``, ``ii``
    (the declared timing; version 1 had ``latency`` alone), ``classes``, ``model`` {``path``, ``sha256``}, ``ports``
    {port: {``direction``, ``width``, ``fields`` {field: [msb, lsb]}}}, ``verilog_sha256``
    (the Verilog file it describes; :func:`hw.flow.export.read` checks it).
``build/reports/latency.json``, the latency report (:mod:`sim.report`, version :data:`LATENCY`)
    the simulated core against the software reference, in the shared keys above, and
    ``config``, ``level`` (``"rtl"``: the exported Verilog; ``"netlist"``: the core
    synthesized for ``board`` and simulated gate by gate, :mod:`sim.netlist`), ``board``
    (``null`` at ``rtl``), ``netlist`` {``board``, ``device``, ``family``, ``cells`` {cell
    type: count}, ``synthesis_s``, ``reused``} (``null`` at ``rtl``), ``data``, ``model``,
    ``simulation_s``; the bench's ``klines``, ``outputs``,
    ``mismatches``, ``first_mismatches``, ``reset_at_kline``, ``discarded_at_reset``;
    ``derived_timing_keys`` (declared keys the exported core lacked, filled in by the
    report); ``measured_latency_cycles_with_backpressure`` and
    ``measured_latency_ns_with_backpressure`` {``min``, ``median``, ``max``};
    ``throughput_klines_per_cycle``; ``backpressure`` {``gap_probability``,
    ``stall_probability``, ``seed``}; ``clock_source``; ``hw_throughput_mklines_per_s``;
    ``machine`` {``cpu``, ``cores``, ``load_1min``}; ``sw_compiled_loop_ns`` and
    ``sw_compiled_independent_ns`` (the loop over the file with and without each kline
    depending on the previous signal, best pass), ``sw_compiled_timer_overhead_ns``,
    ``sw_compiled_klines``, ``sw_compiled_mismatches``; ``sw_samples`` (klines the NumPy
    figures are the median of), ``speedup_vs_sw_golden``, ``speedup_vs_sw_float``.
``build/reports/software_bench.json``, the compiled reference against C
(:mod:`sim.software_bench`, version :data:`SOFTWARE_BENCH`)
    ``data``, ``model``, ``klines``, ``passes``, ``compiler``, ``machine``; per loop
    ``loop_ns``, ``independent_ns``, ``ns``, ``p99_ns``, ``timer_overhead_ns``,
    ``mismatches``, prefixed ``sw_compiled_`` for the compiled reference and ``c_`` for the
    fastest C build (``c_flags``), and unprefixed under ``c_builds`` {flags: ...};
    ``ratio_vs_c``, ``loop_ratio_vs_c``, ``tolerance``, ``within_tolerance``.
"""

from __future__ import annotations

ARTIFACT = 2
PRECISION = 1
BUILD = 2
EXPORT = 2
LATENCY = 1
SOFTWARE_BENCH = 1


class SchemaError(ValueError):
    """A file of a schema version this toolkit does not read."""


def check_version(data: dict, version: int, what: str) -> None:
    """Refuse ``data`` unless its ``schema_version`` is ``version``."""
    found = data.get("schema_version") if isinstance(data, dict) else None
    if found != version:
        raise SchemaError(f"schema_version: {what} has {found!r}, this toolkit reads {version}")


def scheme(value) -> dict:
    """A ``scheme`` as the schema has it: a dict with at least ``name`` (an older file's
    plain name becomes ``{"name": name}``)."""
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value
    if isinstance(value, str):
        return {"name": value}
    raise SchemaError(f"scheme: expected a dict with a name, got {value!r}")
