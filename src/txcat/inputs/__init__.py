"""Input selection: a run reads either every file under a prefix or exactly a manifest's files."""

from txcat.inputs.manifest import Manifest, ManifestEntry, ManifestError, parse_manifest

__all__ = ["Manifest", "ManifestEntry", "ManifestError", "parse_manifest"]
