"""Benchmarks: one fixed workload run against several systems, side by side (see README.md)."""
