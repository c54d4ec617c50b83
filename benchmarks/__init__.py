"""Benchmarks: peer baselines and the quality harness (``python -m benchmarks.quality``).

Not part of the installed package; run from the project root.
"""
