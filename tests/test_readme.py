"""The README's runnable example prints exactly what the README says it prints.

Every ```python block that is followed by a ```text block is executed; its standard output must
equal the text block. The printed numbers have 6 decimals, far above float64 round-off, so any
change in the library's values shows up here.
"""
import contextlib
import io
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
# A python block, at most one line of prose (no code fence), then a text block.
PAIR = re.compile(r"```python\n((?:(?!```).)*?)```[ \t]*\n\s*(?:[^`\n]*\n\s*)?```text\n(.*?)```",
                  re.S)


def example_pairs():
    pairs = PAIR.findall(README.read_text())
    assert pairs, "README.md has no python example followed by its printed output"
    return pairs


@pytest.mark.parametrize("code, expected", example_pairs())
def test_readme_example_prints_what_it_says(code, expected):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    assert out.getvalue().strip() == expected.strip()


def _oracle_blocks():
    """The two text blocks of the README's "The oracle in numbers": rows as lists of fields."""
    text = README.read_text()
    section = text[text.index("### The oracle in numbers"):]
    blocks = re.findall(r"```text\n(.*?)```", section, re.S)[:2]
    rows = []
    for block in blocks:
        name, parsed = None, []
        for line in block.splitlines()[1:]:
            fields = line.split()
            if not line.startswith(" "):
                name, fields = fields[0], fields[1:]
            parsed.append((name, fields))
        rows.append(parsed)
    return rows


def _printed(value, text):
    """value rounded as the README printed it (its number of digits) equals the text."""
    return float(text) == pytest.approx(value, rel=0, abs=0.51 * 10 ** _exponent(text))


def _exponent(text):
    mantissa, _, exp = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return (int(exp) if exp else 0) - decimals


def test_readme_oracle_tables_are_what_refgan_oracle_computes():
    """The README quotes `refgan oracle`; its deterministic columns must be today's values:
    part 1's A, Omega_f, L (exact computations, no sampling) and part 2's -Omega_f, slope and
    slope + Omega (closed forms and quadrature). Monte Carlo and timing columns are not checked
    here (tests/test_properties.py proves the convergence itself)."""
    from refgan.convergence import fixed_critic_problem, gaussian_rows, laplacian_prediction
    part1, part2 = _oracle_blocks()
    critic, params, x_real, x_fake = fixed_critic_problem(0)
    first_rows = [(name, f) for name, f in part1 if len(f) == 10]
    assert {name for name, _ in first_rows} == {"kl", "gan"}
    for name, fields in first_rows:
        expected = laplacian_prediction(name, critic, params, x_real, x_fake)
        for value, text in zip(expected, fields[:3]):
            assert _printed(value, text), (name, value, text)
    by_key = {(r["divergence"], r["gamma"]): r for r in gaussian_rows()}
    for name, fields in part2:
        gamma, slope, diff = fields[-3:]
        row = by_key[(name, float(gamma))]
        assert _printed(row["slope"], slope) and _printed(row["difference"], diff), (name, gamma)
        if len(fields) == 4:
            assert _printed(row["minus_omega"], fields[0])
