"""Switchboard operator: reconciles SipTrunk and VoiceAgent onto LiveKit and Kubernetes."""
