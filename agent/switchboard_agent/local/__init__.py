"""Offline local providers: pocketsphinx STT, flite TTS, scripted LLM (demo/test only)."""

from __future__ import annotations

from switchboard_agent.local.flite_tts import FliteTTS
from switchboard_agent.local.pocketsphinx_stt import PocketsphinxSTT
from switchboard_agent.local.scripted_llm import ScriptedLLM

__all__ = ["FliteTTS", "PocketsphinxSTT", "ScriptedLLM"]
