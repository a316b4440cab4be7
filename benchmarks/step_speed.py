"""Time one critic step and one generator step of the paper's toy GAN, in float64.

Paper size: critic 3-128-128-1, generator 2-128-128-3 (tanh), batch 512. A step is the loss
and its gradient with respect to the network's parameters (no optimiser update):

    critic  none   GAN discriminator loss, gamma = 0
            noise  the same on samples with instance noise N(0, gamma I) added (drawn each step)
            roth   + (gamma/2) Omega_JS            (the analytic form of instance noise)
            roth 2 passes   the same, with the critic evaluated for the loss and again in the
                   penalty (how it was first written; the library now evaluates it once)
            r1     + (gamma/2) R1 = mean_P |grad v|^2
    generator      saturating loss mean_Q log(1 - D) through the critic

each on two paths: 'reference' (refgan.mlp and refgan.mlp_outputs; input gradients by nested
autograd) and 'explicit' (refgan.explicit_mlp, the input gradient written out in the forward
pass, and the generator refgan.fused.mlp_outputs; tanh's backward pass from its output). Prints
ms per step (wall median, wall minimum and CPU median over interleaved repeats), the projected
time of 100k steps per Figure-1 regime (none, noise, roth) from those steps and from a whole
refgan.training.train_step (data, the generator's forward pass for the critic's batch, Adam),
and, when PyTorch is importable, the same steps in PyTorch (float64 and float32, double
backprop with create_graph=True), checked to compute the same numbers, with ratios.

    python benchmarks/step_speed.py [--repeats 20] [--blas-threads 1] [--stat cpu] [--no-torch]

BLAS threads are set before numpy loads (--blas-threads N sets OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and MKL_NUM_THREADS); OPENBLAS_CORETYPE, when set, is printed and left alone.
On a shared, loaded machine, CPU time with one BLAS thread (--stat cpu) is the steadier number.
"""
import argparse
import os
import sys
import time
from statistics import median

