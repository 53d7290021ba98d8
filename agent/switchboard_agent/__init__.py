"""Switchboard agent worker: one LiveKit voice conversation per call, configured by a VoiceAgent."""
