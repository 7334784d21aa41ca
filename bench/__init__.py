"""Benchmarks: Paygate side by side with the least work a durable payment needs (`make bench`)."""
