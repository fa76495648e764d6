"""``python -m hw.prove``: the stream and link rules, proven by k-induction with SymbiYosys
(:mod:`hw.flow.prove`).

    python -m hw.prove [--model build/model] [--only TEXT] [--jobs N] [--timeout S]

Writes ``build/reports/formal.json`` and ``formal.md``; exit 1 when a property fails or a
cover is not reached.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hw.flow.prove import core_summary, passed, proofs, report, run, write
from hw.flow.toolchain import ToolchainError
from hw.gateware.core import SignalCore
from sw import cli
from sw.spec.artifact import random_model


def main(argv=None) -> int:
    parser = cli.parser("python -m hw.prove", __doc__)
    parser.add_argument("--model", type=Path,
                        help="model artifact (directory or model.json) whose core is proven "
                        "(default: a random model of the default shape)")
    parser.add_argument("--config", default="parallel", choices=("parallel",),
                        help="core configuration")
    parser.add_argument("--only", metavar="TEXT",
                        help="run only the properties whose name contains TEXT")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="proofs run side by side (default: one per core)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds allowed to each SymbiYosys task")
    parser.add_argument("--out", type=Path, default=Path("build"))
    args = parser.parse_args(argv)

    def run_main(_argv):
        if args.jobs < 1:
            raise cli.UsageError(f"--jobs must be at least 1, got {args.jobs}")
        model = load_model(args.model) if args.model else None
        core = proof_core(model, args.config)
        selected = [proof for proof in proofs(core)
                    if args.only is None or args.only in proof.name]
        if not selected:
            raise cli.UsageError(f"--only {args.only!r} matches no property")
        start = time.monotonic()
        results = run(selected, args.out / "formal", args.jobs, args.timeout,
                      progress=cli.say)
        data = report(results, time.monotonic() - start, core_summary(core, model))
        write(data, args.out / "reports")
        print(f"{sum(map(passed, results))}/{len(results)} properties proven with every "
              f"cover reached in {data['seconds']} s: {args.out / 'reports' / 'formal.md'}")
        if not data["all_passed"]:
            raise cli.Failure("a property failed or a cover was not reached "
                              f"(see {args.out / 'reports' / 'formal.md'})")
    from sw.spec.artifact import ArtifactError
    return cli.run(run_main, argv, failures=(ArtifactError, ToolchainError,
                                             subprocess.TimeoutExpired))


def load_model(path: Path):
    from sw.spec import artifact
    file = path if path.suffix == ".json" else path / "model.json"
    if not file.exists():
        raise cli.UsageError(f"--model: no model artifact at {file}")
    return artifact.load(file)


def proof_core(model=None, config: str = "parallel") -> SignalCore:
    """The core whose rules are proven: ``model``'s, or a random model's of the default
    shape."""
    return SignalCore(model or random_model(np.random.default_rng(0)), config=config)


if __name__ == "__main__":
    sys.exit(main())
