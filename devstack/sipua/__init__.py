"""A small real SIP user agent (UDP, RFC 3261 subset) with PCMU RTP, for calls, tests and benchmarks."""
