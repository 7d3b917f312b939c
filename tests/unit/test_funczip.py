"""Zip sources of Functions (`minik8s.api.funczip`): hostile archives are refused, good ones unpack.

Every archive here is made in memory; the bombs are small on disk (zeros deflate ~1000:1) and the
unpacking of a lying archive is checked to stop at the size it declares.
"""

from __future__ import annotations

import ast
import io
import stat
import struct
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from minik8s.api import funczip
from minik8s.api.funczip import ZipProblem

Files = dict[str, bytes]


def make_zip(files: Files, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, which some tests want
        with zipfile.ZipFile(buffer, "w", method) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
    return buffer.getvalue()


def zip_of(*infos: tuple[zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buffer, "w") as archive:
            for info, data in infos:
                archive.writestr(info, data)
    return buffer.getvalue()


def problem(data: bytes, **limits: int) -> str:
    with pytest.raises(ZipProblem) as raised:
        funczip.verify(data, **limits)
    return str(raised.value)


GOOD: Files = {"main.py": b"from pkg import util\ndef handle(p):\n    return util.twice(p)\n",
               "pkg/__init__.py": b"", "pkg/util.py": b"def twice(x):\n    return 2 * x\n"}


def test_a_good_archive_is_verified_and_unpacked(tmp_path: Path) -> None:
    data = make_zip({**GOOD, "pkg/data/": b""})
    assert funczip.verify(data) == ["main.py", "pkg/__init__.py", "pkg/util.py"]
    assert funczip.unpack(data, str(tmp_path)) == ["main.py", "pkg/__init__.py", "pkg/util.py"]
    assert (tmp_path / "pkg" / "util.py").read_bytes() == GOOD["pkg/util.py"]
    assert (tmp_path / "pkg" / "data").is_dir()
    assert stat.S_IMODE((tmp_path / "main.py").stat().st_mode) & 0o133 == 0  # at most 0644: no x, no group write


def test_the_handlers_module_is_a_file_or_a_package() -> None:
    assert funczip.module_files("pkg.mod") == ("pkg/mod.py", "pkg/mod/__init__.py")
    assert funczip.has_module(["main.py"], "main")
    assert funczip.has_module(["pkg/mod/__init__.py"], "pkg.mod")
    assert not funczip.has_module(["pkg/mod/other.py", "mod.py"], "pkg.mod")


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x05\x06" + b"\xff" * 18,
                                  make_zip(GOOD)[:-30], make_zip(GOOD)[: len(make_zip(GOOD)) // 2]],
                         ids=["empty", "text", "bad-end-record", "cut-end", "half"])
def test_what_is_not_a_zip_is_refused(data: bytes) -> None:
    assert "zip" in problem(data) or "cannot be read" in problem(data)


def test_a_bomb_is_refused_by_its_declared_size() -> None:
    """9 MiB of zeros deflate to a few KiB: refused before anything is decompressed."""
    data = make_zip({"main.py": b"", "zeros": bytes(9 << 20)})
    assert len(data) < 100_000
    assert "unpacks to 9437184 bytes; at most 8388608" in problem(data)
    assert "unpacks to" in problem(make_zip({"main.py": b"x" * 200}), max_bytes=100)


def _lie_about_size(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size the local header and the central directory declare for `name`."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = out.find(signature)
        while at >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if out[name_at:name_at + len(name)] == name:
                out[at + offset:at + offset + 4] = struct.pack("<I", size)
            at = out.find(signature, at + 1)
    return bytes(out)


def test_a_member_that_inflates_past_its_declared_size_stops_there(tmp_path: Path) -> None:
    """A member declaring 100 bytes that holds 4 MiB: decompressing stops at 100 bytes and the archive is
    refused; nothing beyond the declared size reaches the disk."""
    data = _lie_about_size(make_zip({"main.py": b"", "big": bytes(4 << 20)}), b"big", 100)
    assert funczip.check(funczip.open_archive(data))[1].file_size == 100
    assert "big" in problem(data)
    with pytest.raises(ZipProblem):
        funczip.unpack(data, str(tmp_path))
    written = tmp_path / "big"
    assert not written.exists() or written.stat().st_size <= 100


def test_too_many_entries_are_refused() -> None:
    data = make_zip({f"m{i}.py": b"" for i in range(funczip.MAX_MEMBERS + 1)}, zipfile.ZIP_STORED)
    assert f"has {funczip.MAX_MEMBERS + 1} entries; at most {funczip.MAX_MEMBERS}" in problem(data)
    assert "at most 2" in problem(make_zip(GOOD), max_members=2)


@pytest.mark.parametrize(("name", "words"), [
    ("../evil.py", "'..' parts"),
    ("pkg/../../evil.py", "'..' parts"),
    ("/etc/cron.d/evil", "absolute"),
    ("./main.py", "'.' or '..'"),
    ("pkg//mod.py", "empty"),
    ("C:/evil.py", "drive"),
    ("pkg\\..\\evil.py", "backslashes"),
    ("a" * 256 + ".py", "longer than 255"),
    ("/".join(["d" * 200] * 6), "longer than 1024"),
], ids=["dotdot", "deep-dotdot", "absolute", "dot", "empty-part", "drive", "backslash", "long-part", "long-path"])
def test_zip_slip_names_are_refused(name: str, words: str, tmp_path: Path) -> None:
    data = make_zip({"main.py": b"", name: b"owned"})
    assert words in problem(data)
    with pytest.raises(ZipProblem):
        funczip.unpack(data, str(tmp_path / "out"))
    assert not (tmp_path / "evil.py").exists()


def test_symlinks_and_special_files_are_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("main.py")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert "'main.py' is a symbolic link" in problem(zip_of((link, b"/etc/passwd")))
    fifo = zipfile.ZipInfo("pipe")
    fifo.create_system = 3
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    assert "not a regular file or directory" in problem(zip_of((fifo, b"")))
    (tmp_path / "out").mkdir()
    with pytest.raises(ZipProblem):
        funczip.unpack(zip_of((link, b"/etc/passwd")), str(tmp_path / "out"))
    assert list((tmp_path / "out").iterdir()) == []


def test_duplicates_and_a_file_that_is_also_a_directory_are_refused() -> None:
    twice = zip_of((zipfile.ZipInfo("main.py"), b"1"), (zipfile.ZipInfo("main.py"), b"2"))
    assert "'main.py' is in the archive twice" in problem(twice)
    assert "'pkg' is in the archive twice" in problem(make_zip({"pkg/": b"", "pkg": b"x"}))
    assert "'pkg' is a file and also a directory" in problem(make_zip({"pkg": b"x", "pkg/mod.py": b""}))


def test_encrypted_members_and_other_compression_are_refused() -> None:
    locked = bytearray(make_zip({"main.py": b"x"}))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the general purpose flags
        locked[locked.find(signature) + offset] |= 0x1
    assert "encrypted" in problem(bytes(locked))
    assert "compression method 12" in problem(make_zip({"main.py": b"x"}, zipfile.ZIP_BZIP2))


def test_a_member_whose_data_fails_its_crc_is_refused() -> None:
    data = bytearray(make_zip({"main.py": b"def handle(p):\n    return p\n"}, zipfile.ZIP_STORED))
    at = data.find(b"def handle")
    data[at] = ord("D")
    assert "'main.py' cannot be read" in problem(bytes(data)) and "CRC" in problem(bytes(data))


def test_the_module_is_stdlib_only_python38() -> None:
    """The instance server loads this file by path: Python 3.8 syntax and the standard library only."""
    tree = ast.parse(Path(funczip.__file__).read_text(), feature_version=(3, 8))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= sys.stdlib_module_names | {"__future__"}, imported - sys.stdlib_module_names
