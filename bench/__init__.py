"""Benchmarks: each script prints a markdown table and writes JSON under bench/results/."""
