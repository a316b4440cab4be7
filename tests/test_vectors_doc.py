"""docs/VECTORS.md's table of the f rows (g_f, f* o g_f, the penalty weight w) is what an
implementer needs: its formulas, evaluated as written, are the rows of refgan.divergences,
and w is f*''(g_f(v)) g_f'(v)^2 with g_f' by finite differences of the doc's own g_f."""
import pathlib
import re

import numpy as np
import pytest

from refgan.divergences import DIVERGENCES

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "VECTORS.md"
ROW = re.compile(r"^\| `(\w+)` \| `([^`]+)` \| `([^`]+)` \| `([^`]+)` \|$", re.M)
# the functions the doc names, written here independently of refgan
NAMESPACE = {"exp": np.exp, "expm1": np.expm1, "tanh": np.tanh, "log2": np.log(2.0),
             "softplus": lambda a: np.logaddexp(0.0, a),
             "sigmoid": lambda a: np.exp(-np.logaddexp(0.0, -a))}
V = np.array([-40.0, -30.0, -5.0, -1.3, 0.0, 0.7, 5.0, 30.0, 40.0])
V_MODERATE = np.linspace(-3.0, 3.0, 13)


def doc_rows():
    """{row: (g_f, f* o g_f, w)} as functions of an array v, evaluated from the doc's text."""
    table = DOC.read_text().split("<!-- f-rows table")[1]
    rows = {}
    for name, *formulas in ROW.findall(table):
        rows[name] = [(lambda text: lambda v: np.broadcast_to(
            eval(text, dict(NAMESPACE, v=v)), v.shape).astype(np.float64))(text)
            for text in formulas]
    return rows


def test_the_doc_has_every_row():
    assert sorted(doc_rows()) == sorted(DIVERGENCES)


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_doc_formulas_are_the_stable_forms(name):
    g, fstar_g, w = doc_rows()[name]
    d = DIVERGENCES[name]
    # the same forms, rounded at most a few times differently: 1e-13 relative at |v| <= 40
    # (an exp(+-40) carries its rounding through); a wrong sign or factor is O(1) off
    for doc_f, code_f in ((g, d.activation), (fstar_g, d.conjugate_of_activation),
                          (w, d.penalty_weight)):
        np.testing.assert_allclose(doc_f(V), code_f(V), rtol=1e-13, atol=0)


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_doc_weight_is_the_definition(name):
    g, fstar_g, w = doc_rows()[name]
    d = DIVERGENCES[name]
    v = V_MODERATE
    # f* o g_f against f* applied to the doc's g_f, where two steps lose nothing (|v| <= 3)
    np.testing.assert_allclose(fstar_g(v), d.conjugate(g(v)), rtol=1e-12, atol=1e-15)
    # w = f*''(g_f(v)) g_f'(v)^2, g_f' by a central difference of the doc's g_f: error
    # ~h^2 g''' ~ 1e-10 relative with h = 1e-5, plus rounding 1e-16 / h = 1e-11
    h = 1e-5
    g_prime = (g(v + h) - g(v - h)) / (2 * h)
    np.testing.assert_allclose(w(v), d.conjugate_second(g(v)) * g_prime ** 2,
                               rtol=1e-8, atol=1e-12)


def test_the_literal_weight_loses_digits_near_plus_30():
    # the doc's warning: f*''(g_f(v)) g_f'(v)^2 computed in two steps at v = 30 is off by a
    # relative ~1e-4 for the rows whose g_f(v) approaches the edge of dom f*; the stable w
    # is the exact value (sigmoid(30), 2 e^30, e^-15 / 2, as in the table)
    v = np.array([30.0])
    exact = {"neyman": np.exp(-15.0) / 2, "hellinger": 2 * np.exp(30.0),
             "js": 1 / (1 + np.exp(-30.0)),
             "gan": 1 / (1 + np.exp(-30.0))}
    sigmoid_minus_30 = np.exp(-30.0) / (1 + np.exp(-30.0))
    g_prime = {"neyman": np.exp(-30.0), "hellinger": np.exp(-30.0),  # g_f'(30), by hand
               "js": sigmoid_minus_30, "gan": sigmoid_minus_30}
    literal_second = {  # f*''(t) as the f-GAN table's f* gives it, differentiated by hand
        "neyman": lambda t: 0.5 * (1 - t) ** -1.5, "hellinger": lambda t: 2 / (1 - t) ** 3,
        "js": lambda t: 2 * np.exp(t) / (2 - np.exp(t)) ** 2,
        "gan": lambda t: np.exp(t) / (1 - np.exp(t)) ** 2}
    for name, second in literal_second.items():
        g = doc_rows()[name][0]
        literal = second(g(v)) * g_prime[name] ** 2
        stable = doc_rows()[name][2](v)
        np.testing.assert_allclose(stable, exact[name], rtol=1e-14)
        error = abs(literal[0] - exact[name]) / exact[name]
        assert 1e-6 < error < 1e-2, (name, error)  # the doc says ~1e-4
