"""Local stack launchers for tests, `make up` and benchmarks: real processes on loopback."""
