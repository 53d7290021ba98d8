"""An in-process OTLP/HTTP trace receiver (protobuf) for the agent trace test."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from devstack.procs import free_port


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@dataclass
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]


@dataclass
class OtlpReceiver:
    """POST /v1/traces collector on 127.0.0.1; keeps raw bodies and decoded spans."""

    port: int = field(default_factory=free_port)
    bodies: list[bytes] = field(default_factory=list)
    spans: list[ReceivedSpan] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    self.spans.append(
                        ReceivedSpan(
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_id=s.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in s.attributes},
                            events=[
                                (e.name, {a.key: _value(a.value) for a in e.attributes})
                                for e in s.events
                            ],
                        )
                    )
        return web.Response(
            body=b"", content_type="application/x-protobuf", headers={"Content-Length": "0"}
        )

    async def roots(self, timeout: float = 30) -> list[ReceivedSpan]:
        """The root spans (one per call), once at least one has arrived: a job exports its
        trace as its root span ends, which is after the call's shutdown."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not (found := [s for s in self.spans if not s.parent_id]):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no root span within {timeout:.0f} s")
            await asyncio.sleep(0.2)
        return found

    async def start(self) -> OtlpReceiver:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
