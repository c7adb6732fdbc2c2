"""Which files a run reads: the input listing, decided on the driver before Spark reads.

Spark's own listing of a local folder follows folder links (a `loop -> .` link is read again
about 40 levels deep), reads a file and a link to it as two files, and leaves out, without a
word, uploads in progress (`*._COPYING_`) and broken links. So a local input (a plain path or
`file:`) is scanned here first, without following folder links:

* a folder link is not followed: one `symlink_folder` record (detail: its target);
* a file link is followed once; the physical file (device, inode) is read once, under the
  plain path when there is one, else the first path in sorted order; every other path of it
  (link, hard link) gets a `duplicate_file` record naming the path kept;
* a broken link gets `broken_symlink`, an upload in progress `incomplete_upload`;
* hidden names (`_*`, `.*`, Spark's rule) are not data: counted, not listed.

When the scan finds nothing Spark would read differently, Spark still lists the folder itself
(one path, the fast way); otherwise it is given the scan's explicit list of files. Object
stores have no links: their listing is Spark's alone.

On every input, the same account listed twice (`a.csv` and `sub/a.csv`, or `a.csv` and
`a.csv.gz`) would be scored as two accounts, since per-account aggregates are per file: the
first path in sorted order is kept, the others get `duplicate_account`.

Paths are compared in the form of Spark's `path` column (`file:/data/a b.csv`, not
URL-encoded); `from_input_files` turns `DataFrame.inputFiles()` URIs into that form.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from txcat import reasons

COPYING_SUFFIX = "._COPYING_"
_UPLOAD_IN_PROGRESS = f"upload in progress (name ends with {COPYING_SUFFIX})"
_ACCOUNT_SUFFIX = re.compile(r"(?i)(\.csv)?(\.gz)?$")


@dataclass(frozen=True)
class Rejected:
    """A listed path that is not read: one file-level quarantine record."""

    path: str
    reason: str
    detail: str


@dataclass(frozen=True)
class LocalScan:
    """What a local folder holds, each physical file once.

    Attributes:
        files: Paths to read (Spark's `path` form), sorted.
        rejected: Paths not read, each with its reason.
        hidden: Hidden names skipped (a hidden folder counts once).
        spark_would_differ: Spark's own listing would read something else (a folder link, a
            file reached twice, a file that is not a regular file): give it `files` instead.
    """

    files: tuple[str, ...]
    rejected: tuple[Rejected, ...]
    hidden: int
    spark_would_differ: bool


@dataclass(frozen=True)
class Listing:
    """Every file a run considered: the ones Spark read, and the ones set aside with a reason.

    `hidden` is None where nothing was scanned (object stores, manifests).
    """

    read: tuple[str, ...]
    rejected: tuple[Rejected, ...] = ()
    hidden: int | None = None

    @property
    def files(self) -> int:
        return len(self.read) + len(self.rejected)


def is_local(uri: str) -> bool:
    """A plain path or a `file:` URI (the only inputs that can hold links)."""
    return uri.startswith("file:") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", uri) is None


def normalise(path: str) -> str:
    """`/a`, `file:///a` and `file:/a` -> `file:/a` (Spark's `path` column); others unchanged."""
    if path.startswith("/"):
        path = "file:" + path
    return re.sub(r"^file:/+", "file:/", path)


def from_input_files(uris: Iterable[str]) -> list[str]:
    """`DataFrame.inputFiles()` URIs (URL-encoded: `a%20b%23.csv`) in Spark's `path` form."""
    return [normalise(unquote(uri)) for uri in uris]


def account_of(path: str) -> str:
    """The account a file holds: its name without `.csv` / `.csv.gz` (as the read stage does)."""
    return _ACCOUNT_SUFFIX.sub("", path.rsplit("/", 1)[-1], count=1)


def is_hidden(name: str) -> bool:
    """Spark's rule for names that are not data (`_SUCCESS`, `.DS_Store`; `a=b` partitions and
    `_metadata` files are kept)."""
    excluded = (name.startswith("_") and "=" not in name) or name.startswith(".")
    return excluded and not name.startswith(("_common_metadata", "_metadata"))


def scan_local(root: str) -> LocalScan | None:
    """Lists a local folder without following folder links; None when `root` does not exist.

    `root` itself may be a link (a `today -> 2026-11-25` folder): it is the input as given.
    """
    # abspath, not Path.resolve: the input's own links are kept as given.
    top = os.path.abspath(root.removeprefix("file:"))  # noqa: PTH100
    top = re.sub(r"^/+", "/", top)
    if not Path(top).exists():
        return None
    if not Path(top).is_dir():
        return LocalScan((normalise(top),), (), 0, False)
    scan = _Scan()
    scan.folder(top)
    return scan.result()


class _Scan:
    def __init__(self) -> None:
        self.rejected: list[Rejected] = []
        self.hidden = 0
        self.differs = False
        # (device, inode) -> [(is_link, path)]
        self.physical: dict[tuple[int, int], list[tuple[bool, str]]] = {}

    def folder(self, path: str) -> None:
        with os.scandir(path) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                self.entry(entry)

    def entry(self, entry: os.DirEntry[str]) -> None:
        path = normalise(entry.path)
        if is_hidden(entry.name):
            self.hidden += 1
            return
        if entry.name.endswith(COPYING_SUFFIX):
            self.reject(path, reasons.INCOMPLETE_UPLOAD, _UPLOAD_IN_PROGRESS)
            return
        if entry.is_symlink():
            self.link(entry, path)
        elif entry.is_dir(follow_symlinks=False):
            self.folder(entry.path)
        elif entry.is_file(follow_symlinks=False):
            stat = entry.stat(follow_symlinks=False)
            self.physical.setdefault((stat.st_dev, stat.st_ino), []).append((False, path))
        else:
            self.differs = True
            self.reject(path, reasons.UNSUPPORTED_FILE, "not a regular file")

    def link(self, entry: os.DirEntry[str], path: str) -> None:
        self.differs = True
        target = str(Path(entry.path).readlink())
        try:
            stat = Path(entry.path).stat()
        except OSError:
            self.reject(path, reasons.BROKEN_SYMLINK, f"link to {target}, which does not exist")
            return
        if entry.is_dir():
            self.reject(path, reasons.SYMLINK_FOLDER, f"link to folder {target}, not followed")
        else:
            self.physical.setdefault((stat.st_dev, stat.st_ino), []).append((True, path))

    def reject(self, path: str, reason: str, detail: str) -> None:
        self.rejected.append(Rejected(path, reason, detail))

    def result(self) -> LocalScan:
        files = []
        for paths in self.physical.values():
            # The plain path wins over a link to it; then sorted order.
            kept, *others = sorted(paths)
            files.append(kept[1])
            for _, other in others:
                self.differs = True
                self.reject(other, reasons.DUPLICATE_FILE, f"same file as {kept[1]}")
        return LocalScan(
            tuple(sorted(files)),
            tuple(sorted(self.rejected, key=lambda r: r.path)),
            self.hidden,
            self.differs,
        )


def duplicate_accounts(paths: Iterable[str], extensions: tuple[str, ...]) -> list[Rejected]:
    """Files of an account already listed: all but the first path in sorted order.

    Only names with an accepted extension hold an account; others are rejected as unsupported
    by the read stage anyway.
    """
    kept: dict[str, str] = {}
    rejected = []
    for path in sorted(paths):
        name = path.rsplit("/", 1)[-1].lower()
        if not name.endswith(tuple(e.lower() for e in extensions)):
            continue
        account = account_of(path)
        if account in kept:
            rejected.append(
                Rejected(
                    path, reasons.DUPLICATE_ACCOUNT, f"account {account} also in {kept[account]}"
                )
            )
        else:
            kept[account] = path
    return rejected


def incomplete_uploads(paths: Iterable[str]) -> list[Rejected]:
    """Listed paths of uploads in progress (manifests: Spark would skip them silently)."""
    return [
        Rejected(p, reasons.INCOMPLETE_UPLOAD, _UPLOAD_IN_PROGRESS)
        for p in paths
        if p.endswith(COPYING_SUFFIX)
    ]
