"""The PyTorch example (examples/torch_penalties.py) is verified both ways in float64, and
two deliberately broken PyTorch variants are rejected and named both ways.

The expected numbers are the committed conformance vectors (checked against hand-written
backpropagation and finite differences in tests/test_conformance.py) and refgan's
compute_case; the PyTorch code shares no code with either.
"""
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed: the PyTorch example "
                            "is checked where PyTorch (a CPU-only build is enough) is installed")

from refgan import oracle  # noqa: E402
from refgan.cli import main as refgan_main  # noqa: E402
from refgan.verify import verify  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = os.path.join(ROOT, "vectors", "v1", "conformance.json")
sys.path.insert(0, os.path.join(ROOT, "examples"))
import torch_mistakes  # noqa: E402
import torch_penalties  # noqa: E402
import verify_torch  # noqa: E402

pytestmark = pytest.mark.torch
REQUIRED = ("penalty", "loss", "penalty_grad", "loss_grad")


# -- correct and wrong variants (two common mistakes are in examples/torch_mistakes.py) ----

def critic_loss_one_pass(critic, x_real, x_fake, gamma, penalty="js"):
    """Correct, written differently: both batches' input gradients in one pass through
    torch.cat (samples do not interact). It rounds differently from refgan, e.g. where a
    loss gradient is 0 by cancellation."""
    x = torch.cat([x_real, x_fake]).detach().requires_grad_(True)
    v = critic(x).squeeze(1)
    (g,) = torch.autograd.grad(v.sum(), x, create_graph=True)
    n = x_real.shape[0]
    v_real, g_real, v_fake, g_fake = v[:n], g[:n], v[n:], g[n:]
    reg = torch_penalties.PENALTIES[penalty](v_real, g_real, v_fake, g_fake)
    loss = torch_penalties.discriminator_loss(v_real, v_fake) + 0.5 * gamma * reg
    return loss, reg, (v_real, g_real, v_fake, g_fake)


def critic_loss_gamma_squared(critic, x_real, x_fake, gamma, penalty="js"):
    """Wrong: gamma^2 / 2 where gamma / 2 belongs (not a fault refgan knows by name)."""
    loss, reg, outputs = torch_penalties.critic_loss(critic, x_real, x_fake, gamma, penalty)
    return loss + 0.5 * (gamma ** 2 - gamma) * reg, reg, outputs


def critic_loss_r1_pooled(critic, x_real, x_fake, gamma, penalty="r1"):
    """Wrong: R1 as the mean |grad v|^2 over the real and fake samples pooled."""
    v_real, g_real = torch_penalties.logits_and_input_gradients(critic, x_real)
    v_fake, g_fake = torch_penalties.logits_and_input_gradients(critic, x_fake)
    reg = torch_penalties.squared_norms(torch.cat([g_real, g_fake])).mean()
    loss = torch_penalties.discriminator_loss(v_real, v_fake) + 0.5 * gamma * reg
    return loss, reg, (v_real, g_real, v_fake, g_fake)


def critic_loss_other_batch_weights(critic, x_real, x_fake, gamma, penalty="js"):
    """Wrong, and no known fault: Omega_JS weighted by the other batch's mean logit,
    sigmoid(-mean v_fake)^2 on P and sigmoid(mean v_real)^2 on Q. On a one-sample linear
    case it equals js_weights_swapped; on larger cases it does not."""
    v_real, g_real = torch_penalties.logits_and_input_gradients(critic, x_real)
    v_fake, g_fake = torch_penalties.logits_and_input_gradients(critic, x_fake)
    sq = torch_penalties.squared_norms
    reg = ((torch.sigmoid(-v_fake.mean()) ** 2 * sq(g_real)).mean()
           + (torch.sigmoid(v_real.mean()) ** 2 * sq(g_fake)).mean())
    loss = torch_penalties.discriminator_loss(v_real, v_fake) + 0.5 * gamma * reg
    return loss, reg, (v_real, g_real, v_fake, g_fake)


BROKEN = torch_mistakes.MISTAKES  # name: (kind, critic_loss, the fault refgan must name)


def only_required(fn):
    """What a user who reports the penalty, the loss and their gradients returns."""
    return lambda **inputs: {k: v for k, v in fn(**inputs).items() if k in REQUIRED}


# -- the correct example passes both ways --------------------------------------------------

