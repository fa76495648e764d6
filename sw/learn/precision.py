"""The precision report: what each quantization scheme costs, measured on the test split.

For every scheme (FP32, FP16, INT8 PTQ per-tensor/per-channel x min-max/percentile, INT4
PTQ and QAT, binary PTQ and QAT): weight storage, weight SNR, output MSE and argmax
agreement against FP32, accuracy, and the measured software latency per kline. Quantized
schemes run as integer models (:func:`sw.spec.golden.infer` on the INT8 feature codes); FP32 and
FP16 run on the float features. Then the exported model's integer (golden) outputs are
compared with its fake-quant float simulation, kline by kline.

Writes ``precision.json`` (machines; keys in :mod:`sw.spec.schema`), ``precision.md`` and
``precision.png`` (people), each naming the model file it describes by its SHA-256
(:func:`read` checks it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from sw.learn.model import FloatMLP
from sw.learn.quant import (
    Float16,
    Scheme,
    dequantize_outputs,
    mse,
    quantize,
    snr_db,
    to_integer_model,
)
from sw.learn.train import EXPORT, PERCENTILE, Trained, quantize_scheme
from sw.spec import golden, schema
from sw.spec.features import FEATURE_LIMIT
from sw.spec.files import atomic_write, sha256

SCHEMES = (
    Scheme("int8-ptq-per-tensor-minmax", 8, per_channel=False),
    Scheme("int8-ptq-per-tensor-percentile", 8, per_channel=False, calibration="percentile",
           percentile=PERCENTILE),
    Scheme("int8-ptq-per-channel-minmax", 8),
    Scheme("int8-ptq-per-channel-percentile", 8, calibration="percentile",
           percentile=PERCENTILE),
    EXPORT[8],
    Scheme("int4-ptq", 4, calibration="percentile", percentile=PERCENTILE),
    EXPORT[4],
    Scheme("binary-ptq", 1, calibration="percentile", percentile=PERCENTILE),
    EXPORT[1],
)
LATENCY_CALLS = 300


def flat_weights(model: FloatMLP) -> np.ndarray:
    return np.concatenate([w.ravel() for w in model.weights])


def median_latency_us(infer, rows: np.ndarray) -> float:
    """Median wall time of ``infer`` on one kline (batch of one), in microseconds."""
    times = []
    for i in range(LATENCY_CALLS):
        row = rows[i % len(rows)][None, :]
        start = time.perf_counter()
        infer(row)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e6)


def entry(name, weight_bits, weight_bytes, snr, logits, signal, reference, y, latency,
          **extra) -> dict:
    return {"name": name, "weight_bits": weight_bits, "weight_bytes": int(weight_bytes),
            "weight_snr_db": None if snr is None or np.isinf(snr) else round(snr, 2),
            "output_mse": float(mse(reference.logits, logits)),
            "agreement_vs_fp32": float(np.mean(signal == reference.signal)),
            "accuracy": float(np.mean(signal == y)), "latency_us": round(latency, 2), **extra}


class Reference:
    def __init__(self, model: FloatMLP, x: np.ndarray):
        self.logits = model.forward(x)
        self.signal = np.argmax(self.logits, axis=1)


def measure(trained: Trained, progress: bool = True) -> dict:
    data, fp32 = trained.dataset, trained.fp32
    x, y = data.part("test")
    codes = data.x_int[data.splits["test"]]
    reference = Reference(fp32, x)
    count = sum(w.size for w in fp32.weights)
    float16 = Float16(len(fp32.weights))
    half = fp32.forward(x, float16)
    half_weights = flat_weights(fp32).astype(np.float16)
    schemes = [
        entry("fp32", 32, 4 * count, None, reference.logits, reference.signal, reference, y,
              median_latency_us(fp32.forward, x), training="float", calibration="-",
              weight_scales="-"),
        entry("fp16", 16, 2 * count, snr_db(flat_weights(fp32), half_weights), half,
              np.argmax(half, axis=1), reference, y,
              median_latency_us(lambda row: fp32.forward(row, float16), x),
              training="float", calibration="-", weight_scales="-"),
    ]
    exported_name = trained.artifact.meta["scheme"]["name"]
    for scheme in SCHEMES:
        if scheme.name == exported_name:
            weights, quantizer, artifact = trained.weights, trained.quantizer, trained.artifact
        else:
            weights, quantizer = quantize_scheme(data, fp32, scheme, trained.seed,
                                                 trained.epochs, progress)
            artifact = to_integer_model(weights, quantizer, data.spec)
        signal, raw = golden.infer(artifact, codes)
        dequantized = np.concatenate([(l.weights * l.weight_scale[:, None]).ravel()
                                      for l in artifact.layers])
        described = scheme.to_json()
        schemes.append(entry(
            scheme.name, scheme.weight_bits, artifact.weight_bytes,
            snr_db(flat_weights(weights), dequantized), dequantize_outputs(artifact, raw),
            signal, reference, y, median_latency_us(lambda row: golden.infer(artifact, row),
                                                    codes),
            training=described["training"], calibration=described["calibration"],
            weight_scales=described["weight_scales"], exported=scheme.name == exported_name))
    return {
        "schema_version": schema.PRECISION,
        "data": trained.artifact.meta["data"],
        "label": trained.artifact.meta["label"],
        "split": data.sizes(),
        "exported": exported_name,
        "fp32_on_feature_codes_agreement": float(np.mean(
            fp32.predict(data.part("test", integer=True)[0]) == reference.signal)),
        "schemes": schemes,
        "golden_vs_fake_quant": golden_vs_fake_quant(trained),
    }


def golden_vs_fake_quant(trained: Trained, examples: int = 5) -> dict:
    """The exported model run twice on the test split's INT8 feature codes: integer
    (multiplier and shift, :mod:`sw.spec.golden`) and fake-quant float (exact real scale)."""
    data, artifact, quantizer = trained.dataset, trained.artifact, trained.quantizer
    index = data.splits["test"]
    x = data.x_int[index]
    cache = []
    fake = trained.weights.forward(x / FEATURE_LIMIT, quantizer, cache)
    inputs = [entry[0] for entry in cache[1:]] + [fake]
    fake_codes = [quantize(values, *quantizer.activations[i])
                  for i, values in enumerate(inputs)]
    golden_codes, codes, boundary = [], x, []
    for layer in artifact.layers:
        acc = golden.accumulate(layer, codes)
        codes = golden.requantize(layer, acc)
        golden_codes.append(codes.astype(np.int64))
        exact = acc * (layer.input_scale * layer.weight_scale / layer.output_scale)
        integer = acc * (layer.multiplier / 2.0 ** layer.shift)
        boundary.append((exact, integer))
    golden_signal = golden.argmax(golden_codes[-1])
    fake_signal = np.argmax(fake, axis=1)
    differ = np.flatnonzero(golden_signal != fake_signal)
    last = len(artifact.layers) - 1
    w_q, b_q, _ = quantizer.weights(last, trained.weights.weights[last],
                                    trained.weights.biases[last])
    scale, zero_point = quantizer.activations[last]
    exact = (cache[-1][0] @ w_q.T + b_q) / scale + zero_point   # before rounding
    outputs_differ = np.flatnonzero(np.any(golden_codes[-1] != fake_codes[-1], axis=1))
    shown = np.concatenate([differ, np.setdiff1d(outputs_differ, differ)])[:examples]
    code_differences = [int(np.sum(g != f)) for g, f in zip(golden_codes, fake_codes)]
    return {
        "klines": int(len(index)),
        "argmax_identical": float(np.mean(golden_signal == fake_signal)),
        "argmax_disagreements": int(len(differ)),
        "outputs_identical": float(np.mean(np.all(golden_codes[-1] == fake_codes[-1], axis=1))),
        "code_differences_per_layer": code_differences,
        "codes_per_layer": [int(g.size) for g in golden_codes],
        "max_code_difference": int(max((np.abs(g - f).max() for g, f in
                                        zip(golden_codes, fake_codes)), default=0)),
        "first_layer_examples": [
            {"kline": int(index[i]), "channel": int(j),
             "exact_scale": float(boundary[0][0][i, j]),
             "multiplier_shift": float(boundary[0][1][i, j]),
             "golden_code": int(golden_codes[0][i, j]), "fake_quant_code": int(fake_codes[0][i, j])}
            for i, j in np.argwhere(golden_codes[0] != fake_codes[0])[:examples]],
        "examples": [{"kline": int(index[i]), "golden_outputs": golden_codes[-1][i].tolist(),
                      "fake_quant_outputs": fake_codes[-1][i].tolist(),
                      "fake_quant_before_rounding": [round(float(v), 4) for v in exact[i]],
                      "golden_signal": int(golden_signal[i]),
                      "fake_quant_signal": int(fake_signal[i])} for i in shown],
        "explanation": explanation(artifact),
    }


def explanation(artifact) -> str:
    """Why the integer and the fake-quant outputs may differ, for this artifact."""
    if all(np.all(l.multiplier == 1 << 14) for l in artifact.layers):
        scaling = ("every multiplier is 2**14 (power-of-two scales), so the integer scaling "
                   "is exact; ties (x.5) are common and both round them up, the fake-quant "
                   "model counting a float within rounding error of a tie as the tie. A "
                   "difference could only come from that float error")
    else:
        scaling = ("the fake-quant model multiplies by the exact float s_in * s_w / s_out, "
                   "the integer model by multiplier * 2**-shift (a 15-bit multiplier, "
                   "relative error below 2**-15). An accumulator whose scaled value lies "
                   "within that error of a rounding boundary (x.5) becomes codes one apart "
                   "(first-layer examples below)")
    return ("Both run the same integer weights, biases and zero-points, and both round ties "
            f"up; {scaling}. A one-code difference in a hidden layer moves the next layer's "
            "values by a fraction of a code, so its outputs can differ by one away from x.5 "
            "too. An argmax disagreement needs such a one-code step to create or break a tie "
            "between the two largest outputs.")


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(report: dict) -> str:
    data, g = report["data"], report["golden_vs_fake_quant"]
    lines = [
        "# Precision report",
        "",
        f"Model: `{report['model']['path']}` (SHA-256 `{report['model']['sha256']}`).",
        "",
        f"Data: {data['source']} ({data['symbol']} {data['category']}, interval "
        f"{data['interval']}, {data['klines']} klines"
        f"{', SYNTHETIC' if data['synthetic'] else ', real recorded data'}). "
        f"Split (chronological): {report['split']}. Everything below is on the test split.",
        "",
        f"Label: {report['label']['definition']}.",
        "",
        "FP32/FP16 see the float features; the quantized schemes run as integer models "
        "(sw.spec.golden) on the INT8 feature codes. Fed the INT8 codes instead, FP32 agrees "
        f"with itself on {report['fp32_on_feature_codes_agreement']:.2%} of the test klines "
        "(the cost of input quantization alone). Weight SNR compares the dequantized "
        "weights with the float weights they were quantized from (for QAT, the fine-tuned "
        "ones). Latency: software inference of one kline (NumPy), median.",
        "",
        "| scheme | weights | scales | calibration | training | weight bytes | weight SNR dB "
        "| output MSE | agreement vs FP32 | accuracy | latency µs |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in report["schemes"]:
        bits = {32: "FP32", 16: "FP16", 1: "binary"}.get(s["weight_bits"], f"INT{s['weight_bits']}")
        name = f"**{s['name']}** (exported)" if s.get("exported") else s["name"]
        lines.append(
            f"| {name} | {bits} | {s['weight_scales']} | {s['calibration']} | {s['training']} "
            f"| {s['weight_bytes']} | {fmt(s['weight_snr_db'], 1)} | {s['output_mse']:.2e} "
            f"| {s['agreement_vs_fp32']:.2%} | {s['accuracy']:.2%} | {s['latency_us']:.1f} |")
    lines += [
        "",
        "## Golden integer model vs fake-quant float model (exported scheme)",
        "",
        f"Identical argmax on {g['argmax_identical']:.3%} of {g['klines']} test klines "
        f"({g['argmax_disagreements']} disagreements); identical final INT8 outputs on "
        f"{g['outputs_identical']:.3%}. Codes that differ per layer: "
        + ", ".join(f"{d} of {n}" for d, n in zip(g["code_differences_per_layer"],
                                                 g["codes_per_layer"]))
        + f" (largest difference {g['max_code_difference']} code).",
        "",
        g["explanation"],
        "",
    ]
    for e in g["first_layer_examples"]:
        lines.append(f"- first layer, kline {e['kline']} channel {e['channel']}: accumulator "
                     f"x exact scale = {e['exact_scale']:.6f}, x multiplier/2**shift = "
                     f"{e['multiplier_shift']:.6f} -> fake-quant code {e['fake_quant_code']}, "
                     f"golden code {e['golden_code']}")
    if g["examples"]:
        lines += ["","Final-layer examples (outputs and signal; the fake-quant value before "
                  "rounding is computed from its own, fake-quant, hidden codes):", ""]
    for e in g["examples"]:
        lines.append(f"- kline {e['kline']}: golden {e['golden_outputs']} -> "
                     f"{e['golden_signal']}; fake-quant {e['fake_quant_outputs']} -> "
                     f"{e['fake_quant_signal']} (before rounding "
                     f"{e['fake_quant_before_rounding']})")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    schemes = report["schemes"]
    names = [s["name"] for s in schemes]
    panels = [("agreement vs FP32 (%)", [100 * s["agreement_vs_fp32"] for s in schemes]),
              ("test accuracy (%)", [100 * s["accuracy"] for s in schemes]),
              ("weight SNR (dB)", [s["weight_snr_db"] or 0 for s in schemes])]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), sharey=True)
    colors = ["#d62728" if s.get("exported") else "#1f77b4" for s in schemes]
    for ax, (title, values) in zip(axes, panels):
        ax.barh(names, values, color=colors)
        ax.set_title(title)
        for y, (v, scheme) in enumerate(zip(values, schemes)):
            exact = title.startswith("weight") and scheme["weight_snr_db"] is None
            ax.text(v, y, " exact" if exact else f" {v:.1f}", va="center", fontsize=8)
        ax.margins(x=0.2)
    axes[0].invert_yaxis()
    src = report["data"]["source"] + (" (SYNTHETIC)" if report["data"]["synthetic"] else "")
    fig.suptitle(f"Quantization schemes on the test split of {src} (exported in red; "
                 f"model {report['model']['sha256'][:12]})")
    fig.tight_layout()
    with atomic_write(path, binary=True) as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


class ReportMismatch(ValueError):
    """A precision report that describes another model than the one beside it."""


def write(report: dict, out_dir, model_path) -> Path:
    """Write ``precision.png``, ``precision.md`` and ``precision.json`` (last), each
    replaced atomically and naming the model file it describes by its SHA-256, so that
    :func:`read` can tell a report left by an interrupted run from the model's own."""
    out = Path(out_dir)
    report = {**report, "model": {"path": str(model_path), "sha256": sha256(model_path)}}
    plot(report, out / "precision.png")
    with atomic_write(out / "precision.md") as handle:
        handle.write(markdown(report))
    with atomic_write(out / "precision.json") as handle:
        handle.write(json.dumps(report, indent=1))
    return out / "precision.json"


def read(out_dir, model_path) -> dict:
    """The precision report in ``out_dir``, checked to describe the model file
    ``model_path`` (:class:`ReportMismatch` otherwise)."""
    report = json.loads((Path(out_dir) / "precision.json").read_text())
    described = report.get("model", {}).get("sha256")
    if described != sha256(model_path):
        raise ReportMismatch(f"{Path(out_dir) / 'precision.json'} describes the model with "
                             f"SHA-256 {described}, not {model_path}: train again to "
                             "write both")
    return report
