"""Call analytics in the operator: summaries in, status aggregates, the call log, metrics out."""
