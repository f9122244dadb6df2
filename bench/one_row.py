"""Microbenchmark: one-row scoring calls of each algorithm, its own library against its ONNX twin.

Per-call microseconds (median of many calls on one preallocated float64 row) of: the library's
`predict_proba` as crispml calls it for small inputs (the serial copy; LightGBM's booster), the twin
alone, and `fast_path.Scorer` (twin plus the finite-input and threshold checks). Not part of
`bench.run`: it picks between scoring paths, it does not measure the product.

python -m bench.one_row [--rows N] [--calls N]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from crispml.steps import fast_path
from crispml.steps.algorithms import ALGORITHMS, BoosterModel
from crispml.steps.synthetic import synthesize
from crispml.steps.train import fit


def per_call_us(call: Callable[[np.ndarray], Any], row: np.ndarray, calls: int) -> float:
    """Median wall microseconds of `call(row)`, after a warm-up."""
    for _ in range(calls // 10):
        call(row)
    spent = []
    for _ in range(calls):
        started = time.perf_counter()
        call(row)
        spent.append(time.perf_counter() - started)
    return round(float(np.median(spent)) * 1e6, 1)


def run(rows: int, calls: int) -> dict[str, dict[str, float]]:
    frame = synthesize(rows)
    features = frame.drop(columns=["Class"]).to_numpy(dtype=np.float64)
    target = frame["Class"].to_numpy()
    row = features[:1].copy()
    found = {}
    for name, algorithm in ALGORITHMS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator = fit(algorithm, dict(algorithm.defaults), 10.0, 42, features, target)
        serial = fast_path.serial_copy(estimator)
        twin = fast_path.compile_onnx(estimator)
        scorer = fast_path.Scorer("onnx", serial, twin)
        figures = {
            "library_predict_proba_us": per_call_us(serial.predict_proba, row, calls),
            "onnx_twin_us": per_call_us(twin.positive, row, calls),
            "scorer_us": per_call_us(partial(scorer.positive, threshold=0.5), row, calls),
        }
        if isinstance(estimator, BoosterModel):
            one_thread = partial(estimator.booster.predict, num_threads=1)
            figures["booster_predict_one_thread_us"] = per_call_us(one_thread, row, calls)
        found[name] = figures
        print(name, figures, flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.one_row", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000, help="rows of synthetic training data")
    parser.add_argument("--calls", type=int, default=5_000, help="timed calls per figure")
    args = parser.parse_args()
    print(json.dumps(run(args.rows, args.calls), indent=2))


if __name__ == "__main__":
    main()
