"""The `refgan` command. Each subcommand lives with the module that does its work; this file
only parses arguments and dispatches (imports are lazy so `refgan --help` is fast)."""
import argparse
import sys


def _oracle(args):
    from .convergence import print_convergence_table
    print_convergence_table(gammas=args.gammas, n_draws=args.draws, seed=args.seed)


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
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError) as exc:
        print(f"refgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
