"""`make call`: a real SIP call to the `make up` stack; prints the transcript and timings."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from devstack.runstate import RunState
from devstack.sipua.audio import Transcriber, flite_prompt
from devstack.sipua.dialog import converse
from devstack.sipua.rtp import write_wav
from devstack.sipua.ua import CallRejected, SipUA
from devstack.tools import REPO

DEFAULT_QUESTION = "Are you open on Monday?"
DEFAULT_CALLER = "+15557770100"


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds is not None else "-"


async def place(uri: str, question: str, caller: str, record: Path) -> int:
    transcribe = Transcriber()
    ua = await SipUA(user="make-call").start()
    try:
        print(f"calling {uri} from {caller} (a SIP UA on 127.0.0.1:{ua.port}, PCMU)")
        conv = await converse(ua, uri, flite_prompt(question), caller=caller)
    except CallRejected as err:
        print(f"the call was rejected: SIP {err}", file=sys.stderr)
        return 1
    except (TimeoutError, ConnectionError) as err:
        print(f"the call did not complete: {err}", file=sys.stderr)
        return 1
    finally:
        await ua.close()
    write_wav(record, conv.recording)
    print(f"  INVITE -> 200 OK          {_ms(conv.invite_to_ok)}")
    print(f"  INVITE -> greeting audio  {_ms(conv.invite_to_greeting)}")
    if conv.greeting is not None:
        print(f"  agent:  {transcribe(conv.greeting.pcm)!r}")
    print(f"  caller: {question!r}")
    print(f"  end of question -> answer {_ms(conv.speech_end_to_answer)}")
    if conv.answer is not None:
        print(f"  agent:  {transcribe(conv.answer.pcm)!r}")
    print(f"recorded what the agent said: {record}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make call", description=__doc__)
    parser.add_argument("--run-dir", type=Path, default=REPO / ".run")
    parser.add_argument("--number", help="the number to call (default: the example trunk's)")
    parser.add_argument("--question", default=DEFAULT_QUESTION, help="spoken by flite")
    parser.add_argument("--caller", default=DEFAULT_CALLER, help="the From number")
    parser.add_argument("--record", type=Path, help="WAV of what the agent said")
    args = parser.parse_args(argv)
    state = RunState.load(args.run_dir.resolve())
    sip = (state.info.get("sip") if state else None) or {}
    alive = state is not None and any(
        c.name == "livekit-sip" and c.alive() for c in state.components
    )
    if not sip or not alive:
        print(
            "the stack is not up (no running livekit-sip in .run/state.json): `make up` first",
            file=sys.stderr,
        )
        return 2
    numbers = state.info.get("numbers") or [] if state else []
    number = args.number or (numbers[0] if numbers else None)
    if number is None:
        print("no number to call: pass NUMBER=+1555...", file=sys.stderr)
        return 2
    record = args.record or args.run_dir / f"call-{time.strftime('%Y%m%d-%H%M%S')}.wav"
    uri = f"sip:{number}@{sip['host']}:{sip['port']}"
    return asyncio.run(place(uri, args.question, args.caller, record))


if __name__ == "__main__":
    raise SystemExit(main())
