"""Benchmarks of the refresh pipeline, the due scan, the pages and memory (`make bench`)."""
