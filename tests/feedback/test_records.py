"""The pure pieces of the feedback check: timestamps, formats, odd CSV quoting."""

from __future__ import annotations

import datetime as dt

from hypothesis import example, given
from hypothesis import strategies as st

from txcat import reasons
from txcat.feedback import records as R

NOT_AFTER = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)


@given(
    st.datetimes(
        min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9000, 1, 1), timezones=OFFSETS
    )
)
def test_an_iso_timestamp_parses_to_the_same_instant_in_utc(moment):
    parsed = R.parse_timestamp(moment.isoformat())

    assert parsed == moment
    assert parsed is not None and parsed.utcoffset() == dt.timedelta(0)


@given(st.text(max_size=30))
@example("0001-01-01T00:00:00+14:00")
@example("9999-12-31T23:59:59-01:00")
def test_parse_timestamp_never_raises(text):
    parsed = R.parse_timestamp(text)

    assert parsed is None or parsed.tzinfo is not None


def test_a_trailing_z_and_no_offset_both_mean_utc():
    expected = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)

    assert R.parse_timestamp("2026-11-29T10:00:00Z") == expected
    assert R.parse_timestamp(" 2026-11-29 10:00 ") == expected


def test_the_format_comes_from_the_extension_else_the_first_line():
    assert R.detect_format("s3://b/fb.JSONL", [b"row_id,category"]) == R.JSONL
    assert R.detect_format("fb.csv", [b'{"row_id": "r1"}']) == R.CSV
    assert R.detect_format("fb.txt", [b"", b' {"row_id": "r1"}']) == R.JSONL
    assert R.detect_format("fb.txt", [b"row_id,category,corrected_at"]) == R.CSV


def test_an_unterminated_quote_is_a_field_count_rejection():
    data = (
        b'row_id,category,corrected_at\n"r1,VAREJO,2026-11-29T10:00Z\nr2,VAREJO,2026-11-29T10:00Z\n'
    )

    checked = R.check(data, "fb.csv", NOT_AFTER)

    assert [(r.line_number, r.reason) for r in checked.rejections] == [(2, reasons.FIELD_COUNT)]
    assert [c.row_id for c in checked.corrections] == ["r2"]
    assert checked.records_read == 2


def test_quoted_fields_with_the_separator_are_read():
    data = b'row_id,category,corrected_at,source\nr1,VAREJO,2026-11-29T10:00Z,"app, ios"\n'

    checked = R.check(data, "fb.csv", NOT_AFTER)

    assert [(c.row_id, c.source) for c in checked.corrections] == [("r1", "app, ios")]


def test_an_empty_file_reads_nothing_and_refuses_nothing():
    checked = R.check(b"", "fb.csv", NOT_AFTER)

    assert (checked.records_read, checked.corrections, checked.rejections) == (0, [], [])
    assert checked.refused is None
