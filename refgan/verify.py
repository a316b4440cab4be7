"""`refgan verify VECTORS RESULTS`: compare another implementation's numbers with the
conformance set, quantity by quantity, and name the known fault that the failures fit.

VECTORS is the conformance file (or a folder holding v1/conformance.json); RESULTS is JSON

    {"format": "refgan-results", "version": 1,
     "results": {"<case name>": {"penalty": 0.12, "loss": 1.3, "penalty_grad": [...], ...}}}

with the field names of the conformance set (docs/VECTORS.md). penalty, loss, penalty_grad
and loss_grad are required for every case checked; the per-sample fields are optional.
A quantity passes when scaled_error(observed, expected, floor) <= rtol, the floor being the
quantity's scale: the size of the terms summed to make it (refgan.conformance.output_scales;
recorded per case in the vectors as "scale").
"""
import json
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as onp

from .conformance import (FLOOR, FORMAT, GRADIENT_FIELDS, OUTPUT_FIELDS, RTOL, SCALAR_FIELDS,
                          VECTORS_FILE, VERSION, check_kind, field_floors, output_scales,
                          scaled_error)
from .nets import ACTIVATIONS

RESULTS_FORMAT = "refgan-results"
REQUIRED_FIELDS = SCALAR_FIELDS + GRADIENT_FIELDS


class MalformedFile(ValueError):
    """A conformance or results file that cannot be checked; the message names the file,
    the case and the field."""


# -- reading --------------------------------------------------------------------------------

def _read_json(path, what):
    if os.path.isdir(path) and what == "results":
        raise MalformedFile(f"results {path}: is a directory; expected the RESULTS JSON file")
    if os.path.isdir(path):
        for candidate in (os.path.join(path, VECTORS_FILE),
                          os.path.join(path, f"v{VERSION}", VECTORS_FILE)):
            if os.path.isfile(candidate):
                path = candidate
                break
        else:
            raise FileNotFoundError(f"{what}: no {VECTORS_FILE} in {path} or {path}/v{VERSION}")
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise MalformedFile(f"{what} {path}: not valid JSON ({exc})") from None
    except UnicodeDecodeError:
        raise MalformedFile(f"{what} {path}: not a text (JSON) file") from None


def _check_header(data, path, what, expected_format):
    if not isinstance(data, dict):
        raise MalformedFile(f"{what} {path}: expected a JSON object at the top level")
    if data.get("format") != expected_format:
        raise MalformedFile(f"{what} {path}: field 'format' must be {expected_format!r}, "
                            f"got {data.get('format')!r}")
    version = data.get("version")
    if isinstance(version, bool) or version != VERSION:
        raise MalformedFile(f"{what} {path}: field 'version' is {data.get('version')!r}; this "
                            f"refgan reads version {VERSION}")


def _number_array(value, where):
    """Nested lists of numbers -> float64 array; null is read as NaN."""
    def convert(v):
        if isinstance(v, list):
            return [convert(u) for u in v]
        if v is None:
            return math.nan
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise MalformedFile(f"{where}: expected numbers, got {v!r}")
        return float(v)
    numbers = convert(value)
    try:
        return onp.array(numbers, dtype=onp.float64)
    except ValueError:  # ragged nesting
        raise MalformedFile(f"{where}: nested lists of unequal lengths") from None


def _layers(value, where):
    """[{"W": ..., "b": ...}, ...] (or [[W, b], ...]) -> [(W, b), ...] float64 arrays."""
    if not isinstance(value, list):
        raise MalformedFile(f"{where}: expected a list of layers {{\"W\": ..., \"b\": ...}}")
    layers = []
    for i, layer in enumerate(value):
        if isinstance(layer, dict) and set(layer) == {"W", "b"}:
            W, b = layer["W"], layer["b"]
        elif isinstance(layer, list) and len(layer) == 2:
            W, b = layer
        else:
            raise MalformedFile(f"{where}[{i}]: expected {{\"W\": ..., \"b\": ...}}")
        layers.append((_number_array(W, f"{where}[{i}].W"), _number_array(b, f"{where}[{i}].b")))
    return layers


