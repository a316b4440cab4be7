"""`refgan verify`: the reference passes, every fault fails and is named, bad files are
rejected with a message that names the case and the field."""
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from conformance_cache import ROOT, VECTORS, fault_table, results_for, vectors
from refgan.cli import main
from refgan.faults import FAULTS
from refgan.verify import MalformedFile, results_record, verify

# No two faults are numerically identical on the committed set: each one alone fits the most
# failing cases when an implementation has it (checked below). List pairs here otherwise.
INDISTINGUISHABLE = {}


def write_results(path, outputs_by_case):
    with open(path, "w") as handle:
        json.dump(results_record(outputs_by_case), handle)
    return str(path)


def reference_results():
    return {name: case["expected"] for name, case in vectors().items()}


def run_verify(results_path, **options):
    out = io.StringIO()
    report = verify(VECTORS, results_path, out=out, fault_cache=fault_table(), **options)
    return report, out.getvalue()


def test_reference_passes(tmp_path):
    path = write_results(tmp_path / "results.json", reference_results())
    report, text = run_verify(path)
    assert report.passed and not report.failing_cases
    assert len(report.rows) == len(vectors()) * 10
    assert "1100 pass, 0 fail" in text and "Diagnosis" not in text
    assert main(["verify", VECTORS, path]) == 0


def test_a_loss_that_is_zero_by_cancellation_passes_with_rounding(tmp_path):
    # f:tv/zero_input_gradient: every logit is the same (first layer 0), so F = mean_P g(v)
    # - mean_Q g(v) = 0 exactly. A PyTorch implementation summing in its own order returned
    # 2^-57 = 6.9e-18 there; against its terms (g(v) = tanh(v) / 2 ~ 0.047 on each side)
    # that is rounding. A difference of 1e-6 is not.
    name = "f:tv/zero_input_gradient"
    assert vectors()[name]["expected"]["loss"] == 0.0
    for loss, passes in ((2.0 ** -57, True), (1e-6, False)):
        results = reference_results()
        results[name] = dict(results[name], loss=np.float64(loss))
        report, text = run_verify(write_results(tmp_path / "results.json", results),
                                  kinds=["f:tv"])
        assert report.passed == passes, text
    assert report.failing_cases == [name]
    assert "no known fault matches" in text


def test_a_fault_that_fits_a_minority_of_cases_is_not_called_most_likely(tmp_path):
    # gamma^2 / 2 where gamma / 2 belongs: loss + (gamma^2 - gamma) / 2 * penalty, and its
    # gradient likewise. It matches gamma_not_halved (gamma * penalty) only where gamma = 2
    # (js/mlp_3d_softplus), and the reference where gamma = 1 (none here).
    results = reference_results()
    for name, case in vectors().items():
        if case["kind"] != "js":
            continue
        e, c = case["expected"], (case["inputs"]["gamma"] ** 2 - case["inputs"]["gamma"]) / 2
        results[name] = dict(e, loss=e["loss"] + c * e["penalty"],
                             loss_grad=[(lW + c * pW, lb + c * pb) for (lW, lb), (pW, pb)
                                        in zip(e["loss_grad"], e["penalty_grad"])])
    report, text = run_verify(write_results(tmp_path / "results.json", results), kinds=["js"])
    assert len(report.failing_cases) == 9 and "Most likely" not in text
    assert ("the best, gamma used where gamma/2 belongs: loss = -F + gamma * penalty "
            "[gamma_not_halved], fits only 1 of 9 failing case(s): js/mlp_3d_softplus.") in text


def test_table_columns(tmp_path):
    path = write_results(tmp_path / "results.json", results_for("gamma_not_halved"))
    report, text = run_verify(path)
    header, first = text.splitlines()[:2]
    assert header.split() == ["case", "quantity", "max", "rel", "error", "result"]
    assert first.split()[:2] == ["js/linear_1d", "logits_real"] and first.endswith("pass")
    loss_row = next(r for r in report.rows if r[:2] == ("js/linear_1d", "loss"))
    assert not loss_row[3] and loss_row[2] > 1e-3  # loss off by (gamma/2) Omega / loss


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_fails_and_is_named_first(name, tmp_path):
    report, text = run_verify(write_results(tmp_path / "results.json", results_for(name)))
    assert not report.passed
    assert f"Most likely: {FAULTS[name].description} [{name}]" in text
    failing = report.failing_cases
    assert failing and all(vectors()[c]["kind"] in FAULTS[name].kinds for c in failing)
    ranked = report.ranked_faults()
    top = {n for n, _, count in ranked if count == ranked[0][2]}
    assert top == {name} | INDISTINGUISHABLE.get(name, set())
    assert ranked[0][2] == len(failing)  # it explains every failing case
    for c in failing:
        assert name in [n for n, _ in report.diagnoses[c]], c


