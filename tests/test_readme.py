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
