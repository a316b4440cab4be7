"""The `refgan` command. Each subcommand lives with the module that does its work; this file
only parses arguments and dispatches (imports are lazy so `refgan --help` is fast)."""
import argparse
import sys


def _oracle(args):
    from .convergence import print_convergence_table
    print_convergence_table(gammas=args.gammas, n_draws=args.draws, seed=args.seed)


def _vectors_write(args):
    from .conformance import write_vectors
    print(f"wrote {write_vectors(args.directory)}")


def _verify(args):
    from .verify import verify
    report = verify(args.vectors, args.results, rtol=args.rtol, kinds=args.kinds,
                    only_failures=args.only_failures)
    return 0 if report.passed else 1


def _figure1(args):
    import time
    from .figures import FIGURE1_FULL_STEPS, figure1
    if args.seeds < 1 or args.jobs < 1 or (args.steps is not None and args.steps < 1):
        raise ValueError("--seeds, --jobs and --steps must be positive integers")
    steps = FIGURE1_FULL_STEPS if args.full else args.steps
    start = time.perf_counter()
    figure1(args.out, steps=steps, seeds=args.seeds, regimes=args.regimes, jobs=args.jobs,
            resume=args.resume, progress=not args.quiet, critic_impl=args.critic,
            gamma=args.gamma, saturating=not args.non_saturating)
    print(f"wrote {args.out}/figure1.png, figure1_metrics.png, figure1.npz, figure1.json "
          f"in {time.perf_counter() - start:.0f} s")


def _figure_oracle(args):
    from .figures import figure_oracle
    for c in figure_oracle(args.out):
        print(f"{c['pair']:4s} {c['divergence']:11s} Omega = {c['omega']:.6f}   "
              f"log-log error slope = {c['slope']:.3f}")
    print(f"wrote {args.out}/figure_oracle.png, .json, .npz")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="refgan",
        description="Reference implementation of the Roth et al. (2017) GAN regulariser.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"refgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("oracle", help="print the analytic penalty next to Monte Carlo instance "
                                      "noise for every divergence, as gamma -> 0")
    p.add_argument("--gammas", type=float, nargs="+", default=[1e-1, 1e-2, 1e-3, 1e-4],
                   help="noise variances (default: 1e-1 1e-2 1e-3 1e-4)")
    p.add_argument("--draws", type=int, default=20000, help="Monte Carlo noise draws per sample")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(run=_oracle)

    p = sub.add_parser("vectors", help="write the conformance set (docs/VECTORS.md)")
    vsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    w = vsub.add_parser("write", help="write DIRECTORY/v1/conformance.json")
    w.add_argument("directory", help="output folder, e.g. vectors")
    w.set_defaults(run=_vectors_write)

    p = sub.add_parser("verify", help="check another implementation's RESULTS against the "
                                      "conformance VECTORS and name the fault its numbers fit")
    p.add_argument("vectors", help="conformance.json, or a folder holding v1/conformance.json")
    p.add_argument("results", help="RESULTS JSON file (schema in docs/VECTORS.md)")
    p.add_argument("--rtol", type=float, default=1e-9,
                   help="relative tolerance (default 1e-9, for float64 results; pass "
                        "--rtol 1e-4 for float32 results)")
    p.add_argument("--kinds", nargs="+", metavar="KIND",
                   help="check only the cases of these kinds, e.g. js r1 (default: all)")
    p.add_argument("--only-failures", action="store_true", help="print only failing rows")
    p.set_defaults(run=_verify)

    from .figures import FIGURE1_DEFAULT_JOBS, FIGURE1_DEFAULT_STEPS, FIGURE1_REGIMES
    from .training import REGIMES
    p = sub.add_parser("figure1", help="train the paper's toy GAN (7 Gaussians in R^3) per "
                                       "regime and draw its Figure 1 and the metrics")
    p.add_argument("--steps", type=int, default=FIGURE1_DEFAULT_STEPS,
                   help=f"training steps per run (default {FIGURE1_DEFAULT_STEPS}; the paper: "
                        "100000)")
    p.add_argument("--full", action="store_true", help="the paper's 100000 steps")
    p.add_argument("--seeds", type=int, default=1, help="seeds per regime (default 1)")
    p.add_argument("--regimes", nargs="+", choices=REGIMES, default=list(FIGURE1_REGIMES),
                   help="rows of the figure (default: none noise roth)")
    p.add_argument("--gamma", type=float, default=0.1,
                   help="noise variance / penalty weight (default 0.1, the paper's)")
    p.add_argument("--non-saturating", action="store_true",
                   help="non-saturating generator loss -E log D (default: saturating)")
    p.add_argument("--critic", choices=["auto", "reference", "explicit"], default="auto",
                   help="critic input-gradient implementation: 'reference' nested autograd, "
                        "'explicit' the written-out MLP backward pass (default auto = explicit; "
                        "both agree to 1e-10)")
    p.add_argument("--jobs", type=int, default=FIGURE1_DEFAULT_JOBS,
                   help=f"runs trained in parallel processes (default {FIGURE1_DEFAULT_JOBS})")
    p.add_argument("--resume", action="store_true",
                   help="continue runs from their last checkpoint under OUT/figure1-runs")
    p.add_argument("--out", default="figures", help="output folder (default figures)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_figure1)

    p = sub.add_parser("figure-oracle", help="true noised divergence of Gaussian pairs vs the "
                                             "analytic D_f - (gamma/2) Omega, log-log")
    p.add_argument("--out", default="figures", help="output folder (default figures)")
    p.set_defaults(run=_figure_oracle)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.run(args)
    except (ValueError, TypeError, OSError, FloatingPointError) as exc:  # OSError: paths
        print(f"refgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