def test_cli_names_the_fault(tmp_path, capsys):
    results = {n: out for n, out in results_for("sum_before_norm").items()
               if n.startswith("r1/")}  # one kind: the command computes the faults itself
    path = write_results(tmp_path / "results.json", results)
    assert main(["verify", VECTORS, path, "--only-failures", "--kinds", "r1"]) == 1
    text = capsys.readouterr().out
    assert "values match input gradients summed over the batch before the norm " \
           "[sum_before_norm]" in text
    assert "Most likely: input gradients summed over the batch before the norm" in text
    assert " pass" not in text.split("\n\n")[0]  # --only-failures: no passing rows


def test_command_line_entry_point(tmp_path):
    """Once through a real process: exit status 1 and the diagnosis on stdout."""
    results = {n: {k: v for k, v in out.items() if k in ("penalty", "loss", "penalty_grad",
                                                          "loss_grad")}
               for n, out in results_for("js_weights_swapped").items()
               if vectors()[n]["kind"] == "js"}
    path = write_results(tmp_path / "results.json", results)
    proc = subprocess.run([sys.executable, "-m", "refgan.cli", "verify", VECTORS, path,
                           "--kinds", "js"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr
    assert "[js_weights_swapped], fits 9 of 9 failing case(s)" in proc.stdout


def test_subset_of_kinds_and_of_fields(tmp_path):
    results = {n: {k: out[k] for k in ("penalty", "loss", "penalty_grad", "loss_grad")}
               for n, out in reference_results().items() if n.split("/")[0] in ("js", "r1")}
    path = write_results(tmp_path / "results.json", results)
    report, _ = run_verify(path, kinds=["js", "r1"])
    assert report.passed and len(report.rows) == 20 * 4
    with pytest.raises(MalformedFile, match="no entry for case 'r2/linear_1d'.*--kinds"):
        run_verify(path)


def test_nan_is_a_failure_that_names_the_case_and_field(tmp_path):
    results = reference_results()
    bad = dict(results["r1/mlp_2d_tanh"])
    bad["penalty"] = np.float64(np.nan)
    results["r1/mlp_2d_tanh"] = bad
    path = write_results(tmp_path / "results.json", results)
    report, text = run_verify(path)
    assert report.failing_cases == ["r1/mlp_2d_tanh"]
    row = next(line for line in text.splitlines() if "FAIL" in line)
    assert row.split()[:2] == ["r1/mlp_2d_tanh", "penalty"] and "(1 NaN value(s))" in row
    assert "no known fault matches" in text
    # null (what JavaScript writes for NaN) reads as NaN too
    data = json.load(open(path))
    data["results"]["r1/mlp_2d_tanh"]["penalty"] = None
    json.dump(data, open(path, "w"))
    assert "(1 NaN value(s))" in run_verify(path)[1]


def _malformed(tmp_path, edit):
    data = results_record(reference_results())
    data = json.loads(json.dumps(data))
    edit(data)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    with pytest.raises(MalformedFile) as info:
        run_verify(str(path))
    assert main(["verify", VECTORS, str(path)]) == 2  # the CLI's status for a bad file
    return str(info.value)


def test_malformed_results_name_the_case_and_field(tmp_path):
    def drop_case(d):
        del d["results"]["f:kl/batch_size_1"]
    assert "no entry for case 'f:kl/batch_size_1'" in _malformed(tmp_path, drop_case)

    def drop_field(d):
        del d["results"]["js/linear_3d"]["loss_grad"]
    assert "case 'js/linear_3d': missing field 'loss_grad'" in _malformed(tmp_path, drop_field)

    def wrong_shape(d):
        d["results"]["r2/image_2x4x4_tanh"]["input_grad_fake"] = [[0.0] * 32] * 3
    msg = _malformed(tmp_path, wrong_shape)
    assert "case 'r2/image_2x4x4_tanh': field 'input_grad_fake': expected shape (3, 2, 4, 4), " \
           "got (3, 32)" in msg

    def wrong_layers(d):
        d["results"]["r1/linear_1d"]["penalty_grad"] = [{"W": [[1.0, 2.0]], "b": [0.0]}]
    msg = _malformed(tmp_path, wrong_layers)
    assert "case 'r1/linear_1d': field 'penalty_grad': expected shape [(W (1, 1), b (1,))]" in msg

    def text_value(d):
        d["results"]["js/batch_size_1"]["loss"] = "0.5"
    assert "case 'js/batch_size_1': field 'loss': expected numbers, got '0.5'" in \
        _malformed(tmp_path, text_value)

    def unknown_field(d):
        d["results"]["js/batch_size_1"]["grad_norm"] = [1.0]
    assert "case 'js/batch_size_1': unknown field 'grad_norm'" in \
        _malformed(tmp_path, unknown_field)

    def unknown_case(d):
        d["results"]["js/other"] = {}
    assert "case 'js/other' is not in the conformance set" in _malformed(tmp_path, unknown_case)

    def ragged(d):
        d["results"]["js/mlp_2d_tanh"]["input_grad_real"] = [[1.0, 2.0], [1.0]]
    assert "field 'input_grad_real': nested lists of unequal lengths" in \
        _malformed(tmp_path, ragged)

    def version(d):
        d["version"] = 2
    assert "field 'version' is 2; this refgan reads version 1" in _malformed(tmp_path, version)

    def fmt(d):
        d["format"] = "refgan-conformance"
    assert "field 'format' must be 'refgan-results'" in _malformed(tmp_path, fmt)


def _malformed_vectors(tmp_path, edit):
    with open(VECTORS) as handle:
        data = json.load(handle)
    edit(data)
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps(data))
    results = write_results(tmp_path / "results.json", reference_results())
    with pytest.raises(MalformedFile) as info:
        verify(str(path), results, out=io.StringIO())
    assert main(["verify", str(path), results]) == 2  # the CLI's status for a bad file
    assert str(path) in str(info.value)  # every message names the file
    return str(info.value)


def test_malformed_vectors_name_the_file_case_and_field(tmp_path):
    def gamma(d):
        d["cases"][3]["inputs"]["gamma"] = "abc"
    assert "case 'js/mlp_3d_softplus': gamma: expected a number >= 0, got 'abc'" in \
        _malformed_vectors(tmp_path, gamma)

    def kind(d):
        d["cases"][0]["kind"] = "zz"
    assert "case 'js/linear_1d': kind: unknown 'zz'" in _malformed_vectors(tmp_path, kind)

    def activation(d):
        d["cases"][0]["inputs"]["activation"] = "sine"
    assert "case 'js/linear_1d': activation: unknown 'sine'" in \
        _malformed_vectors(tmp_path, activation)

    def missing(d):
        del d["cases"][1]["expected"]["loss"]
    assert "case 'js/linear_3d': missing field 'loss'" in _malformed_vectors(tmp_path, missing)

    def cases_object(d):
        d["cases"] = {"js/linear_1d": d["cases"][0]}
    assert "field 'cases' must be a list of cases" in _malformed_vectors(tmp_path, cases_object)

    def case_not_object(d):
        d["cases"][2] = "js/mlp_2d_tanh"
    assert "case 2: expected an object" in _malformed_vectors(tmp_path, case_not_object)

    def version_true(d):
        d["version"] = True  # equal to 1 in Python, but not the number 1
    assert "field 'version' is True" in _malformed_vectors(tmp_path, version_true)


def test_results_argument_that_is_a_directory(tmp_path, capsys):
    with pytest.raises(MalformedFile, match="is a directory; expected the RESULTS JSON file"):
        run_verify(str(tmp_path))
    assert main(["verify", VECTORS, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "results" in err and "conformance.json" not in err


def test_not_json_and_missing_files(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text("{'results': ")
    with pytest.raises(MalformedFile, match=r"results .*results.json: not valid JSON"):
        run_verify(str(path))
    assert main(["verify", str(tmp_path), str(path)]) == 2
    assert "vectors: no conformance.json in" in capsys.readouterr().err
    with pytest.raises(ValueError, match="rtol: expected a number in"):
        run_verify(str(path), rtol=0.0)


def test_a_looser_rtol_for_float32(tmp_path):
    """float32 round trip of every value: fails at the float64 tolerance, passes at 1e-4
    (float32 carries ~7 digits; nested gradients lose a few more)."""
    f32 = {name: {k: ([(w.astype(np.float32).astype(float), b.astype(np.float32).astype(float))
                       for w, b in v] if isinstance(v, list)
                      else np.asarray(v, dtype=np.float32).astype(float))
                  for k, v in out.items()}
           for name, out in reference_results().items()}
    path = write_results(tmp_path / "results.json", f32)
    assert not run_verify(path)[0].passed
    assert run_verify(path, rtol=1e-4)[0].passed


def test_a_fault_that_fits_only_the_failing_quantities(tmp_path):
    """Per-sample norms reported right while the penalty used one norm for the batch: no
    fault fits every quantity, batch_norm fits the failing ones, and the report says so."""
    results = reference_results()
    for name, out in results_for("batch_norm").items():
        if name.startswith("r1/"):
            results[name] = dict(out, grad_sq_real=vectors()[name]["expected"]["grad_sq_real"],
                                 grad_sq_fake=vectors()[name]["expected"]["grad_sq_fake"])
    report, text = run_verify(write_results(tmp_path / "results.json", results))
    assert set(report.partial) == set(report.failing_cases)
    assert report.partial["r1/mlp_2d_tanh"] == ("penalty", "loss", "penalty_grad", "loss_grad")
    assert "the failing quantities (penalty, loss, penalty_grad, loss_grad) match one " \
           "gradient norm over the whole batch instead of one per sample [batch_norm]" in text
    assert report.ranked_faults()[0][0] == "batch_norm"
