"""Scripted LLM: follows a VoiceAgent's dialogue script by keyword. For demos, IVR flows, tests.

It does not understand language. Each user turn is matched against the intents in order; the
first intent with a keyword in the utterance wins, its reply is spoken and its action (if
any) becomes a tool call (`transfer_call` / `end_call`). Nothing matched: the fallback.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, llm, utils
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from switchboard_contract import DialogueScript, Intent

TRANSFER_TOOL = "transfer_call"
END_CALL_TOOL = "end_call"
_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class ScriptedLLM(llm.LLM[Literal["error"]]):
    """An `llm.LLM` whose answers come from a `DialogueScript` instead of a model."""

    def __init__(self, script: DialogueScript) -> None:
        super().__init__()
        self._script = script
        self._keywords = [
            (intent, [_words(k) for k in intent.keywords]) for intent in script.intents
        ]

    @property
    def model(self) -> str:
        return "dialogue-script"

    @property
    def provider(self) -> str:
        return "scripted"

    @property
    def script(self) -> DialogueScript:
        return self._script

    def match(self, text: str) -> Intent | None:
        """The first intent with a keyword (a word or phrase) contained in `text`."""
        words = _words(text)
        for intent, phrases in self._keywords:
            for phrase in phrases:
                n = len(phrase)
                if any(words[i : i + n] == phrase for i in range(len(words) - n + 1)):
                    return intent
        return None

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> ScriptedLLMStream:
        return ScriptedLLMStream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )


def _tool_names(tools: list[llm.Tool]) -> set[str]:
    names: set[str] = set()
    for tool in tools:
        if isinstance(tool, llm.Toolset):
            names |= {t.id for t in tool.tools}
        else:
            names.add(tool.id)
    return names


def _tokens(characters: int) -> int:
    return (characters + 3) // 4


class ScriptedLLMStream(llm.LLMStream):
    """One scripted answer: a text chunk, then at most one tool call."""

    def __init__(
        self,
        scripted: ScriptedLLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(scripted, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._scripted = scripted

    def _answer(self) -> tuple[str, llm.FunctionToolCall | None]:
        items = self._chat_ctx.items
        last = items[-1] if items else None
        if isinstance(last, llm.FunctionCallOutput | llm.FunctionCall):
            return "", None  # the action already ran: nothing more to say
        if not isinstance(last, llm.ChatMessage) or last.role != "user":
            return self._scripted.script.fallback, None
        intent = self._scripted.match(last.text_content or "")
        if intent is None:
            return self._scripted.script.fallback, None
        call = None
        available = _tool_names(self._tools)
        if intent.action is not None:
            name = TRANSFER_TOOL if intent.action.type == "transfer" else END_CALL_TOOL
            args = {"target": intent.action.target} if intent.action.type == "transfer" else {}
            if name in available:
                call = llm.FunctionToolCall(
                    name=name, arguments=json.dumps(args), call_id=utils.shortuuid("call_")
                )
        return intent.reply, call

    async def _run(self) -> None:
        text, call = self._answer()
        request_id = utils.shortuuid("scripted_")
        if text:
            delta = llm.ChoiceDelta(role="assistant", content=text)
            self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
        if call is not None:
            delta = llm.ChoiceDelta(role="assistant", tool_calls=[call])
            self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
        # usage as a hosted model reports it, so the call summary's token counts and cost
        # run the same path offline: tokens estimated at 4 characters each
        prompt = sum(len(m.text_content or "") for m in self._chat_ctx.messages())
        usage = llm.CompletionUsage(
            completion_tokens=_tokens(len(text)),
            prompt_tokens=_tokens(prompt),
            total_tokens=_tokens(len(text)) + _tokens(prompt),
        )
        self._event_ch.send_nowait(llm.ChatChunk(id=request_id, usage=usage))
