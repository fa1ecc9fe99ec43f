"""Deterministic zip writing, kept free of Pants imports so it can be unit-tested directly."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable

# The earliest timestamp a zip entry can carry; any fixed value works, this one is conventional.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def deterministic_zip(entries: Iterable[tuple[str, bytes, int]]) -> bytes:
    """Zip (name, data, mode) entries sorted by name, with fixed time, owner-independent modes.

    Why not `shutil.make_archive`/`zip`: they record mtimes and the host's file modes, so two builds
    of the same bits differ.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, mode in sorted(entries, key=lambda e: e[0]):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.create_system = 3  # Unix, so external_attr carries the permission bits
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buf.getvalue()


def _is_cache(name: str) -> bool:
    return "__pycache__/" in name or name.endswith((".pyc", ".pyo"))


def normalize_zip(data: bytes) -> bytes:
    """Rewrite a zip: sorted entries, fixed time, Unix modes kept (0644/0755), caches dropped."""
    entries = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.is_dir() or _is_cache(info.filename):
                continue
            executable = (info.external_attr >> 16) & 0o111
            entries.append((info.filename, zf.read(info), 0o755 if executable else 0o644))
    return deterministic_zip(entries)
