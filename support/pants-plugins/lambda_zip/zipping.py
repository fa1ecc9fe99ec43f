"""Deterministic zip writing, kept free of Pants imports so it can be unit-tested directly.

Also a script: `python zipping.py compile IN.zip OUT.zip`, run by the Lambda runtime's Python
(3.11) from the `normalized_lambda_zip` rule, adds bytecode for every module of the zip.
"""

from __future__ import annotations

import importlib.util
import io
import sys
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


def with_bytecode(data: bytes) -> bytes:
    """Add `__pycache__/<module>.<cache tag>.pyc` next to every `.py` of a zip, compiled by the
    running interpreter, as unchecked-hash pycs (PEP 552: no timestamp, never re-validated).

    Why: Lambda's task root is read-only, so without bytecode in the zip every cold start
    compiles every module it imports (~0.5 s for boto3 + Powertools + pydantic). Unchecked-hash
    pycs carry the source hash instead of an mtime, so the zip stays byte-reproducible; the
    sources are immutable in a deployed zip, so skipping the check is safe. Run with
    PYTHONHASHSEED=0 (frozenset constants are then ordered the same on every build).
    """
    tag = sys.implementation.cache_tag
    entries = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.is_dir() or _is_cache(info.filename):
                continue
            content = zf.read(info)
            executable = (info.external_attr >> 16) & 0o111
            entries.append((info.filename, content, 0o755 if executable else 0o644))
            if info.filename.endswith(".py"):
                entries.append((_pyc_name(info.filename, tag), _pyc(content, info.filename), 0o644))
    return deterministic_zip(entries)


def _pyc_name(source: str, tag: str) -> str:
    folder, _, name = source.rpartition("/")
    cached = f"__pycache__/{name[:-3]}.{tag}.pyc"
    return f"{folder}/{cached}" if folder else cached


def _pyc(source: bytes, path: str) -> bytes:
    # What py_compile does for PycInvalidationMode.UNCHECKED_HASH (PEP 552), in memory.
    import marshal

    code = compile(source, path, "exec", dont_inherit=True, optimize=0)
    header = importlib.util.MAGIC_NUMBER + (0b01).to_bytes(4, "little")
    return header + importlib.util.source_hash(source) + marshal.dumps(code)


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[1] != "compile":
        print("usage: zipping.py compile IN.zip OUT.zip", file=sys.stderr)
        return 2
    with open(argv[2], "rb") as src:
        data = with_bytecode(src.read())
    with open(argv[3], "wb") as out:
        out.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
