"""Check the PyTorch penalties of torch_penalties.py against refgan, both ways.

    python examples/verify_torch.py results vectors/v1/conformance.json RESULTS.json
        run the Omega_JS and R1 cases of the conformance vectors through PyTorch and write
        their outputs; then `refgan verify vectors/v1/conformance.json RESULTS.json`
    python examples/verify_torch.py live [--kind js] [--dtype float32] [--rtol 1e-4]
        the live differential check: refgan.oracle.check_penalty on hypothesis-drawn critics
    --mistake NAME (either command) runs a broken variant from torch_mistakes.py instead

The only refgan-specific code is the bridge below: refgan's layout (W of shape (fan_in,
fan_out), x @ W + b) into an nn.Sequential (nn.Linear.weight is W.T), and the outputs back
to float64 numpy (dW = weight.grad.T).
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_mistakes  # noqa: E402  (broken variants, to see a failure)
import torch_penalties  # noqa: E402  (the implementation under test)

ACTIVATIONS = {"tanh": nn.Tanh, "softplus": nn.Softplus, "relu": nn.ReLU,
               "linear": nn.Identity}
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def critic_from_params(params, activation, dtype=torch.float64):
    """An nn.Sequential critic holding refgan's weights: Linear.weight = W.T, bias = b.
    Returns (critic, [weight1, bias1, weight2, ...]) in refgan's order."""
    sizes = [params[0][0].shape[0]] + [W.shape[1] for W, _ in params]
    critic = torch_penalties.make_critic(sizes, ACTIVATIONS[activation], dtype)
    linears = [m for m in critic if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for linear, (W, b) in zip(linears, params):
            linear.weight.copy_(torch.as_tensor(np.asarray(W).T))
            linear.bias.copy_(torch.as_tensor(np.asarray(b)))
    return critic, [p for linear in linears for p in (linear.weight, linear.bias)]


def _numpy(t):
    return t.detach().to(torch.float64).numpy().copy()


def _as_params_grads(grads, weights):
    """torch grads of (weight, bias, ...) -> [(dW, db), ...] in refgan's layout; a weight the
    value does not depend on (e.g. R1 and the last bias) has gradient zero."""
    out = [np.zeros(tuple(w.shape)) if g is None else _numpy(g) for g, w in zip(grads, weights)]
    return [(out[i].T, out[i + 1]) for i in range(0, len(out), 2)]


def torch_implementation(kind="js", dtype=torch.float64, critic_loss=None):
    """The numpy callable of refgan.oracle's protocol for `kind` ('js' or 'r1'), running
    `critic_loss` (default torch_penalties.critic_loss) in `dtype`."""
    critic_loss = torch_penalties.critic_loss if critic_loss is None else critic_loss
    if kind not in torch_penalties.PENALTIES:
        raise ValueError(f"kind: the PyTorch example implements "
                         f"{', '.join(torch_penalties.PENALTIES)}, not {kind!r}")

    def fn(params, activation, x_real, x_fake, gamma):
        critic, weights = critic_from_params(params, activation, dtype)
        x_real = torch.as_tensor(x_real, dtype=dtype)
        x_fake = torch.as_tensor(x_fake, dtype=dtype)
        loss, penalty, (v_real, g_real, v_fake, g_fake) = critic_loss(
            critic, x_real, x_fake, gamma, kind)
        penalty_grad = torch.autograd.grad(penalty, weights, retain_graph=True,
                                           allow_unused=True)
        loss_grad = torch.autograd.grad(loss, weights, allow_unused=True)
        return {"logits_real": _numpy(v_real), "logits_fake": _numpy(v_fake),
                "input_grad_real": _numpy(g_real), "input_grad_fake": _numpy(g_fake),
                "grad_sq_real": _numpy(torch_penalties.squared_norms(g_real)),
                "grad_sq_fake": _numpy(torch_penalties.squared_norms(g_fake)),
                "penalty": _numpy(penalty), "loss": _numpy(loss),
                "penalty_grad": _as_params_grads(penalty_grad, weights),
                "loss_grad": _as_params_grads(loss_grad, weights)}
    return fn


def _plain(value):
    """float64 arrays -> nested lists (NaN as null); [(dW, db), ...] -> [{"W":, "b":}, ...]."""
    if isinstance(value, list):
        return [{"W": _plain(dW), "b": _plain(db)} for dW, db in value]
    a = np.asarray(value, dtype=np.float64)
    return np.where(np.isnan(a), None, a).tolist()


def run_vectors(vectors_path, kinds=("js", "r1"), dtype=torch.float64, critic_loss=None):
    """{case name: outputs} for the cases of `kinds` in the conformance file, read with json
    and numpy alone (the layout of docs/VECTORS.md)."""
    with open(vectors_path) as handle:
        cases = json.load(handle)["cases"]
    outputs = {}
    for case in cases:
        if case["kind"] not in kinds:
            continue
        raw = case["inputs"]
        params = [(np.array(layer["W"]), np.array(layer["b"])) for layer in raw["params"]]
        fn = torch_implementation(case["kind"], dtype, critic_loss)
        outputs[case["name"]] = fn(params, raw["activation"], np.array(raw["x_real"]),
                                   np.array(raw["x_fake"]), raw["gamma"])
    return outputs


def write_results(path, outputs):
    """The RESULTS file of `refgan verify`, written to a temporary file and moved into place."""
    record = {"format": "refgan-results", "version": 1,
              "results": {name: {k: _plain(v) for k, v in out.items()}
                          for name, out in outputs.items()}}
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle, allow_nan=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def live(kind, dtype, rtol, atol, max_examples, critic_loss=None):
    from refgan.oracle import check_penalty
    return check_penalty(torch_implementation(kind, dtype, critic_loss), kind=kind, rtol=rtol,
                         atol=atol, max_examples=max_examples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("results", help="write RESULTS for `refgan verify VECTORS RESULTS`")
    p.add_argument("vectors", help="the conformance file, e.g. vectors/v1/conformance.json")
    p.add_argument("results", help="the RESULTS file to write")
    p.add_argument("--kinds", nargs="+", choices=sorted(torch_penalties.PENALTIES),
                   default=None, help="default: js r1 (a mistake: its own kind)")
    p = sub.add_parser("live", help="refgan.oracle.check_penalty on the PyTorch code")
    p.add_argument("--kind", choices=sorted(torch_penalties.PENALTIES), default=None,
                   help="default: js (a mistake: its own kind)")
    p.add_argument("--rtol", type=float, default=1e-9)
    p.add_argument("--atol", type=float, default=None)
    p.add_argument("--examples", type=int, default=50)
    for p in sub.choices.values():
        p.add_argument("--dtype", choices=sorted(DTYPES), default="float64")
        p.add_argument("--mistake", choices=sorted(torch_mistakes.MISTAKES), default=None,
                       help="run this broken variant (examples/torch_mistakes.py)")
    args = parser.parse_args(argv)
    critic_loss, kinds = None, ("js", "r1")
    if args.mistake:  # a mistake is written for one kind
        mistake_kind, critic_loss, _ = torch_mistakes.MISTAKES[args.mistake]
        kinds = (mistake_kind,)
    if args.command == "live":
        kinds = (args.kind,) if args.kind else kinds[:1]
    elif args.kinds:
        kinds = tuple(args.kinds)
    if args.mistake and kinds != (mistake_kind,):
        parser.error(f"--mistake {args.mistake} is written for kind {mistake_kind} only")
    if args.command == "results":
        outputs = run_vectors(args.vectors, kinds, DTYPES[args.dtype], critic_loss)
        write_results(args.results, outputs)
        print(f"wrote {args.results}: {len(outputs)} cases (kinds {', '.join(kinds)}); now run"
              f"\n  refgan verify {args.vectors} {args.results} --kinds {' '.join(kinds)}")
        return 0
    from refgan.oracle import PenaltyMismatch
    try:
        print(live(kinds[0], DTYPES[args.dtype], args.rtol, args.atol, args.examples,
                   critic_loss))
    except PenaltyMismatch as mismatch:
        print(mismatch, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
