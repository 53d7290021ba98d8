"""Plain helpers for tests and benchmarks: harnesses, configs, test doubles; no fixtures."""