PAPER_STEPS = 100_000
KINDS = ("none", "noise", "roth", "roth 2 passes", "r1", "generator")
TARGET_MINUTES = 30.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=20, help="timed repeats per step (default 20)")
    p.add_argument("--batch", type=int, default=512, help="batch size (default 512, the paper's)")
    p.add_argument("--gamma", type=float, default=0.1, help="noise variance (default 0.1)")
    p.add_argument("--blas-threads", type=int, default=None,
                   help="set OPENBLAS/OMP/MKL_NUM_THREADS before numpy loads (default: leave)")
    p.add_argument("--stat", choices=("min", "median", "cpu"), default="min",
                   help="statistic for speed-ups and projections: wall min (default), wall "
                        "median, or CPU median (steadier under load with one BLAS thread)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.batch < 1:
        p.error("--repeats and --batch must be positive integers")
    if not args.gamma > 0:
        p.error("--gamma must be > 0 (it is the penalty weight and the noise variance)")
    if args.blas_threads is not None and args.blas_threads < 1:
        p.error("--blas-threads must be a positive integer")
    return args


def time_interleaved(steps, repeats):
    """{name: (median wall ms, min wall ms, median CPU ms)}: one warm-up call each, then
    `repeats` rounds that call every step once in turn, so that a burst of load on the machine
    hits all of them. CPU time (this process, all its threads) is the steadier number on a
    shared machine when BLAS runs one thread; with more threads it also counts their spinning."""
    for f in steps.values():
        f()
    wall = {name: [] for name in steps}
    cpu = {name: [] for name in steps}
    for _ in range(repeats):
        for name, f in steps.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {name: (1e3 * median(wall[name]), 1e3 * min(wall[name]), 1e3 * median(cpu[name]))
            for name in steps}


def numpy_steps(batch, gamma, seed=0):
    """The autograd steps on both paths, and the paper-size params and batches they use."""
    import numpy as onp
    from autograd import value_and_grad
    import refgan
    from refgan import fused
    from refgan.objectives import gan_discriminator_loss, gan_generator_loss

    rng = onp.random.default_rng(seed)
    critic_params = refgan.init_mlp((3, 128, 128, 1), rng)
    gen_params = refgan.init_mlp((2, 128, 128, 3), rng)
    z = rng.standard_normal((batch, 2))
    x_real = rng.standard_normal((batch, 3))
    x_fake = refgan.mlp_outputs(gen_params, z)
    noise_rng = onp.random.default_rng(seed + 1)

    def r1_loss(critic, params):
        loss = gan_discriminator_loss(critic(params, x_real), critic(params, x_fake))
        return loss + 0.5 * gamma * refgan.r1_penalty(critic, params, x_real)

    def two_pass_roth_loss(critic, params):
        """The roth loss as it was first written: the critic evaluated for the loss and
        again inside the penalty (refgan's loss now takes the logits from the penalty's pass)."""
        loss = gan_discriminator_loss(critic(params, x_real), critic(params, x_fake))
        return loss + 0.5 * gamma * refgan.omega_js(critic, params, x_real, x_fake)

    def generator_loss(critic, g_params, outputs):
        return gan_generator_loss(critic(critic_params, outputs(g_params, z)))

    def noised_step(critic):
        s = onp.sqrt(gamma)
        xr = x_real + s * noise_rng.standard_normal(x_real.shape)
        xf = x_fake + s * noise_rng.standard_normal(x_fake.shape)
        return refgan.gan_critic_loss_and_grad(critic, critic_params, xr, xf, 0.0)

    paths = {"reference": (refgan.mlp, refgan.mlp_outputs),
             "explicit": (refgan.explicit_mlp("tanh"), fused.mlp_outputs)}
    steps = {}
    for path, (c, outputs) in paths.items():
        r1 = value_and_grad(lambda p, c=c: r1_loss(c, p))
        gen = value_and_grad(lambda g, c=c, outputs=outputs: generator_loss(c, g, outputs))
        steps[("none", path)] = lambda c=c: refgan.gan_critic_loss_and_grad(
            c, critic_params, x_real, x_fake, 0.0)
        steps[("noise", path)] = lambda c=c: noised_step(c)
        steps[("roth", path)] = lambda c=c: refgan.gan_critic_loss_and_grad(
            c, critic_params, x_real, x_fake, gamma)
        steps[("r1", path)] = lambda r1=r1: r1(critic_params)
        steps[("roth 2 passes", path)] = lambda two=value_and_grad(
            lambda p, c=c: two_pass_roth_loss(c, p)): two(critic_params)
        steps[("generator", path)] = lambda gen=gen: gen(gen_params)
    data = dict(critic_params=critic_params, gen_params=gen_params, z=z, x_real=x_real,
                x_fake=x_fake)
    return steps, data


def agreement(steps):
    """Largest relative difference, explicit vs reference, over every step's loss and
    gradient (the noise step draws fresh noise, so it is left out)."""
    import numpy as onp
    from autograd.misc import flatten
    worst = 0.0
    for kind in ("none", "roth", "r1", "generator"):
        a, b = flatten(steps[(kind, "reference")]())[0], flatten(steps[(kind, "explicit")]())[0]
        worst = max(worst, float(onp.max(onp.abs(a - b)) / onp.max(onp.abs(a))))
    return worst


def training_steps(gamma, batch):
    """refgan.training.train_step per Figure-1 regime on both paths (data sampling, noise,
    both losses and gradients, Adam), or None when refgan.training is not there."""
    try:
        from refgan import data as toy_data, training
    except ImportError:
        return None
    steps = {}
    for regime in ("none", "noise", "roth"):
        for path in ("reference", "explicit"):
            config = training.Config(regime=regime, gamma=gamma, batch=batch,
                                     critic_impl=path).validate()
            data = toy_data.get_dataset(config.dataset)
            critic, impl = training.make_critic(config)
            assert impl == path, (impl, path)
            state = training.init_state(config, data)
            steps[("train_step " + regime, path)] = (
                lambda config=config, critic=critic, data=data, state=state:
                training.train_step(config, critic, data, state))
    return steps


def torch_steps(data, gamma, dtype):
    """The same steps in PyTorch: input gradients by torch.autograd.grad(create_graph=True)."""
    import torch

    def tensor(a):
        return torch.tensor(a, dtype=dtype)

    def leaves(params):
        return [(tensor(W).requires_grad_(), tensor(b).requires_grad_()) for W, b in params]

    cp, gp = leaves(data["critic_params"]), leaves(data["gen_params"])
    c_leaves = [t for layer in cp for t in layer]
    g_leaves = [t for layer in gp for t in layer]
    z, x_real, x_fake = tensor(data["z"]), tensor(data["x_real"]), tensor(data["x_fake"])
    sp = torch.nn.functional.softplus

    def net(params, x):
        for W, b in params[:-1]:
            x = torch.tanh(x @ W + b)
        W, b = params[-1]
        return x @ W + b

    def critic(x):
        return net(cp, x)[:, 0]

    def logits_and_grad(x):
        x = x.detach().requires_grad_()
        v = critic(x)
        g, = torch.autograd.grad(v.sum(), x, create_graph=True)
        return v, (g ** 2).sum(dim=1)

    def disc_loss(v_r, v_f):
        return sp(-v_r).mean() + sp(v_f).mean()

    def step(loss_fn, leaves):
        def run():
            loss = loss_fn()
            return loss, torch.autograd.grad(loss, leaves)
        return run

    def none():
        return disc_loss(critic(x_real), critic(x_fake))

    def noise():
        s = gamma ** 0.5
        xr = x_real + s * torch.randn(x_real.shape, dtype=dtype)
        xf = x_fake + s * torch.randn(x_fake.shape, dtype=dtype)
        return disc_loss(critic(xr), critic(xf))

    def roth():
        v_r, n_r = logits_and_grad(x_real)
        v_f, n_f = logits_and_grad(x_fake)
        omega = (torch.sigmoid(-v_r) ** 2 * n_r).mean() + (torch.sigmoid(v_f) ** 2 * n_f).mean()
        return disc_loss(v_r, v_f) + 0.5 * gamma * omega

    def r1():
        v_r, n_r = logits_and_grad(x_real)
        return disc_loss(v_r, critic(x_fake)) + 0.5 * gamma * n_r.mean()

    def generator():
        return -sp(critic(net(gp, z))).mean()

    return {"none": step(none, c_leaves), "noise": step(noise, c_leaves),
            "roth": step(roth, c_leaves), "r1": step(r1, c_leaves),
            "generator": step(generator, g_leaves)}


def torch_agreement(refgan_step, torch_step):
    """Largest relative difference of (loss, gradient) between a refgan step and a torch one."""
    import numpy as onp
    from autograd.misc import flatten
    a = flatten(refgan_step())[0]
    loss, grads = torch_step()
    b = onp.concatenate([onp.ravel(t.detach().numpy()) for t in (loss, *grads)])
    return float(onp.max(onp.abs(a - b)) / onp.max(onp.abs(a)))


def print_table(title, rows, columns):
    print(f"\n{title}")
    width = max(len(r) for r in rows) + 2
    print(" " * width + "".join(f"{c:>22}" for c in columns))
    for r, cells in rows.items():
        print(f"{r:<{width}}" + "".join(f"{c:>22}" for c in cells))


def minutes(ms):
    """Minutes for PAPER_STEPS steps of `ms` milliseconds each."""
    return ms * PAPER_STEPS / 6e4


def cell(times):
    return "%7.2f %7.2f %7.2f" % times


def report_autograd(t, pick, stat):
    print_table(f"ms per step, autograd: wall median, wall min, CPU median; speed-up of {stat}",
                {k: [cell(t[(k, "reference")]), cell(t[(k, "explicit")]),
                     "%.2fx" % (t[(k, "reference")][pick] / t[(k, "explicit")][pick])]
                 for k in KINDS},
                ["reference", "explicit", "speed-up"])


def report_projection(t, pick, stat, with_loop):
    """Minutes of PAPER_STEPS steps per Figure-1 regime: from the critic step plus the
    generator step and, with_loop, from refgan.training.train_step (which adds the data,
    the generator's forward pass for the critic's batch, Adam and the finiteness checks)."""
    sources = [lambda regime, path: t[(regime, path)][pick] + t[("generator", path)][pick]]
    if with_loop:
        sources.append(lambda regime, path: t[("train_step " + regime, path)][pick])
    rows = {r: [[minutes(src(r, p)) for src in sources] for p in ("reference", "explicit")]
            for r in ("none", "noise", "roth")}
    rows["total"] = [[sum(rows[r][i][j] for r in ("none", "noise", "roth"))
                      for j in range(len(sources))] for i in range(2)]
    what = "critic + generator step" + (", train_step" if with_loop else "")
    print_table(f"minutes for {PAPER_STEPS} steps, one seed, from {stat} ms: {what}; "
                f"target {TARGET_MINUTES:.0f} min in total",
                {r: ["  ".join("%9.1f" % m for m in cells) for cells in v]
                 for r, v in rows.items()}, ["reference", "explicit"])


def report_torch(t, pick, stat, steps, data, args):
    """The same steps in PyTorch, after checking that they compute the same numbers."""
    try:
        import torch
    except ImportError as err:
        print(f"\nPyTorch comparison skipped: torch is not importable ({err})")
        return
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads")
    torch.manual_seed(0)
    tt = {}
    for dtype, name in ((torch.float64, "float64"), (torch.float32, "float32")):
        for k, f in torch_steps(data, args.gamma, dtype).items():
            tt[(k, name)] = f
    diffs = ", ".join(f"{k} {torch_agreement(steps[(k, 'reference')], tt[(k, 'float64')]):.1e}"
                      for k in ("none", "roth", "r1", "generator"))
    print(f"torch float64 vs refgan, largest relative difference of loss and gradient: {diffs}")
    tt = time_interleaved(tt, args.repeats)
    print_table(f"ms per step, PyTorch: wall median, wall min, CPU median; ratio = refgan "
                f"explicit / torch ({stat})",
                {k: [cell(tt[(k, "float64")]), cell(tt[(k, "float32")]),
                     "%.2fx" % (t[(k, "explicit")][pick] / tt[(k, "float64")][pick]),
                     "%.2fx" % (t[(k, "explicit")][pick] / tt[(k, "float32")][pick])]
                 for k in KINDS if (k, "float64") in tt},
                ["torch float64", "torch float32", "ratio vs float64", "ratio vs float32"])


def main(argv=None):
    args = parse_args(argv)
    if args.blas_threads is not None:  # must happen before numpy is first imported
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)
    import numpy as onp

    print(f"python {sys.version.split()[0]}, numpy {onp.__version__}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE"):
        print(f"  {var}={os.environ.get(var, '(unset)')}")
    print(f"batch {args.batch}, gamma {args.gamma}, critic 3-128-128-1, generator 2-128-128-3, "
          f"tanh, float64; {args.repeats} interleaved repeats")

    steps, data = numpy_steps(args.batch, args.gamma)
    print(f"explicit vs reference, largest relative difference of loss and gradient: "
          f"{agreement(steps):.1e}")
    loop = training_steps(args.gamma, args.batch)
    if loop is None:
        print("refgan.training is not importable: no whole training steps timed")
    t = time_interleaved({**steps, **(loop or {})}, args.repeats)  # all under the same load
    pick = {"median": 0, "min": 1, "cpu": 2}[args.stat]
    report_autograd(t, pick, args.stat)
    report_projection(t, pick, args.stat, loop is not None)
    if args.no_torch:
        print("\nPyTorch comparison skipped (--no-torch)")
    else:
        report_torch(t, pick, args.stat, steps, data, args)


if __name__ == "__main__":
    main()
