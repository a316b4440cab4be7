"""Print the oracle convergence table: for every divergence row, the analytic penalty and the
Laplacian prediction next to the Monte Carlo effect of instance noise at each gamma, with the
noise draws and time used; then the optimal critic of a Gaussian pair, where the noised
divergence's slope tends to -Omega_f. (The same table as `refgan oracle`.)

    python benchmarks/oracle_convergence.py [--gammas 1e-1 1e-2 1e-3 1e-4] [--draws 20000]
                                            [--seed 0]
"""
import argparse
import sys
import time

from refgan.convergence import print_convergence_table


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gammas", type=float, nargs="+", default=[1e-1, 1e-2, 1e-3, 1e-4],
                   help="noise variances (default: 1e-1 1e-2 1e-3 1e-4)")
    p.add_argument("--draws", type=int, default=20000,
                   help="Monte Carlo noise draws per sample and gamma (default 20000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the critic, samples and noise")
    args = p.parse_args(argv)
    if args.draws < 20:
        p.error("--draws must be at least 20 (10 batches of antithetic pairs)")
    if any(not g > 0 for g in args.gammas):
        p.error("--gammas must all be > 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    print_convergence_table(gammas=args.gammas, n_draws=args.draws, seed=args.seed)
    print(f"\ntotal {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
