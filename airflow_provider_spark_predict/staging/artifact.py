"""The record of one staged file, folder or environment archive."""

from __future__ import annotations

import dataclasses
from typing import Any

#: ``size_bytes`` of an artifact that was passed through without being read (a remote URI).
UNKNOWN_SIZE = -1


@dataclasses.dataclass(frozen=True)
class StagedArtifact:
    """Where an artifact lives in a store and what staging it cost.

    :param uri: Full URI of the staged file or folder (``file:///...``, ``hdfs://...``), as Spark reads it.
    :param sha256: Hex SHA-256 of the content (files, folders) or of the environment fingerprint
        (environments); empty when a ready URI was passed through unchanged.
    :param size_bytes: Size in bytes (sum of file sizes for a folder); ``-1`` when not known.
    :param cache_hit: True when the store already held this content and nothing was packed or uploaded.
    :param seconds: Wall-clock seconds this call spent (hashing, packing, uploading, waiting).
    :param name: Base name of the artifact (file name, folder name or archive name).
    """

    uri: str
    sha256: str
    size_bytes: int
    cache_hit: bool
    seconds: float
    name: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (for XCom and the run report)."""
        return dataclasses.asdict(self)
