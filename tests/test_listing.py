"""The input listing on the driver: links, copies in progress, one file or account read once."""

from __future__ import annotations

import os
from pathlib import Path

from txcat import reasons, storage
from txcat.inputs import listing


def _touch(folder: Path, name: str, content: bytes = b"x\n") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _uri(path: Path) -> str:
    return f"file:{path}"


def _verdicts(scan: listing.LocalScan) -> dict[str, tuple[str, str]]:
    return {r.path: (r.reason, r.detail) for r in scan.rejected}


def test_a_plain_folder_is_read_as_spark_lists_it(tmp_path):
    a = _touch(tmp_path, "a.csv")
    b = _touch(tmp_path, "sub/b.csv")
    _touch(tmp_path, "_SUCCESS")
    _touch(tmp_path, ".DS_Store")
    _touch(tmp_path, ".hidden/c.csv")
    scan = listing.scan_local(str(tmp_path))
    assert scan == listing.LocalScan((_uri(a), _uri(b)), (), 3, False)


def test_a_folder_link_is_never_followed(tmp_path):
    landing = tmp_path / "landing"
    files = [_touch(landing, f"{n}.csv") for n in "abc"]
    _touch(tmp_path, "yesterday/d.csv")
    (landing / "loop").symlink_to(".")
    (landing / "yesterday").symlink_to(tmp_path / "yesterday")
    scan = listing.scan_local(str(landing))
    assert scan.files == tuple(_uri(f) for f in files)
    assert _verdicts(scan) == {
        _uri(landing / "loop"): (reasons.SYMLINK_FOLDER, "link to folder ., not followed"),
        _uri(landing / "yesterday"): (
            reasons.SYMLINK_FOLDER,
            f"link to folder {tmp_path / 'yesterday'}, not followed",
        ),
    }
    assert scan.spark_would_differ


def test_one_physical_file_is_read_once(tmp_path):
    a = _touch(tmp_path, "a.csv")
    (tmp_path / "link_to_a.csv").symlink_to("a.csv")
    os.link(a, tmp_path / "hard_a.csv")
    outside = _touch(tmp_path.parent / f"{tmp_path.name}-outside", "o.csv")
    (tmp_path / "o1.csv").symlink_to(outside)
    (tmp_path / "o2.csv").symlink_to(outside)
    scan = listing.scan_local(str(tmp_path))
    # The plain path wins over a link; between plain paths (hard links) or between links,
    # sorted order.
    assert scan.files == (_uri(a), _uri(tmp_path / "o1.csv"))
    assert _verdicts(scan) == {
        _uri(tmp_path / "hard_a.csv"): (reasons.DUPLICATE_FILE, f"same file as {_uri(a)}"),
        _uri(tmp_path / "link_to_a.csv"): (reasons.DUPLICATE_FILE, f"same file as {_uri(a)}"),
        _uri(tmp_path / "o2.csv"): (
            reasons.DUPLICATE_FILE,
            f"same file as {_uri(tmp_path / 'o1.csv')}",
        ),
    }


def test_broken_links_and_uploads_in_progress_get_a_record(tmp_path):
    a = _touch(tmp_path, "a.csv")
    _touch(tmp_path, "b.csv._COPYING_")
    (tmp_path / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    (tmp_path / "x.csv").symlink_to("y.csv")
    (tmp_path / "y.csv").symlink_to("x.csv")
    scan = listing.scan_local(str(tmp_path))
    assert scan.files == (_uri(a),)
    assert _verdicts(scan) == {
        _uri(tmp_path / "b.csv._COPYING_"): (
            reasons.INCOMPLETE_UPLOAD,
            "upload in progress (name ends with ._COPYING_)",
        ),
        _uri(tmp_path / "gone.csv"): (
            reasons.BROKEN_SYMLINK,
            f"link to {tmp_path / 'nowhere.csv'}, which does not exist",
        ),
        _uri(tmp_path / "x.csv"): (reasons.BROKEN_SYMLINK, "link to y.csv, which does not exist"),
        _uri(tmp_path / "y.csv"): (reasons.BROKEN_SYMLINK, "link to x.csv, which does not exist"),
    }


def test_the_input_itself_may_be_a_link_or_a_file_uri(tmp_path):
    a = _touch(tmp_path, "2026-11-25/a.csv")
    (tmp_path / "today").symlink_to("2026-11-25")
    scan = listing.scan_local(f"file://{tmp_path}/today")
    assert scan.files == (_uri(tmp_path / "today" / "a.csv"),)
    assert listing.scan_local(str(a)).files == (_uri(a),)
    assert listing.scan_local(str(tmp_path / "missing")) is None


def test_one_account_listed_twice_keeps_the_first_path_in_sorted_order():
    paths = [
        "file:/d/sub/a.csv",
        "file:/d/a.csv",
        "file:/d/a.csv.gz",
        "file:/d/b.CSV",
        "file:/d/x/b.csv",
        "file:/d/c.csv",
        "file:/d/c.txt",
    ]
    rejected = listing.duplicate_accounts(paths, (".csv", ".csv.gz"))
    assert [(r.path, r.reason, r.detail) for r in rejected] == [
        ("file:/d/a.csv.gz", reasons.DUPLICATE_ACCOUNT, "account a also in file:/d/a.csv"),
        ("file:/d/sub/a.csv", reasons.DUPLICATE_ACCOUNT, "account a also in file:/d/a.csv"),
        ("file:/d/x/b.csv", reasons.DUPLICATE_ACCOUNT, "account b also in file:/d/b.CSV"),
    ]


def test_spark_listing_uris_are_decoded_to_the_path_column_form():
    listed = [
        "file:///d/conta%20%C3%A7%231%2520x;y.csv",
        "file:///d/conta%20ç%231%2520x;y.csv",
        "s3a://b/k%20x.csv",
    ]
    assert listing.from_input_files(listed) == [
        "file:/d/conta ç#1%20x;y.csv",
        "file:/d/conta ç#1%20x;y.csv",
        "s3a://b/k x.csv",
    ]
    assert listing.normalise("/d/a.csv") == listing.normalise("file:///d/a.csv") == "file:/d/a.csv"


def test_only_local_inputs_are_scanned():
    assert listing.is_local("/data/landing") and listing.is_local("file:///data/landing")
    assert listing.is_local("data/landing")
    assert not listing.is_local("s3://bucket/landing") and not listing.is_local("hdfs://nn/x")


def test_paths_are_read_literally():
    assert storage.literal_path("/d/day[1]/a*b?{c}\\.csv") == r"/d/day\[1\]/a\*b\?\{c\}\\.csv"
    assert storage.literal_path("s3://b/plain/a.csv") == "s3://b/plain/a.csv"
