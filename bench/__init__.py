"""Benchmarks of crispml beside their bare baselines; `python -m bench.run` runs them."""