def test_verify_passes_on_the_torch_results(tmp_path):
    outputs = verify_torch.run_vectors(VECTORS)
    assert sorted({name.split("/")[0] for name in outputs}) == ["js", "r1"]
    results = tmp_path / "torch_results.json"
    verify_torch.write_results(str(results), outputs)
    report = verify(VECTORS, str(results), kinds=["js", "r1"], out=io.StringIO())
    assert report.passed and len(report.rows) == 10 * len(outputs)
    # float64 code agrees far below the 1e-9 tolerance: rounding only
    assert max(row[2] for row in report.rows) < 1e-12
    # and the command a user runs says so with its exit status
    assert refgan_main(["verify", VECTORS, str(results), "--kinds", "js", "r1",
                        "--only-failures"]) == 0


@pytest.mark.parametrize("kind", ["js", "r1"])
def test_live_check_passes_the_torch_example(kind):
    result = oracle.check_penalty(verify_torch.torch_implementation(kind), kind=kind,
                                  max_examples=25)
    assert result.examples == 25 and set(result.max_errors) == set(oracle.OUTPUT_FIELDS)
    assert max(result.max_errors.values()) < 1e-12  # rounding only, as above


@pytest.mark.parametrize("kind", ["js", "r1"])
def test_live_check_passes_correct_code_that_rounds_differently(kind):
    # 50 cases, as the command-line default: among them exact-zero loss gradients (gamma = 0,
    # D = 1/2) that this code rounds to 1e-17 and refgan to 0
    fn = verify_torch.torch_implementation(kind, critic_loss=critic_loss_one_pass)
    result = oracle.check_penalty(fn, kind=kind, max_examples=50)
    assert result.examples == 50
    # measured against max |expected| alone (an upper bound), so only rounding-sized or
    # cancellation-sized errors; none reaches the tolerance once measured against the terms
    assert max(result.max_errors.values()) < 1.0


@pytest.mark.parametrize("kind, critic_loss", [("js", critic_loss_gamma_squared),
                                               ("r1", critic_loss_gamma_squared),
                                               ("r1", critic_loss_r1_pooled)])
def test_shrinking_keeps_a_real_difference(kind, critic_loss):
    # hypothesis shrinks towards the case with the smallest numbers; the minimal case must
    # still show the fault (an error far above rounding), not a rounding-only difference
    fn = verify_torch.torch_implementation(kind, critic_loss=critic_loss)
    with pytest.raises(oracle.PenaltyMismatch) as info:
        oracle.check_penalty(fn, kind=kind, max_examples=50)
    errors = [info.value.errors[k] for k in info.value.failed]
    assert errors and min(errors) > 1e-6, str(info.value)
    if critic_loss is critic_loss_gamma_squared:  # differs from gamma / 2 unless gamma is 0, 1
        assert info.value.inputs["gamma"] not in (0.0, 1.0)
        assert info.value.failed == ["loss", "loss_grad"]


def test_a_fault_that_fits_only_the_minimal_case_is_not_named():
    fn = verify_torch.torch_implementation("js", critic_loss=critic_loss_other_batch_weights)
    with pytest.raises(oracle.PenaltyMismatch) as info:
        oracle.check_penalty(fn, kind="js", max_examples=25)
    # the shrunk case is one sample per batch, where swapped weights give the same numbers;
    # the probe cases (several samples) tell them apart, so nothing is named
    assert info.value.diagnosis == [], str(info.value)
    assert [name for name, _ in info.value.minimal_only] == ["js_weights_swapped"]
    assert "no known fault" in str(info.value) and "coincidence" in str(info.value)


def test_float32_torch_needs_a_float32_tolerance():
    fn = verify_torch.torch_implementation("js", dtype=torch.float32)
    with pytest.raises(oracle.PenaltyMismatch):  # float32 cannot meet rtol = 1e-9 ...
        oracle.check_penalty(fn, kind="js", max_examples=10, shrink=False)
    # ... and meets the README's float32 setting, with errors of float32 size (eps 1.2e-7)
    result = oracle.check_penalty(fn, kind="js", rtol=1e-4, atol=1e-6, max_examples=10)
    assert 1e-9 < max(result.max_errors.values()) < 1e-5


