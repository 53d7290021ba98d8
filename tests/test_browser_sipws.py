"""browser + sip tiers: a JsSIP softphone in chromium calls a VoiceAgent's number over WebSocket.

The path is the one `sbc.enabled` deploys: Kamailio (the chart's kamailio.cfg, rendered by
helm) takes REGISTER and INVITE over WebSocket, rtpengine turns the browser's DTLS-SRTP/ICE
into RTP, livekit-sip answers on the SipTrunk the operator made, and the VoiceAgent's worker
greets. The channel comes through as sipws, from the SBC's header to the worker's trace.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from switchboard_contract.channels import ATTR_CHANNEL, SBC_CHANNEL_HEADER

from devstack import tools
from devstack.sbc import Sbc
from tests.fixtures.browser import PageFactory, caller_wav
from tests.support.agent_otlp import OtlpReceiver
from tests.support.kube import wait_for
from tests.support.local_site import LocalSite
from tests.support.phrases import GREETING, HOURS, LineMatcher, speech_stretches
from tests.support.sip_stack import QUESTION, SipStack, sip_trunk, voice_agent
from tests.support.voiceagent_stack import NUMBER

pytestmark = [pytest.mark.browser, pytest.mark.sip, pytest.mark.timeout(300)]

PHONE_JS = Path(__file__).resolve().parent / "support" / "sipws_phone.js"
DOMAIN = "switchboard.local"
PAGE = '<!doctype html><script src="/jssip.js"></script><script src="/phone.js"></script>'


async def test_jssip_registers_calls_the_number_and_hangs_up(
    sip_stack: SipStack, browser_page: PageFactory, tmp_path: Path
) -> None:
    jssip = tools.jssip()
    if not jssip.exists():
        pytest.fail(f"{jssip} missing (make tools builds it with the widget)")
    otlp = await OtlpReceiver().start()
    # the trunk believes the SBC's channel header; livekit-sip makes it an attribute
    sip_stack.apply(
        sip_trunk(headersToAttributes={SBC_CHANNEL_HEADER: ATTR_CHANNEL}),
        voice_agent(otlp=otlp.endpoint),
    )
    worker = sip_stack.start_worker()
    sbc = Sbc(tmp_path / "sbc", f"127.0.0.1:{sip_stack.bridge.port}", domain=DOMAIN).start()
    site = await LocalSite({"jssip.js": jssip, "phone.js": PHONE_JS}).start()
    try:
        page = await browser_page(caller_wav(tmp_path / "caller.wav", QUESTION, 6, 4))
        await page.goto(
            site.page('<script src="/jssip.js"></script><script src="/phone.js"></script>')
        )
        await call(page, sbc)
        await talk(page, sip_stack, otlp, worker)
    finally:
        sbc.stop()
        await site.stop()
        await otlp.stop()


async def call(page: Any, sbc: Sbc) -> None:
    """REGISTER, then INVITE the number: answered (the page's log says how it went)."""
    try:
        state = await page.evaluate(f"phone.call('{sbc.ws_url}', '{DOMAIN}', 'alice', '{NUMBER}')")
    except PlaywrightError as err:  # the page's rejection: shown with the SBC's logs
        pytest.fail(
            f"the softphone's call failed: {err}\n{await page.evaluate('phone.log')}\n"
            f"kamailio:\n{sbc.log('kamailio')[-3000:]}\nrtpengine:\n{sbc.log('rtpengine')[-2000:]}"
        )
    assert state == "confirmed"
    assert (await page.evaluate("phone.log"))[0] == "registered"


async def talk(page: Any, sip_stack: SipStack, otlp: OtlpReceiver, worker: Any) -> None:
    """The greeting is heard in the page; the spoken question gets the scripted answer."""
    wait_for(lambda: sip_stack.status().get("activeCalls") == 1, "the operator counts the call")
    # the greeting, then the question (6 s in, again every 11.5 s: three tries) and answers
    await asyncio.sleep(32)
    pcm = base64.b64decode(await page.evaluate("window.__capture.stop()"))
    lines = LineMatcher()
    heard = [lines.which(stretch) for stretch in speech_stretches(pcm)]
    assert heard[0] == GREETING, heard
    assert HOURS in heard[1:], heard
    await page.evaluate("phone.hangUp()")
    wait_for(lambda: worker.worker_info().get("active_jobs", 0) == 0, "the job ends")
    wait_for(lambda: sip_stack.status().get("activeCalls", 0) == 0, "the operator's count drops")
    for _ in range(100):
        roots = [span for span in otlp.spans if not span.parent_id]
        if roots:
            break
        await asyncio.sleep(0.2)
    assert [r.attributes.get(ATTR_CHANNEL) for r in roots] == ["sipws"]
