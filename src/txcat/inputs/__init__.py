"""Input selection: a run reads either every file under a prefix or exactly a manifest's files.

`InputError` says why a run cannot read them; `rundate` holds the run dates a run accepts.
"""

from txcat.inputs.manifest import Manifest, ManifestEntry, ManifestError, parse_manifest

__all__ = ["InputError", "Manifest", "ManifestEntry", "ManifestError", "parse_manifest"]


class InputError(RuntimeError):
    """The input cannot be read at all (missing path, no files), or the run's date or output
    is refused."""
