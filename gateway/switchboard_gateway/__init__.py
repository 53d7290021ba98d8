"""Switchboard media-stream gateway: provider WebSocket streams bridged into LiveKit rooms."""
