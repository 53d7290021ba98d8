"""Unit tests of bench paths' timing: utterance ends and turn latencies from level series."""

from __future__ import annotations

import pytest

from bench.paths_bench import ANSWER_S, LOUD, speech_ends, turn_latencies

pytestmark = pytest.mark.unit

BLOCK = 0.01


def series(loud_spans: list[tuple[float, float]], until: float) -> list[tuple[float, float]]:
    """10 ms blocks from 0 to `until`, loud inside the spans and quiet elsewhere."""
    out = []
    for i in range(int(until / BLOCK)):
        t = i * BLOCK
        hot = any(a <= t < b for a, b in loud_spans)
        out.append((t, LOUD * 3 if hot else LOUD / 10))
    return out


def test_an_utterance_ends_after_its_last_loud_block_not_inside_a_short_pause() -> None:
    # "are you open" 0.2 s pause "on monday": one utterance; a second one later
    mic = series([(5.0, 5.8), (6.0, 6.5), (16.0, 17.0)], until=20.0)
    assert speech_ends(mic) == pytest.approx([6.5, 17.0], abs=BLOCK / 2)


def test_an_utterance_still_under_way_when_the_series_stops_is_not_counted() -> None:
    assert speech_ends(series([(1.0, 2.0), (3.0, 3.99)], until=4.0)) == pytest.approx([2.0])
    assert speech_ends([]) == []


def test_each_question_is_timed_to_the_first_loud_block_after_it() -> None:
    agent = series([(7.3, 8.5), (17.9, 19.0)], until=30.0)
    got = turn_latencies([6.5, 17.0], agent)
    assert got == pytest.approx([0.8, 0.9], abs=BLOCK / 2)


def test_questions_talked_over_or_unanswered_or_too_late_to_tell() -> None:
    # the greeting runs over the first question: not a turn; the second gets no answer within
    # ANSWER_S (the reply at +7 s is not its answer); the third is too close to the end to tell
    agent = series([(0.5, 3.2), (12.0 + ANSWER_S + 1, 20.0)], until=24.0)
    assert turn_latencies([3.0, 12.0, 21.0], agent) == [None]
    assert turn_latencies([3.0], []) == [None]
