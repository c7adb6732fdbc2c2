"""Quarantine reason codes: stable strings that dashboards and alerts key on."""

from __future__ import annotations

# A whole file is rejected (one quarantine record, level "file").
UNSUPPORTED_FILE = "unsupported_file"
EMPTY_FILE = "empty_file"
CORRUPT_GZIP = "corrupt_gzip"
UNSUPPORTED_ENCODING = "unsupported_encoding"
BINARY_CONTENT = "binary_content"
WRONG_SEPARATOR = "wrong_separator"
BAD_HEADER = "bad_header"
MISSING_COLUMNS = "missing_columns"
HEADER_ONLY = "header_only"
# A manifest's object no longer matches its entry (missing, other size or ETag) when the boto3
# reader fetches it; the daily run fails on it (`txcat.inputs.objects.raise_on_changed_objects`).
OBJECT_CHANGED = "object_changed"
# Decided on the driver from the listing, before Spark reads anything (`txcat.inputs.listing`).
SYMLINK_FOLDER = "symlink_folder"
BROKEN_SYMLINK = "broken_symlink"
INCOMPLETE_UPLOAD = "incomplete_upload"
DUPLICATE_FILE = "duplicate_file"
DUPLICATE_ACCOUNT = "duplicate_account"

FILE_REASONS = (
    UNSUPPORTED_FILE,
    EMPTY_FILE,
    CORRUPT_GZIP,
    UNSUPPORTED_ENCODING,
    BINARY_CONTENT,
    WRONG_SEPARATOR,
    BAD_HEADER,
    MISSING_COLUMNS,
    HEADER_ONLY,
    OBJECT_CHANGED,
    SYMLINK_FOLDER,
    BROKEN_SYMLINK,
    INCOMPLETE_UPLOAD,
    DUPLICATE_FILE,
    DUPLICATE_ACCOUNT,
)

# One line is rejected (level "row").
BLANK_LINE = "blank_line"
FIELD_COUNT = "field_count"
BAD_AMOUNT = "bad_amount"
BAD_DATE = "bad_date"
FUTURE_DATE = "future_date"
DATE_TOO_OLD = "date_too_old"
DUPLICATE_ROW = "duplicate_row"

ROW_REASONS = (
    BLANK_LINE,
    FIELD_COUNT,
    BAD_AMOUNT,
    BAD_DATE,
    FUTURE_DATE,
    DATE_TOO_OLD,
    DUPLICATE_ROW,
)

# --- User feedback (`txcat feedback import`): its own quarantine, same level/reason layout ---

# The whole feedback file is refused (one record, level "file"; the command exits 2).
# UNSUPPORTED_ENCODING, BINARY_CONTENT and MISSING_COLUMNS above keep their meaning there.
EXTRA_COLUMNS = "extra_columns"

FEEDBACK_FILE_REASONS = (UNSUPPORTED_ENCODING, BINARY_CONTENT, MISSING_COLUMNS, EXTRA_COLUMNS)

# One correction is refused (level "row"). BLANK_LINE, FIELD_COUNT and UNSUPPORTED_ENCODING
# (a line that is not UTF-8), MISSING_COLUMNS and EXTRA_COLUMNS (JSON keys) keep their meaning.
MALFORMED_RECORD = "malformed_record"
UNKNOWN_CATEGORY = "unknown_category"
BAD_TIMESTAMP = "bad_timestamp"
FUTURE_TIMESTAMP = "future_timestamp"
UNKNOWN_ROW_ID = "unknown_row_id"
DUPLICATE_FEEDBACK = "duplicate_feedback"

FEEDBACK_ROW_REASONS = (
    BLANK_LINE,
    UNSUPPORTED_ENCODING,
    FIELD_COUNT,
    MALFORMED_RECORD,
    MISSING_COLUMNS,
    EXTRA_COLUMNS,
    UNKNOWN_CATEGORY,
    BAD_TIMESTAMP,
    FUTURE_TIMESTAMP,
    UNKNOWN_ROW_ID,
    DUPLICATE_FEEDBACK,
)
