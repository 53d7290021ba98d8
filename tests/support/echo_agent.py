"""An echo participant of kind agent: what it hears it sends back (a stand-in for the agent)."""

from __future__ import annotations

import asyncio

from livekit import api, rtc

RATE = 16000


async def echo(
    url: str, key: str, secret: str, room: str, hearing_within_s: float | None = None
) -> rtc.Room:
    """Join `room` as kind agent (so the gateway takes its track as the agent's) and echo.

    With `hearing_within_s` (the caller joined first), it returns only once it hears the
    caller's track, so audio sent after that is echoed: under load that takes seconds."""
    token = (
        api.AccessToken(key, secret)
        .with_identity("echo")
        .with_kind("agent")
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )
    lk = rtc.Room()
    source = rtc.AudioSource(RATE, 1, queue_size_ms=50)
    tasks: set[asyncio.Task[None]] = set()
    hearing = asyncio.Event()

    async def forward(track: rtc.Track) -> None:
        async for ev in rtc.AudioStream(track, sample_rate=RATE, num_channels=1, frame_size_ms=10):
            await source.capture_frame(ev.frame)

    def on_track(track: rtc.Track, *_: object) -> None:
        task = asyncio.ensure_future(forward(track))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        hearing.set()

    lk.on("track_subscribed", on_track)
    await lk.connect(url, token)
    track = rtc.LocalAudioTrack.create_audio_track("echo", source)
    await lk.local_participant.publish_track(
        track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    )
    if hearing_within_s is not None:
        await asyncio.wait_for(hearing.wait(), hearing_within_s)
    return lk
