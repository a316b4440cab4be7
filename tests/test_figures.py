"""The figures and their command: the oracle figure's error slope, Figure 1's files and data,
the CLI's help and errors."""
import json

import numpy as np
import pytest

from refgan import figures, gaussians
from refgan.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_oracle_error_is_second_order_and_omega_matches_the_derivative():
    gammas = np.logspace(-4, -2, 5)
    curves = figures.oracle_curves(gammas)
    assert {c["divergence"] for c in curves} == set(figures.ORACLE_ROWS)
    for c in curves:
        # error of D - (gamma/2) Omega is O(gamma^2): slope 2 on log-log. A wrong Omega (a factor
        # 2, a missing term) leaves an O(gamma) error: slope 1. Tolerance 0.1 separates them.
        assert c["slope"] == pytest.approx(2.0, abs=0.1), c["divergence"]
        # Omega = -2 dD/dgamma at 0, by a central difference of the closed form (error ~1e-8)
        label, mu_p, var_p, mu_q, var_q = next(p for p in figures.ORACLE_PAIRS
                                               if p[0] == c["pair"])
        h = 1e-4
        D = lambda g: gaussians.closed_form_divergence(c["divergence"], mu_p, var_p - h, mu_q,
                                                       var_q - h, g)
        slope0 = (D(2 * h) - D(0.0)) / (2 * h)  # centred at gamma = 0 by shifting the variances
        assert c["omega"] == pytest.approx(-2 * slope0, rel=1e-6), c["divergence"]


def test_figure_oracle_command_writes_png_and_data(tmp_path, capsys):
    assert main(["figure-oracle", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "figure_oracle.png").read_bytes()[:8] == PNG_MAGIC
    saved = json.loads((tmp_path / "figure_oracle.json").read_text())
    assert len(saved["curves"]) == len(figures.ORACLE_PAIRS) * len(figures.ORACLE_ROWS)
    assert "log-log error slope" in capsys.readouterr().out


def test_figure1_writes_figures_and_the_numbers_behind_them(tmp_path):
    runs = figures.figure1(str(tmp_path), steps=2, seeds=2, progress=False, hidden=(8, 8),
                           batch=32, n_eval=64)
    for name in ("figure1.png", "figure1_metrics.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC
    saved = json.loads((tmp_path / "figure1.json").read_text())
    assert set(saved["runs"]) == {"none", "noise", "roth"} and saved["steps"] == 2
    arrays = np.load(tmp_path / "figure1.npz")
    for regime, seeds in runs.items():
        assert len(seeds) == 2
        for run, rec in zip(seeds, saved["runs"][regime]):
            tag = f"{regime}_seed{run['config']['seed']}"
            assert rec["history"] == run["history"] and rec["status"] == "finished"
            assert np.array_equal(arrays[f"steps_{tag}"], [0, 1, 2])
            # the saved samples are the ones the metrics were computed from
            assert np.array_equal(arrays[f"samples_{tag}"], run["samples"])
    assert not list(tmp_path.glob(".tmp-*"))


def test_column_indices_keep_first_and_last():
    assert figures.column_indices(11, 6) == [0, 2, 4, 6, 8, 10]
    assert figures.column_indices(3, 6) == [0, 1, 2]


def test_cli_help_lists_the_options(capsys):
    for command, options in [("figure1", ["--steps", "--full", "--seeds", "--out", "--critic",
                                          "--resume", "--jobs"]),
                             ("figure-oracle", ["--out"])]:
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0
        out = capsys.readouterr().out
        assert all(o in out for o in options), command


@pytest.mark.parametrize("argv, message", [
    (["figure1", "--seeds", "0"], "--seeds, --jobs and --steps must be positive"),
    (["figure1", "--regimes", "bogus"], "invalid choice: 'bogus'"),
    (["figure1", "--steps", "many"], "invalid int value: 'many'"),
])
def test_cli_bad_options(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2 and message in capsys.readouterr().err
