"""The zip rewriting of `normalized_lambda_zip` (support/pants-plugins/lambda_zip/zipping.py):
deterministic, and the bytecode it adds is what the interpreter loads from a read-only root."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

from lambda_zip.zipping import normalize_zip, with_bytecode


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buffer.getvalue()


SOURCES = {
    "lambda_function.py": "from pkg.mod import VALUE\n",
    "pkg/__init__.py": "",
    "pkg/mod.py": "VALUE = frozenset({'a', 'b', 'c'})\n",
    "pkg/__pycache__/mod.cpython-311.pyc": "stale bytes from a build cache",
}


def test_bytecode_is_added_for_every_module_and_stale_caches_dropped() -> None:
    names = zipfile.ZipFile(io.BytesIO(with_bytecode(_zip(SOURCES)))).namelist()
    tag = sys.implementation.cache_tag
    assert sorted(names) == sorted(
        [
            "lambda_function.py",
            f"__pycache__/lambda_function.{tag}.pyc",
            "pkg/__init__.py",
            f"pkg/__pycache__/__init__.{tag}.pyc",
            "pkg/mod.py",
            f"pkg/__pycache__/mod.{tag}.pyc",
        ]
    )


def test_the_same_input_gives_the_same_bytes_in_fresh_interpreters(tmp_path: Path) -> None:
    source = tmp_path / "in.zip"
    source.write_bytes(_zip(SOURCES))
    script = Path(sys.modules["lambda_zip.zipping"].__file__ or "")
    outputs: list[bytes] = []
    for seed in ("0", "0"):
        out = tmp_path / f"out-{len(outputs)}.zip"
        subprocess.run(
            [sys.executable, "-I", "-B", str(script), "compile", str(source), str(out)],
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert normalize_zip(outputs[0]) == normalize_zip(with_bytecode(_zip(SOURCES)))


def test_the_interpreter_loads_the_shipped_bytecode_without_checking_the_source(
    tmp_path: Path,
) -> None:
    with zipfile.ZipFile(io.BytesIO(with_bytecode(_zip(SOURCES)))) as zf:
        zf.extractall(tmp_path)
    # Change the source after the build: an unchecked-hash pyc is used as is (the task root of
    # a deployed zip never changes), so the old value proves the bytecode was loaded.
    (tmp_path / "pkg" / "mod.py").write_text("VALUE = 'recompiled'\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            "import sys; sys.path.insert(0, '.'); import lambda_function; print(sorted(lambda_function.VALUE))",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "['a', 'b', 'c']"
