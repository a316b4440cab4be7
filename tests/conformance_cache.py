"""The committed conformance set and every fault's outputs on it, computed once per test run
(shared by test_conformance, test_faults and test_verify)."""
import functools
import os

from refgan import faults, verify

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = os.path.join(ROOT, "vectors", "v1", "conformance.json")


@functools.lru_cache(maxsize=None)
def vectors():
    """{case name: {"kind", "inputs", "expected"}} read from the committed file."""
    return verify.load_vectors(VECTORS)


@functools.lru_cache(maxsize=None)
def fault_table():
    """{case name: {fault name: outputs}} for every fault that applies to the case's kind."""
    return {name: faults.fault_outputs(case["kind"], case["inputs"])
            for name, case in vectors().items()}


def results_for(fault_name):
    """{case name: outputs} of an implementation with one fault: the fault's outputs where it
    applies, the reference elsewhere."""
    table = fault_table()
    return {name: table[name].get(fault_name, case["expected"])
            for name, case in vectors().items()}
