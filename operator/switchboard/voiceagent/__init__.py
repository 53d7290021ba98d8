"""VoiceAgent reconciliation: dispatch rule, worker fleet, and event-driven scaling.

One concern per module:
- handlers: kopf wiring only (spec pass, worker watches, report entry point, delete);
- builders: spec -> AgentConfig and dispatch rule; workload: spec -> worker objects (pure);
- reconcile: the dispatch-rule pass against LiveKit (kopf-free);
- claims: explicit agent names, unique per LiveKit (a kopf index and who holds a name);
- status: SpecOutcome and compose_status, the only place a condition is decided (pure);
- fleet: the in-memory view of workers (pods joined with reports);
- scaler: applies decisions (replicas, deletion costs) and writes the status;
- reports: the worker-report HTTP endpoint; redispatch: calls LiveKit left unassigned.
"""
