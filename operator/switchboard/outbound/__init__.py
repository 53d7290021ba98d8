"""Outbound calls: `builders` (pure), `index`, `caps` (namespace slots), `handlers`, `reports`."""
