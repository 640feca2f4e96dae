"""Content hashes of local files and folders."""

from __future__ import annotations

import hashlib
import os

_CHUNK = 1 << 20


def sha256_file(path: str) -> str:
    """Return the hex SHA-256 of a file's bytes.

    :param path: Local file path.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def list_tree(root: str) -> list[str]:
    """Return the sorted POSIX relative paths of every file under ``root`` (symlinks followed).

    :param root: Local folder.
    """
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            found.append(rel.replace(os.sep, "/"))
    return sorted(found)


def sha256_tree(root: str) -> tuple[str, int]:
    """Return the hex SHA-256 of a folder and its total size in bytes.

    The hash covers each file's relative path, size and content hash, in sorted path order, so it is
    independent of modification times, of the folder's own name and of where the folder lives.

    :param root: Local folder.
    """
    digest = hashlib.sha256()
    total = 0
    for rel in list_tree(root):
        full = os.path.join(root, rel)
        size = os.path.getsize(full)
        total += size
        digest.update(f"{rel}\0{size}\0{sha256_file(full)}\n".encode())
    return digest.hexdigest(), total
