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


async def _serve(url: str, key: str, secret: str, rooms: list[str]) -> None:
    async def one(room: str) -> rtc.Room:
        bot = await echo(url, key, secret, room, hearing_within_s=60)
        print(f"hearing {room}", flush=True)
        return bot

    bots = await asyncio.gather(*(one(room) for room in rooms))  # all join at once
    print(f"echoing {len(bots)} rooms", flush=True)
    await asyncio.Event().wait()  # until SIGTERM


def main(argv: list[str]) -> int:
    """`python -m tests.support.echo_agent URL KEY SECRET ROOM...`: an echo per room, in a
    process of its own, so many echoes do not starve the test's own loop (ten in the test
    process missed LiveKit's pings on a loaded 2-core box and dropped out)."""
    url, key, secret, *rooms = argv
    asyncio.run(_serve(url, key, secret, rooms))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