def test_torch_softplus_threshold_is_visible_at_float64_tolerance():
    # nn.Softplus() returns its input above threshold=20, so its derivative there is 1
    # instead of sigmoid(a). A hidden pre-activation a = 10.25 * 2 = 20.5 makes every input
    # gradient too large by the factor 1 / sigmoid(20.5), i.e. relative error
    # e^-20.5 / (1 + e^-20.5) = 1.25e-9: over rtol 1e-9, and no known fault.
    inputs = {"activation": "softplus", "gamma": 1.0, "x_real": np.array([[2.0]]),
              "x_fake": np.array([[-1.0]]),
              "params": [(np.array([[10.25]]), np.zeros(1)), (np.ones((1, 1)), np.zeros(1))]}
    outputs = verify_torch.torch_implementation("r1")(**inputs)
    with pytest.raises(oracle.PenaltyMismatch) as info:
        oracle.check_outputs("r1", inputs, outputs)
    expected = np.exp(-20.5) / (1 + np.exp(-20.5))
    assert info.value.errors["input_grad_real"] == pytest.approx(expected, rel=1e-3)
    assert info.value.errors["penalty"] == pytest.approx(2 * expected, rel=1e-3)  # squared
    assert info.value.diagnosis == []
    oracle.check_outputs("r1", inputs, outputs, rtol=1e-8)


# -- the broken variants are rejected and named both ways ----------------------------------

@pytest.mark.parametrize("bug", sorted(BROKEN))
def test_live_check_names_the_broken_variant(bug):
    kind, critic_loss, fault = BROKEN[bug]
    fn = only_required(verify_torch.torch_implementation(kind, critic_loss=critic_loss))
    with pytest.raises(oracle.PenaltyMismatch) as info:
        oracle.check_penalty(fn, kind=kind, max_examples=25, shrink=(kind == "js"))
    assert info.value.fault_names == [fault], str(info.value)


@pytest.mark.parametrize("bug", sorted(BROKEN))
def test_verify_names_the_broken_variant(bug, tmp_path):
    kind, critic_loss, fault = BROKEN[bug]
    outputs = verify_torch.run_vectors(VECTORS, kinds=(kind,), critic_loss=critic_loss)
    results = tmp_path / "broken.json"
    verify_torch.write_results(str(results), {name: {k: out[k] for k in REQUIRED}
                                              for name, out in outputs.items()})
    text = io.StringIO()
    report = verify(VECTORS, str(results), kinds=[kind], out=text)
    assert not report.passed
    assert report.ranked_faults()[0][0] == fault
    # every failing case is explained by this fault and by no other, the logits near +-30
    # included (there the penalty gradient left without create_graph is ~1e-15, built from
    # terms of ~1e-2, and torch's rounding differs from refgan's by ~3e-6 of it)
    assert report.failing_cases and all(
        report.diagnoses[case] == [(fault, report.ranked_faults()[0][1])]
        for case in report.failing_cases), text.getvalue()
    assert f"[{fault}]" in text.getvalue()


def test_results_file_is_written_atomically_and_is_valid_json(tmp_path):
    path = tmp_path / "r.json"
    verify_torch.write_results(str(path), {"js/x": {"penalty": np.float64(np.nan),
                                                    "penalty_grad": [(np.zeros((1, 1)),
                                                                      np.zeros(1))]}})
    import json
    data = json.loads(path.read_text())
    assert data["results"]["js/x"] == {"penalty": None,
                                       "penalty_grad": [{"W": [[0.0]], "b": [0.0]}]}
    assert os.listdir(tmp_path) == ["r.json"]  # no temporary file left behind


# -- the README's quoted command output is what the commands print -------------------------

CONSOLE = re.compile(r"```console\n(.*?)```", re.S)


def console_blocks():
    """Each ```console block of README.md: [(command, expected output), ...], a command
    being a line that starts with '$ ' and its output the lines up to the next one."""
    with open(os.path.join(ROOT, "README.md")) as handle:
        blocks = CONSOLE.findall(handle.read())
    parsed = []
    for block in blocks:
        steps = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
        parsed.append([(cmd, "\n".join(out)) for cmd, out in steps])
    return parsed


def run_console(command, cwd):
    """Run one README command as a user would from a clone: `python` and `refgan` are this
    environment's; the working folder has the clone's examples/ and vectors/."""
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ.get("PATH", ""))
    done = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    return (done.stdout + done.stderr).strip("\n")


def test_readme_console_output_is_what_the_commands_print(tmp_path):
    blocks = console_blocks()
    assert len(blocks) >= 2  # the two failures of "What a failure looks like"
    for name in ("examples", "vectors"):
        os.symlink(os.path.join(ROOT, name), tmp_path / name)
    for steps in blocks:
        for command, expected in steps:
            assert run_console(command, tmp_path) == expected.strip("\n"), command
