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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="refgan",
        description="Reference implementation of the Roth et al. (2017) GAN regulariser.")
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
                   help="relative tolerance (default 1e-9 for float64; about 1e-4 for float32)")
    p.add_argument("--kinds", nargs="+", metavar="KIND",
                   help="check only the cases of these kinds, e.g. js r1 (default: all)")
    p.add_argument("--only-failures", action="store_true", help="print only failing rows")
    p.set_defaults(run=_verify)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.run(args)
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError) as exc:
        print(f"refgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
