"""Benchmark scripts that print figures (never timed tests): ``python -m worldmodel.benchmarks.<name>``."""
