"""VoiceAgent reconciliation: dispatch rule, worker fleet, and event-driven scaling."""
