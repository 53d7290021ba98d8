"""Switchboard operator: reconciles SipTrunk and VoiceAgent resources onto LiveKit and Kubernetes."""
