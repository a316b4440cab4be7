"""Test configuration: float64 everywhere and a deterministic hypothesis profile.

The default profile ('refgan') is derandomized: the same examples on every run and every
machine, so CI is reproducible. `pytest --hypothesis-profile=explore` draws fresh examples.
"""
from hypothesis import HealthCheck, settings

settings.register_profile(
    "refgan", derandomize=True, database=None, deadline=None, max_examples=25,
    suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile(
    "explore", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow],
    print_blob=True)
settings.load_profile("refgan")
