import asyncio
import pytest
from devstack.sipua.audio import Transcriber, flite_prompt, next_utterance
from devstack.sipua.ua import SipUA
from tests.support.sip_stack import CALLER, SipStack, sip_trunk, voice_agent
from tests.support.voiceagent_stack import NUMBER
pytestmark = [pytest.mark.sip, pytest.mark.timeout(300)]
PHRASES = ["Are you open on Monday?", "Transfer me please.", "Can I talk to someone?", "Let me speak to a human.", "Connect me to the front desk.", "Reception please.", "That is all, goodbye.", "Thank you, bye bye.", "Please hang up.", "I am done, thank you.", "Hang up the call.", "Transfer.", "Human."]
async def test_dbg(sip_stack: SipStack, sip_ua: SipUA) -> None:
    sip_stack.apply(sip_trunk(), voice_agent())
    sip_stack.start_worker()
    call = await sip_ua.invite(sip_stack.bridge.uri(NUMBER), caller=CALLER)
    await next_utterance(call.rtp, call.answered_at, 60, call.ended)
    for p in PHRASES:
        call.rtp.play(flite_prompt(p))
        await asyncio.sleep(7)
