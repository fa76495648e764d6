"""Export the signal core as standalone Verilog, with a JSON description of its timing and ports.

    python -m hw.export --model build/model [--config parallel|folded] [--out build/verilog/]

Writes ``<out>/signal_core.v``: module ``signal_core`` with ports ``clk``, ``rst``,
``i__valid``, ``i__ready``, ``i__payload``, ``o__valid``, ``o__ready``, ``o__payload``; and
``<out>/signal_core.json``: the declared timing in cycles (``latency_cycles``,
``latency_cycles_back_to_back``, ``latency_spacing_cycles``, ``stage_cycles``, ``ii``; see
:meth:`hw.gateware.core.SignalCore.timing`), ``config``, ``mac_lanes`` per layer, ``classes``,
the model file and its SHA-256, each port's direction and width, and the bit range
``[msb, lsb]`` of every payload field (``open``, ..., ``signal``, ``raw[0]``, ..., ``warm``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import data

from hw.gateware.core import CONFIGS, SignalCore
from hw.gateware.layouts import KLINE, signal_layout
from sw.spec import artifact

TOP = "signal_core"
SCHEMA_VERSION = 2


def field_bits(layout: data.Layout, prefix: str = "", offset: int = 0) -> dict:
    """``{field: [msb, lsb]}`` of a payload layout, arrays element by element (``raw[0]``)."""
    bits = {}
    for key, field in layout:
        name = f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}{'.' * bool(prefix)}{key}"
        lsb = offset + field.offset
        if isinstance(field.shape, data.Layout):
            bits.update(field_bits(field.shape, name, lsb))
        else:
            bits[name] = [lsb + field.width - 1, lsb]
    return bits


def port(direction: str, shape) -> dict:
    if isinstance(shape, data.Layout):
        return {"direction": direction, "width": shape.size, "fields": field_bits(shape)}
    return {"direction": direction, "width": shape}


def describe(core: SignalCore, model_path: Path, classes) -> dict:
    """The JSON description of an exported core."""
    return {
        "schema_version": SCHEMA_VERSION,
        "top": TOP,
        "verilog": f"{TOP}.v",
        "config": core.config if isinstance(core.config, str) else list(core.config),
        "mac_lanes": [layer.multipliers for layer in core.mlp.layers],
        **core.timing(),
        "classes": list(classes),
        "model": {"path": str(model_path),
                  "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest()},
        "ports": {
            "clk": port("in", 1), "rst": port("in", 1),
            "i__valid": port("in", 1), "i__ready": port("out", 1),
            "i__payload": port("in", KLINE),
            "o__valid": port("out", 1), "o__ready": port("in", 1),
            "o__payload": port("out", signal_layout(len(classes))),
        },
    }


def export(model_dir, config: str = "parallel", out="build/verilog") -> tuple[Path, Path]:
    """Write the Verilog and its JSON description; return their paths.
    Raises :class:`sw.spec.artifact.ArtifactError` or ValueError (bad config)."""
    model_path = Path(model_dir)
    if model_path.is_dir():
        model_path = model_path / "model.json"
    model = artifact.load(model_path)
    core = SignalCore(model, config)   # checks config first: ValueError before any file
    description = describe(core, model_path.resolve(), model.classes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    verilog_path, json_path = out / f"{TOP}.v", out / f"{TOP}.json"
    verilog_path.write_text(verilog.convert(core, name=TOP))
    json_path.write_text(json.dumps(description, indent=1) + "\n")
    return verilog_path, json_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw.export",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="build/model", help="model artifact (directory or file)")
    parser.add_argument("--config", default="parallel",
                        help=f"core configuration: {' or '.join(CONFIGS)} (default parallel)")
    parser.add_argument("--out", default="build/verilog", help="output directory")
    args = parser.parse_args(argv)
    try:
        verilog_path, json_path = export(args.model, args.config, args.out)
    except artifact.ArtifactError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    description = json.loads(json_path.read_text())
    print(f"wrote {verilog_path} and {json_path}: {args.config} core, latency "
          f"{description['latency_cycles']} cycles, ii {description['ii']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
