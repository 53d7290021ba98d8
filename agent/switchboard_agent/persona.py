"""The agent persona: instructions, greeting and the telephony tools (transfer, end call)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from livekit import api
from livekit.agents import Agent, RunContext, ToolError, get_job_context, llm
from livekit.agents.beta.tools import EndCallTool
from switchboard_contract import AgentConfig

from switchboard_agent import prompts
from switchboard_agent.caller_id import CallerInfo
from switchboard_agent.local.scripted_llm import TRANSFER_TOOL

logger = logging.getLogger("switchboard.agent")

# (caller identity, destination uri) -> transfer done
Transferer = Callable[[str, str], Awaitable[None]]


async def sip_refer(identity: str, uri: str) -> None:
    """Transfer the SIP participant `identity` of the current job's room (SIP REFER)."""
    job = get_job_context()
    await job.api.sip.transfer_sip_participant(
        api.TransferSIPParticipantRequest(
            room_name=job.room.name,
            participant_identity=identity,
            transfer_to=uri,
            play_dialtone=False,
        )
    )


def render_instructions(config: AgentConfig, caller: CallerInfo) -> str:
    names = ", ".join(t.name for t in config.transfer_targets)
    tools_help = "Call end_call when the caller is done or asks to hang up."
    if names:
        tools_help += f" Call {TRANSFER_TOOL} with one of these targets to transfer: {names}."
    return prompts.load("system.md").substitute(
        instructions=config.instructions.strip(),
        caller_context=caller.llm_context(redact=config.telemetry.redact_pii),
        tools_help=tools_help,
    )


class SwitchboardAgent(Agent):
    """One VoiceAgent's persona for one call."""

    def __init__(
        self,
        *,
        config: AgentConfig,
        caller: CallerInfo,
        transfer: Transferer = sip_refer,
        on_end_call: Callable[[], None] | None = None,
        on_transferred: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        self._caller = caller
        self._transfer = transfer
        self._on_end_call = on_end_call
        self._on_transferred = on_transferred
        # the room is deleted (hang-up) by the call lifecycle, after the goodbye played out
        end_call = EndCallTool(
            end_instructions=None, delete_room=on_end_call is None, on_tool_called=self._ending
        )
        tools: list[llm.Tool | llm.Toolset] = [end_call]
        if config.transfer_targets:
            names = ", ".join(t.name for t in config.transfer_targets)
            tools.append(
                llm.function_tool(
                    self.transfer_call,
                    name=TRANSFER_TOOL,
                    description=f"Transfer the caller to a person. target is one of: {names}.",
                )
            )
        super().__init__(instructions=render_instructions(config, caller), tools=tools)

    async def _ending(self, _: llm.Toolset.ToolCalledEvent) -> None:
        logger.info("end_call requested", extra=self._caller.log_fields())
        if self._on_end_call is not None:
            self._on_end_call()

    async def on_enter(self) -> None:
        greeting = self._config.greeting
        if greeting and self.session.tts is not None:
            self.session.say(greeting, allow_interruptions=False)
        elif greeting:  # realtime model without TTS: let the model say it
            self.session.generate_reply(instructions=f"Greet the caller with: {greeting}")
        else:
            self.session.generate_reply(instructions="Greet the caller briefly.")

    async def transfer_call(self, context: RunContext[Any], target: str) -> None:
        """Transfer the caller to a configured target (the caller leaves the room)."""
        dest = self._config.transfer_target(target)
        if dest is None:
            names = ", ".join(t.name for t in self._config.transfer_targets)
            raise ToolError(f"unknown transfer target {target!r}; use one of: {names}")
        if not self._caller.is_sip:
            raise ToolError("only phone callers can be transferred")
        await context.wait_for_playout()
        logger.info("transferring call", extra={**self._caller.log_fields(), "target": dest.name})
        try:
            await self._transfer(self._caller.identity, dest.uri)
        except api.TwirpError as e:
            logger.warning("transfer failed", extra={"target": dest.name, "code": e.code})
            raise ToolError("the transfer failed") from e
        if self._on_transferred is not None:
            self._on_transferred()
