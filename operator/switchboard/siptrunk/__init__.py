"""SipTrunk reconciliation: pure builders, the LiveKit sync, and the kopf handlers."""
