"""The Go scaling artifact is a Lambda `provided.al2023` zip: static linux/amd64 `bootstrap` at its root."""

from __future__ import annotations

import struct
import zipfile

from fleetops_tests.support.artifacts import artifact

ELF_MAGIC = b"\x7fELF"
EM_X86_64 = 62
PT_INTERP = 3


def _program_header_types(elf: bytes) -> list[int]:
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    return [struct.unpack_from("<I", elf, phoff + i * phentsize)[0] for i in range(phnum)]


def test_zip_holds_only_an_executable_bootstrap() -> None:
    with zipfile.ZipFile(artifact("scaling.zip")) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["bootstrap"]
        assert (infos[0].external_attr >> 16) & 0o777 == 0o755
        assert infos[0].date_time == (1980, 1, 1, 0, 0, 0)


def test_bootstrap_is_static_stripped_linux_amd64_without_sandbox_paths() -> None:
    with zipfile.ZipFile(artifact("scaling.zip")) as zf:
        elf = zf.read("bootstrap")
    assert elf[:4] == ELF_MAGIC
    assert elf[4] == 2, "64-bit ELF"
    assert elf[5] == 1, "little endian"
    assert elf[7] in (0, 3), "System V / Linux ABI"
    (machine,) = struct.unpack_from("<H", elf, 0x12)
    assert machine == EM_X86_64
    assert PT_INTERP not in _program_header_types(elf), "dynamically linked (has an interpreter)"
    assert b".symtab" not in elf, "not stripped"
    assert b"pants-sandbox" not in elf, "build sandbox path leaked into the binary"
