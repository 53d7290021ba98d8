"""A small real SIP user agent (UDP, an RFC 3261 subset) with PCMU RTP: calls, tests, benches."""
