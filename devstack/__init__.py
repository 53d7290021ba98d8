"""Local stack launchers shared by the tests, `make up` and the benchmarks: real processes on loopback."""
