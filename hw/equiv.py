"""``python -m hw.equiv``: is the gateware of a git revision the same hardware as the working
tree's? (:mod:`hw.flow.equivalence`)

    python -m hw.equiv --before REV [--after REV] [--model build/model | --seed N]
        [--config parallel folded] [--part "" features mlp.layers.0 ...] [--out build/equiv]

For each configuration and part (``""`` the whole core), both designs flattened and proven
equivalent by Yosys (``equiv_make``, ``equiv_struct``, ``equiv_simple``, ``equiv_induct``,
``equiv_status -assert``), their ``stat`` cell counts compared. One result line per pair
on stdout; exit 1 when a pair is not proven equivalent or its counts differ. A bench, not
a test: the whole parallel core of the default model takes Yosys minutes.
"""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hw.flow.equivalence import EquivalenceError, check, elaborate, source_tree
from hw.flow.toolchain import ToolchainError
from sw import cli
from sw.spec import artifact

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = cli.parser("python -m hw.equiv", __doc__)
    parser.add_argument("--before", required=True, metavar="REV",
                        help="git revision whose gateware is the reference")
    parser.add_argument("--after", metavar="REV",
                        help="git revision compared with it (default: the working tree)")
    models = parser.add_mutually_exclusive_group()
    models.add_argument("--model", type=Path, help="model artifact (directory or model.json)")
    models.add_argument("--seed", type=int, default=0,
                        help="seed of a random model of the default shape (default 0)")
    parser.add_argument("--config", nargs="+", default=["parallel", "folded"],
                        choices=("parallel", "folded"))
    parser.add_argument("--part", nargs="+", default=[""], metavar="PATH",
                        help='parts of the core by attribute path: "" (the whole core, '
                        'default), features, mlp, mlp.layers.0, ...')
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds Yosys may take per part (default 1800)")
    parser.add_argument("--out", type=Path, default=Path("build/equiv"))
    args = parser.parse_args(argv)

    def run_main(_argv):
        out = cli.output(args.out, "--out", directory=True)
        if args.model:
            if not args.model.exists():
                raise cli.UsageError(f"--model: no model artifact at {args.model}")
            artifact.load(args.model)   # a bad file fails here, before any work
            model = args.model
        else:
            model = artifact.save(artifact.random_model(np.random.default_rng(args.seed)),
                                  out / "model.json")
        before = revision(args.before, "--before", out)
        after = revision(args.after, "--after", out) if args.after else ROOT
        failed = 0
        for config in args.config:
            for part in args.part:
                failed += not compare(before, after, model, config, part, out, args.timeout)
        if failed:
            raise cli.Failure(f"{failed} part(s) not shown the same (logs under {out})")
    return cli.run(run_main, argv, failures=(artifact.ArtifactError, ToolchainError,
                                             subprocess.CalledProcessError, subprocess.TimeoutExpired,
                                             EquivalenceError))


def revision(name: str, option: str, out: Path) -> Path:
    """The sources of the git revision ``name`` under ``out``; a usage error naming
    ``option`` when there is none."""
    try:
        return source_tree(name, out / option.strip("-"), ROOT)
    except EquivalenceError as error:
        raise cli.UsageError(f"{option} {error}") from None


def compare(before: Path, after: Path, model: Path, config: str, part: str, out: Path,
            timeout: float) -> bool:
    """Elaborate, prove and print one result line; whether the pair is the same."""
    label = f"{config}:{part or 'core'}"
    workdir = out / label.replace(":", "_")
    workdir.mkdir(parents=True, exist_ok=True)
    cli.say(f"{label}: elaborating before and after")
    start = time.monotonic()
    for side, tree in (("before", before), ("after", after)):
        elaborate(tree, model, config, part, workdir / f"{side}.il")
    elaborated = time.monotonic() - start
    cli.say(f"{label}: Yosys equivalence (log {workdir / 'equiv.log'})")
    result = check(workdir, timeout)
    cells = sum(result.stat_after.values())
    print(f"{label}: {'equivalent' if result.equivalent else 'NOT proven equivalent'} "
          f"({result.proven} $equiv proven, {result.unproven} unproven), stat "
          f"{'same' if result.same_stat else 'DIFFERENT'} ({cells} cells), "
          f"elaborate {elaborated:.0f} s, yosys {result.seconds:.0f} s")
    if not result.same_stat:
        for kind in sorted(set(result.stat_before) | set(result.stat_after)):
            counts = result.stat_before.get(kind, 0), result.stat_after.get(kind, 0)
            if counts[0] != counts[1]:
                cli.say(f"    {kind}: {counts[0]} before, {counts[1]} after")
    return result.equivalent and result.same_stat


if __name__ == "__main__":
    sys.exit(main())
