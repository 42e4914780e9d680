"""The pure SSE parser: lists of byte chunks in, events out (spec 9.2.6)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from julep_nb.sources.julep.sse_parser import ServerSentEvent, SSEParser

STREAM = (
    "\ufeff: hello\n"
    "retry: 1500\n"
    "id: 1\n"
    'data: {"a": "héllo ✓"}\n\n'
    ": ping\n\n"
    "event: update\r\n"
    "id: 2\r\n"
    "data: line one\r\n"
    "data:line two\r\r"
    "data\n\n"
    "id\n"
    "data: after reset\n\n"
).encode()


def parse(chunks: list[bytes], last_event_id: str | None = None) -> list[ServerSentEvent]:
    parser = SSEParser(last_event_id)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events + parser.close()


def shape(events: list[ServerSentEvent]) -> list[tuple[str, str, str]]:
    return [(e.event, e.data, e.id) for e in events]


EXPECTED = [
    ("message", '{"a": "héllo ✓"}', "1"),
    ("update", "line one\nline two", "2"),
    ("message", "after reset", ""),
]


def test_one_chunk():
    assert shape(parse([STREAM])) == EXPECTED


def test_every_two_way_split_gives_the_same_events():
    for cut in range(len(STREAM) + 1):
        assert shape(parse([STREAM[:cut], STREAM[cut:]])) == EXPECTED, cut


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_gives_the_same_events(cuts):
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in zip(points, points[1:], strict=False)]
    assert shape(parse(chunks)) == EXPECTED


def test_byte_at_a_time():
    assert shape(parse([STREAM[i : i + 1] for i in range(len(STREAM))])) == EXPECTED


def test_retry_is_read_and_bad_values_ignored():
    parser = SSEParser()
    parser.feed(b"retry: 1500\n\n")
    assert parser.retry == 1.5
    parser.feed(b"retry: 2s\n\nretry: -1\n\nretry: \xd9\xa3\n\n")  # Arabic-Indic digit
    assert parser.retry == 1.5


def test_no_phantom_event_for_a_comment_after_an_id():
    assert shape(parse([b"id: 7\ndata: x\n\n: ping\n\n: ping\n\n"])) == [("message", "x", "7")]


def test_blocks_without_data_dispatch_nothing():
    assert parse([b"id: 3\n\nevent: foo\n\nretry: 10\n\ndata:\n\n"]) == []


def test_half_an_event_at_the_end_is_discarded():
    assert shape(parse([b"data: a\n\ndata: b\n"])) == [("message", "a", "")]
    assert shape(parse([b"data: a\n\ndata: b"])) == [("message", "a", "")]


def test_a_cr_held_back_at_the_end_still_ends_the_line():
    assert shape(parse([b"data: a\n\r"])) == [("message", "a", "")]


def test_last_event_id_carries_over_and_nul_ids_are_ignored():
    events = parse([b"data: a\n\nid: 9\x00\ndata: b\n\n"], last_event_id="5")
    assert [e.id for e in events] == ["5", "5"]


def test_a_second_bom_is_data():
    assert parse([b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n"]) == []  # field name "\ufeffdata"
    assert shape(parse([b"data: \xef\xbb\xbfa\n\n"])) == [("message", "\ufeffa", "")]


def test_reset_drops_a_half_event_but_keeps_retry():
    parser = SSEParser()
    parser.feed(b"retry: 100\ndata: half")
    parser.reset("4")
    assert shape(parser.feed(b"data: whole\n\n")) == [("message", "whole", "4")]
    assert parser.retry == 0.1
