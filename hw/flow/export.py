"""Export the signal core as standalone Verilog, with a JSON description of its timing and ports
(``python -m hw.export`` is its command line).

Writes ``<out>/signal_core.v``: module ``signal_core`` with ports ``clk``, ``rst``,
``i__valid``, ``i__ready``, ``i__payload``, ``o__valid``, ``o__ready``, ``o__payload``; and
``<out>/signal_core.json`` (keys in :mod:`sw.spec.schema`): the declared timing in
cycles (``latency_cycles``, ``latency_cycles_back_to_back``, ``latency_spacing_cycles``,
``stage_cycles``, ``ii``; see :meth:`hw.gateware.core.SignalCore.timing`), ``config``,
``mac_lanes`` per layer, ``classes``, the model file and its SHA-256, each port's direction
and width, the bit range ``[msb, lsb]`` of every payload field (``open``, ..., ``signal``,
``raw[0]``, ..., ``warm``), and the SHA-256 of the Verilog it describes (``verilog_sha256``,
checked by :func:`read`). Each file is replaced atomically, the description last.
"""

from __future__ import annotations

import json
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import data

from hw.gateware.core import SignalCore
from hw.gateware.layouts import KLINE, signal_layout
from sw.spec import artifact, schema
from sw.spec.files import atomic_write, sha256

TOP = "signal_core"


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
        "schema_version": schema.EXPORT,
        "top": TOP,
        "verilog": f"{TOP}.v",
        "config": core.config if isinstance(core.config, str) else list(core.config),
        "mac_lanes": [layer.lanes for layer in core.mlp.layers],
        **core.timing(),
        "classes": list(classes),
        "model": {"path": str(model_path),
                  "sha256": sha256(model_path)},
        "ports": {
            "clk": port("in", 1), "rst": port("in", 1),
            "i__valid": port("in", 1), "i__ready": port("out", 1),
            "i__payload": port("in", KLINE),
            "o__valid": port("out", 1), "o__ready": port("in", 1),
            "o__payload": port("out", signal_layout(len(classes))),
        },
    }


def export(model_dir, config: str = "parallel", out="build/verilog",
           progress=lambda line: None) -> tuple[Path, Path]:
    """Write the Verilog and its JSON description; return their paths. ``progress`` hears
    of the conversion once model and configuration are checked.
    Raises :class:`sw.spec.artifact.ArtifactError` or ValueError (bad config)."""
    model_path = Path(model_dir)
    if model_path.is_dir():
        model_path = model_path / "model.json"
    model = artifact.load(model_path)
    core = SignalCore(model, config)   # checks config first: ValueError before any file
    description = describe(core, model_path.resolve(), model.classes)
    progress(f"converting the {config} core of {model_path} to Verilog")
    text = verilog.convert(core, name=TOP)
    out = Path(out)
    verilog_path, json_path = out / f"{TOP}.v", out / f"{TOP}.json"
    # each file whole or not at all; the description, written last, names the Verilog it
    # describes, so a pair torn by a kill between the two is seen by read()
    with atomic_write(verilog_path) as handle:
        handle.write(text)
    description["verilog_sha256"] = sha256(verilog_path)
    with atomic_write(json_path) as handle:
        handle.write(json.dumps(description, indent=1) + "\n")
    return verilog_path, json_path


def read(json_path) -> dict:
    """An export's description, checked against the Verilog beside it
    (:class:`ExportMismatch` when the two are not from one export)."""
    json_path = Path(json_path)
    description = json.loads(json_path.read_text())
    schema.check_version(description, schema.EXPORT, str(json_path))
    verilog_path = json_path.with_name(description["verilog"])
    if description.get("verilog_sha256") != sha256(verilog_path):
        raise ExportMismatch(f"{verilog_path} is not the Verilog {json_path} describes "
                             "(an interrupted export?): export again")
    return description


class ExportMismatch(RuntimeError):
    """A Verilog file and a description from different exports."""