def _quantity(name, value, where):
    return _layers(value, where) if name in GRADIENT_FIELDS else _number_array(value, where)


def load_vectors(path):
    """The conformance set: {case name: {"kind", "inputs", "expected"}} with float64 arrays."""
    data = _read_json(path, "vectors")
    _check_header(data, path, "vectors", FORMAT)
    records = data.get("cases")
    if not isinstance(records, list):
        raise MalformedFile(f"vectors {path}: field 'cases' must be a list of cases, got "
                            f"{type(records).__name__}")
    cases = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise MalformedFile(f"vectors {path}: case {i}: expected an object, got "
                                f"{type(record).__name__}")
        name = record.get("name")
        if not isinstance(name, str):
            raise MalformedFile(f"vectors {path}: case {i}: field 'name' must be a string")
        where = f"vectors {path}: case {name!r}"
        try:
            cases[name] = _vector_case(name, record, where)
        except KeyError as exc:
            raise MalformedFile(f"{where}: missing field {exc}") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, MalformedFile):
                raise
            raise MalformedFile(f"{where}: {exc}") from None
    if not cases:
        raise MalformedFile(f"vectors {path}: holds no cases")
    return cases


def _vector_case(name, record, where):
    """One case of the vectors; a bad value raises MalformedFile, a missing key KeyError."""
    kind = check_kind(record["kind"])
    raw = record["inputs"]
    if not isinstance(raw, dict) or not isinstance(record["expected"], dict):
        raise MalformedFile(f"{where}: fields 'inputs' and 'expected' must be objects")
    gamma = raw["gamma"]
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma >= 0:
        raise MalformedFile(f"{where}: gamma: expected a number >= 0, got {gamma!r}")
    if raw["activation"] not in ACTIVATIONS:
        raise MalformedFile(f"{where}: activation: unknown {raw['activation']!r}; valid: "
                            f"{', '.join(ACTIVATIONS)}")
    inputs = {"activation": raw["activation"], "gamma": float(gamma),
              "params": _layers(raw["params"], f"{where}: params"),
              "x_real": _number_array(raw["x_real"], f"{where}: x_real"),
              "x_fake": _number_array(raw["x_fake"], f"{where}: x_fake")}
    expected = {k: _quantity(k, record["expected"][k], f"{where}: {k}")
                for k in OUTPUT_FIELDS}
    scale = record.get("scale")  # absent: derived from the inputs when the case is compared
    if scale is not None:
        scale = {k: _scale(scale, k, f"{where}: scale") for k in OUTPUT_FIELDS}
    return {"kind": kind, "inputs": inputs, "expected": expected, "scale": scale}


