"""The benchmark harness: feedhub side by side with the `reader` library and the lower bound.

Run it with `python -m benchmarks` (see `benchmarks/__main__.py` for the options).
"""
