"""Unit tests of the offline providers: scripted LLM, flite TTS, pocketsphinx STT."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import llm
from livekit.agents.stt import SpeechEventType
from livekit.plugins import silero
from switchboard_agent.caller_id import CallerInfo
from switchboard_agent.local import FliteTTS, PocketsphinxSTT, ScriptedLLM
from switchboard_agent.local.audio import NARROWBAND_DB, widen_narrowband
from switchboard_agent.persona import SwitchboardAgent
from switchboard_contract import DialogueScript

from tests.support.agent_configs import SCRIPT, offline_config
from tests.support.binaries import require_binary

pytestmark = pytest.mark.unit


def _flite() -> None:
    found = shutil.which("flite")
    require_binary(Path(found) if found else None, "flite")


def _tools() -> list[llm.Tool | llm.Toolset]:
    caller = CallerInfo(identity="sip_x", is_sip=True, phone_number="+15550001111")
    return list(SwitchboardAgent(config=offline_config(), caller=caller).tools)


async def _ask(model: ScriptedLLM, ctx: llm.ChatContext) -> tuple[str, list[llm.FunctionToolCall]]:
    text, calls = "", []
    async with model.chat(chat_ctx=ctx, tools=_tools()) as stream:
        async for chunk in stream:
            if chunk.delta:
                text += chunk.delta.content or ""
                calls += chunk.delta.tool_calls
    return text, calls


def _user(text: str) -> llm.ChatContext:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="system", content="sys")
    ctx.add_message(role="user", content=text)
    return ctx


def test_scripted_match() -> None:
    model = ScriptedLLM(DialogueScript.model_validate(SCRIPT))
    assert model.match("what are your opening hours").name == "hours"  # type: ignore[union-attr]
    assert model.match("Can I talk to a HUMAN?").name == "operator"  # type: ignore[union-attr]
    assert model.match("hoursss") is None  # whole words only
    assert model.match("") is None


async def test_scripted_reply_and_fallback() -> None:
    model = ScriptedLLM(DialogueScript.model_validate(SCRIPT))
    text, calls = await _ask(model, _user("when are you open"))
    assert text == SCRIPT["intents"][0]["reply"] and calls == []
    text, calls = await _ask(model, _user("tell me a joke"))
    assert text == SCRIPT["fallback"] and calls == []


async def test_scripted_tool_calls() -> None:
    model = ScriptedLLM(DialogueScript.model_validate(SCRIPT))
    text, calls = await _ask(model, _user("operator please"))
    assert text.startswith("Transferring")
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("transfer_call", {"target": "frontdesk"})
    ]
    text, calls = await _ask(model, _user("ok bye"))
    assert [c.name for c in calls] == ["end_call"]
    # after the tool ran, the script has nothing more to say
    ctx = _user("ok bye")
    ctx.insert(llm.FunctionCall(call_id="c1", name="end_call", arguments="{}"))
    ctx.insert(llm.FunctionCallOutput(call_id="c1", name="end_call", output="", is_error=False))
    assert await _ask(model, ctx) == ("", [])


async def test_flite_then_pocketsphinx_round_trip() -> None:
    _flite()
    tts = FliteTTS(voice="slt")
    stt = PocketsphinxSTT()
    frames = [ev.frame async for ev in tts.synthesize("What are your opening hours?")]
    assert frames and frames[0].sample_rate == 16000
    event = await stt.recognize(frames)
    text = event.alternatives[0].text
    assert "opening hours" in text, text


async def test_pocketsphinx_resamples_48k_stereo() -> None:
    _flite()
    pcm = await FliteTTS().synthesize_pcm16("goodbye")
    mono = rtc.AudioFrame(pcm, 16000, 1, len(pcm) // 2)
    up = rtc.AudioResampler(16000, 48000, num_channels=1)
    frames48 = [*up.push(mono), *up.flush()]
    data = b"".join(bytes(f.data) for f in frames48)

    samples = np.frombuffer(data, dtype=np.int16)
    stereo = np.repeat(samples, 2).tobytes()
    frame = rtc.AudioFrame(stereo, 48000, 2, len(samples))
    event = await PocketsphinxSTT().recognize([frame])
    assert "goodbye" in event.alternatives[0].text


def test_flite_rejects_missing_binary() -> None:
    with pytest.raises(ValueError, match="not found"):
        FliteTTS(binary="/nonexistent/flite")


def test_pocketsphinx_is_english_only() -> None:
    with pytest.raises(ValueError, match="English"):
        PocketsphinxSTT(language="de-DE")


async def test_pocketsphinx_streams_with_vad() -> None:
    _flite()
    pcm = await FliteTTS().synthesize_pcm16("What are your opening hours?")
    pcm = bytes(3200) + pcm + bytes(32000)  # 0.1 s before, 1 s of silence after
    model = PocketsphinxSTT(vad=silero.VAD.load())
    assert model.capabilities.streaming
    stream = model.stream()
    for i in range(0, len(pcm) - 320 + 1, 320):
        stream.push_frame(rtc.AudioFrame(pcm[i : i + 320], 16000, 1, 160))
    stream.end_input()
    events = [ev async for ev in stream]
    kinds = [ev.type for ev in events]
    assert kinds[0] == SpeechEventType.START_OF_SPEECH
    assert SpeechEventType.END_OF_SPEECH in kinds
    finals = [
        ev.alternatives[0].text for ev in events if ev.type == SpeechEventType.FINAL_TRANSCRIPT
    ]
    assert len(finals) == 1 and "opening hours" in finals[0], finals
    # the decoder is free again for batch use
    assert "opening hours" in model.transcribe_pcm16(pcm)


def _phone_line(pcm16k: bytes) -> bytes:
    """16 kHz speech through a phone line: down to 8 kHz and back, both without images."""
    frame = rtc.AudioFrame(pcm16k, 16000, 1, len(pcm16k) // 2)
    down = rtc.AudioResampler(16000, 8000, num_channels=1)
    narrow = b"".join(bytes(f.data) for f in [*down.push(frame), *down.flush()])
    up = rtc.AudioResampler(8000, 16000, num_channels=1)
    back = rtc.AudioFrame(narrow, 8000, 1, len(narrow) // 2)
    return b"".join(bytes(f.data) for f in [*up.push(back), *up.flush()])


def _upper_band_db(pcm: bytes) -> float:
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    power = np.abs(np.fft.rfft(x)) ** 2
    upper = power[np.fft.rfftfreq(x.size, 1 / 16000) >= 4000].sum()
    return float(10 * np.log10(upper / power.sum()))


async def test_phone_audio_is_widened_for_pocketsphinx() -> None:
    """Band-limited phone speech gets a folded upper band; wideband speech is left alone."""
    _flite()
    wide = await FliteTTS(voice="slt").synthesize_pcm16("Are you open on Monday?")
    phone = _phone_line(wide)
    assert _upper_band_db(phone) < NARROWBAND_DB < _upper_band_db(wide)
    assert widen_narrowband(wide) == wide
    widened = widen_narrowband(phone)
    assert len(widened) == len(phone) and _upper_band_db(widened) > NARROWBAND_DB
    assert widen_narrowband(bytes(32000)) == bytes(32000)  # digital silence stays silent