def _scale(scale, k, where):
    value = scale[k] if isinstance(scale, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise MalformedFile(f"{where}: field {k!r} must be a number >= 0, got {value!r}")
    return float(value)


def _shape_text(value):
    if isinstance(value, list):
        return "[" + ", ".join(f"(W {onp.shape(W)}, b {onp.shape(b)})" for W, b in value) + "]"
    return str(onp.shape(value))


def load_results(path, vectors, kinds=None):
    """Read RESULTS and check it against the cases of `vectors` (those of `kinds`, if given):
    every case present, the required fields present, every shape right. Returns {case name:
    {field: array or list of (W, b)}}. Raises MalformedFile naming the case and the field."""
    data = _read_json(path, "results")
    _check_header(data, path, "results", RESULTS_FORMAT)
    entries = data.get("results")
    if not isinstance(entries, dict):
        raise MalformedFile(f"results {path}: field 'results' must be an object "
                            "{case name: {field: value}}")
    kinds = None if kinds is None else {check_kind(k) for k in kinds}
    wanted = [n for n, case in vectors.items() if kinds is None or case["kind"] in kinds]
    unknown = sorted(set(entries) - set(vectors))
    if unknown:
        raise MalformedFile(f"results {path}: case {unknown[0]!r} is not in the conformance set")
    results = {}
    for name in wanted:
        if name not in entries:
            raise MalformedFile(f"results {path}: no entry for case {name!r} (check a subset of "
                                "kinds with --kinds)")
        entry = entries[name]
        if not isinstance(entry, dict):
            raise MalformedFile(f"results {path}: case {name!r}: expected an object of fields")
        extra = sorted(set(entry) - set(OUTPUT_FIELDS))
        if extra:
            raise MalformedFile(f"results {path}: case {name!r}: unknown field {extra[0]!r}; "
                                f"valid: {', '.join(OUTPUT_FIELDS)}")
        missing = [k for k in REQUIRED_FIELDS if k not in entry]
        if missing:
            raise MalformedFile(f"results {path}: case {name!r}: missing field {missing[0]!r}")
        results[name] = {}
        for k in OUTPUT_FIELDS:
            if k not in entry:
                continue
            where = f"results {path}: case {name!r}: field {k!r}"
            value = _quantity(k, entry[k], where)
            expected = vectors[name]["expected"][k]
            if _shape_text(value) != _shape_text(expected):
                raise MalformedFile(f"{where}: expected shape {_shape_text(expected)}, "
                                    f"got {_shape_text(value)}")
            results[name][k] = value
    return results


# -- comparing --------------------------------------------------------------------------------

def _nan_count(value):
    if isinstance(value, list):
        return sum(int(onp.isnan(a).sum()) for layer in value for a in layer)
    return int(onp.isnan(value).sum())


@dataclass
class Report:
    """rows: (case, quantity, scaled error, passed, note); diagnoses: {failing case: [(fault
    name, description)]}; partial: {failing case: the failing quantities}, for the cases
    whose diagnosis fits only those (the fault would change some that agree, too)."""
    rows: List[Tuple[str, str, float, bool, str]] = field(default_factory=list)
    diagnoses: Dict[str, List[Tuple[str, str]]] = field(default_factory=dict)
    partial: Dict[str, Tuple[str, ...]] = field(default_factory=dict)

    @property
    def passed(self):
        return all(row[3] for row in self.rows)

    @property
    def failing_cases(self):
        return sorted({row[0] for row in self.rows if not row[3]})

    def ranked_faults(self):
        """[(name, description, number of failing cases it fits)], most cases first."""
        counts = {}
        for matches in self.diagnoses.values():
            for name, description in matches:
                counts[name] = (description, counts.get(name, ("", 0))[1] + 1)
        return sorted(((n, d, c) for n, (d, c) in counts.items()), key=lambda t: -t[2])


def compare(vectors, results, rtol=RTOL, floor=FLOOR, fault_cache=None):
    """Compare results with the vectors and diagnose every failing case. fault_cache, a dict,
    keeps the fault outputs of each case between calls."""
    from . import faults  # the wrong variants are needed only to explain a failure
    report = Report()
    for name, observed in results.items():
        case, failed = vectors[name], []
        if case.get("scale") is None:
            case["scale"] = output_scales(case["kind"], case["inputs"])
        floors = field_floors(case["scale"], floor)
        for k in OUTPUT_FIELDS:
            if k not in observed:
                continue
            err = scaled_error(observed[k], case["expected"][k], floors[k])
            nans = _nan_count(observed[k])
            note = f"{nans} NaN value(s)" if nans else ""
            report.rows.append((name, k, err, bool(err <= rtol), note))
            if not err <= rtol:
                failed.append(k)
        if not failed:
            continue
        cache = {} if fault_cache is None else fault_cache
        if name not in cache:
            cache[name] = faults.fault_outputs(case["kind"], case["inputs"])

        def fits(fields):
            return faults.diagnose(case["kind"], case["inputs"],
                                   {k: observed[k] for k in fields}, rtol=rtol,
                                   atol=rtol * floor, reference=case["expected"],
                                   candidates=cache[name], scales=case["scale"])
        report.diagnoses[name] = fits(list(observed))
        if not report.diagnoses[name] and len(failed) < len(observed):
            # e.g. per-sample norms computed correctly for the report, but not for the penalty
            report.diagnoses[name] = fits(failed)
            if report.diagnoses[name]:
                report.partial[name] = tuple(failed)
    return report


def print_report(report, out=None, only_failures=False, rtol=RTOL):
    out = sys.stdout if out is None else out
    width = max([len(r[0]) for r in report.rows] + [4])
    print(f"{'case':<{width}}  {'quantity':<16}  {'max rel error':>13}  result", file=out)
    for case, quantity, err, ok, note in report.rows:
        if only_failures and ok:
            continue
        text = f"{err:13.2e}" if math.isfinite(err) else f"{'inf':>13}"
        print(f"{case:<{width}}  {quantity:<16}  {text}  {'pass' if ok else 'FAIL'}"
              + (f"  ({note})" if note else ""), file=out)
    n_cases = len({r[0] for r in report.rows})
    failing = report.failing_cases
    print(f"\n{len(report.rows)} quantities in {n_cases} cases compared at rtol {rtol:g}: "
          f"{sum(r[3] for r in report.rows)} pass, {sum(not r[3] for r in report.rows)} fail "
          f"({len(failing)} failing case(s))", file=out)
    if not failing:
        return
    print("\nDiagnosis (the known faults whose outputs reproduce the numbers):", file=out)
    groups = {}  # the same diagnosis for many cases is printed once
    for case in failing:
        key = tuple(report.diagnoses.get(case, [])), report.partial.get(case)
        groups.setdefault(key, []).append(case)
    for (matches, partial), cases in groups.items():
        text = "; or ".join(f"{d} [{n}]" for n, d in matches)
        if matches and partial:
            print(f"  the failing quantities ({', '.join(partial)}) match {text}; that fault "
                  "would also change quantities that agree here", file=out)
        elif matches:
            print(f"  values match {text}", file=out)
        else:
            print("  no known fault matches", file=out)
        shown = ", ".join(cases[:6]) + (f", and {len(cases) - 6} more" if len(cases) > 6 else "")
        print(f"    in {len(cases)} case(s): {shown}", file=out)
    ranked = report.ranked_faults()
    if ranked:
        name, description, count = ranked[0]
        if 2 * count <= len(failing):  # a minority: as likely a coincidence as the cause
            print(f"\nNo known fault explains most failing cases; the best, {description} "
                  f"[{name}], fits only {count} of {len(failing)} failing case(s): "
                  f"{', '.join(_fitted(report, name)[:6])}.", file=out)
            return
        print(f"\nMost likely: {description} [{name}], fits {count} of {len(failing)} failing "
              "case(s).", file=out)


def _fitted(report, fault):
    return [case for case in report.failing_cases
            if fault in [n for n, _ in report.diagnoses.get(case, [])]]


def verify(vectors_path, results_path, rtol=RTOL, floor=FLOOR, kinds=None, out=None,
           only_failures=False, fault_cache=None):
    """Load, compare, print. Returns the Report (report.passed is the verdict)."""
    if not (isinstance(rtol, (int, float)) and 0 < rtol < 1):
        raise ValueError(f"rtol: expected a number in (0, 1), got {rtol!r}")
    vectors = load_vectors(vectors_path)
    results = load_results(results_path, vectors, kinds)
    report = compare(vectors, results, rtol, floor, fault_cache)
    print_report(report, out, only_failures, rtol)
    return report


def results_record(outputs_by_case):
    """{case name: outputs} -> the RESULTS JSON object (the writer's side of the schema)."""
    from .conformance import to_plain
    return {"format": RESULTS_FORMAT, "version": VERSION,
            "results": {name: {k: to_plain(v) for k, v in outputs.items()}
                        for name, outputs in outputs_by_case.items()}}
