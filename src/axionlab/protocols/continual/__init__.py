"""Continual-learning benchmarks: strategies over task streams, as a CL library runs them."""
