"""Function sources as zip archives: the checks that keep a hostile archive harmless, and the unpacking.

A Function's `spec.source.zip` is a zip archive whose root is the function's code (`main.py`,
`pkg/mod.py`, ...). Whoever made it, it is read as hostile input, by the same code everywhere:

- the API server (`minik8s.api.kinds.function`): a 422 naming `spec.source.zip` for an archive
  that `check` refuses, or that lacks the handler's module (`has_module`);
- the instance server (`serverless/funcserver.py`), which unpacks it at start (`unpack`) into a
  private directory before it imports the handler.

Refused: what is not a zip; more than `MAX_MEMBERS` entries; more than `MAX_UNPACKED_BYTES` in all,
by the sizes the archive declares *and* by the bytes that decompressing really yields (a member
that inflates past its declared size, a zip bomb, stops at the limit); names that are absolute,
hold `..`, `.` or empty parts, backslashes, NUL or a drive letter, or are too long (zip slip);
two entries of one name, or a file that is also a directory; symbolic links and other special
files (by their Unix mode); encrypted members and compression other than stored and deflated;
members whose data does not match their CRC.

Stdlib only, Python 3.8 syntax and no minik8s imports: the function controller copies this file's
text next to `_funcserver.py` as `_funczip.py`, and the instance server loads it from there.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
import zlib
from typing import IO, Iterator, List, Optional, Tuple

MAX_MEMBERS = 1000
MAX_UNPACKED_BYTES = 8 << 20  # 8 MiB of files once unpacked
MAX_NAME_BYTES = 1024  # a member's whole path, UTF-8
MAX_PART_BYTES = 255  # one part of it (a file name on Linux)
CHUNK = 64 << 10
METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


class ZipProblem(ValueError):
    """Why an archive is refused: one line a person can act on."""


def open_archive(data: bytes) -> zipfile.ZipFile:
    """The archive in `data` (its central directory read), or ZipProblem."""
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError,
            RuntimeError, IndexError, KeyError) as exc:
        raise ZipProblem("not a readable zip archive: %s" % (exc or type(exc).__name__)) from None


def _name_problem(name: str) -> Optional[str]:
    """Why a member's name may not be unpacked (zip slip and friends), or None."""
    if not name or name in ("/", ""):
        return "an entry has an empty name"
    if "\x00" in name or "\\" in name:
        return "%r: names may not hold NUL or backslashes" % name
    if name.startswith("/"):
        return "%r: absolute paths are not allowed" % name
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return "%r...: a name is longer than %d bytes" % (name[:40], MAX_NAME_BYTES)
    parts = name[:-1].split("/") if name.endswith("/") else name.split("/")
    if ":" in parts[0]:
        return "%r: drive letters are not allowed" % name
    for part in parts:
        if part in ("", ".", ".."):
            return "%r: names may not have empty, '.' or '..' parts" % name
        if len(part.encode("utf-8", "surrogatepass")) > MAX_PART_BYTES:
            return "%r: a part of the name is longer than %d bytes" % (name[:40], MAX_PART_BYTES)
    return None


def _type_problem(info: zipfile.ZipInfo) -> Optional[str]:
    """Why a member is not a plain file or directory (symlink, device, encrypted, ...), or None."""
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if info.create_system == 3 and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        what = "a symbolic link" if kind == stat.S_IFLNK else "not a regular file or directory"
        return "%r is %s" % (info.filename, what)
    if kind == stat.S_IFDIR and not info.filename.endswith("/"):
        return "%r is a directory whose name does not end with /" % info.filename
    if info.flag_bits & 0x1:
        return "%r is encrypted" % info.filename
    if info.compress_type not in METHODS:
        return "%r uses compression method %d; only stored and deflated are supported" % (
            info.filename, info.compress_type)
    return None


def check(archive: zipfile.ZipFile, max_members: int = MAX_MEMBERS,
          max_bytes: int = MAX_UNPACKED_BYTES) -> List[zipfile.ZipInfo]:
    """The members of `archive` once every name, type, count and declared size is acceptable, else
    ZipProblem. Nothing is decompressed here (see `members`)."""
    infos = archive.infolist()
    if len(infos) > max_members:
        raise ZipProblem("the archive has %d entries; at most %d are allowed" % (len(infos), max_members))
    seen = set()
    files = set()
    declared = 0
    for info in infos:
        problem = _name_problem(info.filename) or _type_problem(info)
        if problem:
            raise ZipProblem(problem)
        name = info.filename.rstrip("/")
        if name in seen:
            raise ZipProblem("%r is in the archive twice" % name)
        seen.add(name)
        if not info.is_dir():
            files.add(name)
            declared += info.file_size
    if declared > max_bytes:
        raise ZipProblem("the archive unpacks to %d bytes; at most %d are allowed" % (declared, max_bytes))
    for name in seen:
        parent = name.rpartition("/")[0]
        while parent:
            if parent in files:
                raise ZipProblem("%r is a file and also a directory" % parent)
            parent = parent.rpartition("/")[0]
    return infos


def members(archive: zipfile.ZipFile, max_members: int = MAX_MEMBERS,
            max_bytes: int = MAX_UNPACKED_BYTES) -> Iterator[Tuple[zipfile.ZipInfo, Iterator[bytes]]]:
    """Every member once `check` passed, with an iterator of its data in chunks: decompressing stops with
    ZipProblem as soon as a member yields more than it declared or all of them more than `max_bytes`, and
    a member whose data fails its CRC is a ZipProblem too. Consume each member's chunks before the next."""
    total = [0]

    def chunks(info: zipfile.ZipInfo) -> Iterator[bytes]:
        count = 0
        try:
            with archive.open(info) as stream:
                for chunk in _read(stream):
                    count += len(chunk)
                    total[0] += len(chunk)
                    if count > info.file_size or total[0] > max_bytes:
                        raise ZipProblem("%r unpacks to more than it declares or the archive to more than %d "
                                         "bytes" % (info.filename, max_bytes))
                    yield chunk
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError,
                RuntimeError) as exc:
            if isinstance(exc, ZipProblem):
                raise
            raise ZipProblem("%r cannot be read: %s" % (info.filename, exc or type(exc).__name__)) from None
        if count != info.file_size:
            raise ZipProblem("%r unpacks to %d bytes, not the %d it declares" % (info.filename, count, info.file_size))

    for info in check(archive, max_members, max_bytes):
        yield info, iter(()) if info.is_dir() else chunks(info)


def _read(stream: IO[bytes]) -> Iterator[bytes]:
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


def verify(data: bytes, max_members: int = MAX_MEMBERS, max_bytes: int = MAX_UNPACKED_BYTES) -> List[str]:
    """The names of the files in the archive `data` once all of it passed (decompressed and discarded,
    bounded), else ZipProblem."""
    names = []
    with open_archive(data) as archive:
        for info, chunks in members(archive, max_members, max_bytes):
            for _ in chunks:
                pass
            if not info.is_dir():
                names.append(info.filename)
    return names


def unpack(data: bytes, destination: str, max_members: int = MAX_MEMBERS,
           max_bytes: int = MAX_UNPACKED_BYTES) -> List[str]:
    """Unpack the archive `data` into the existing, empty directory `destination` (files 0644, directories
    0755, no links followed or made); the names of the files written, else ZipProblem (what was written
    stays: remove `destination`)."""
    root = os.path.realpath(destination)
    names = []
    with open_archive(data) as archive:
        for info, chunks in members(archive, max_members, max_bytes):
            path = os.path.join(root, *info.filename.rstrip("/").split("/"))
            if os.path.commonpath([root, os.path.realpath(os.path.dirname(path))]) != root:
                raise ZipProblem("%r would be written outside the directory" % info.filename)
            if info.is_dir():
                os.makedirs(path, mode=0o755, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            names.append(info.filename)
    return names


def module_files(module: str) -> Tuple[str, str]:
    """Where the module `pkg.mod` may be in an archive: `pkg/mod.py` or `pkg/mod/__init__.py`."""
    path = module.replace(".", "/")
    return path + ".py", path + "/__init__.py"


def has_module(names: List[str], module: str) -> bool:
    """Whether the files `names` hold the module `module` (dotted)."""
    present = set(names)
    return any(candidate in present for candidate in module_files(module))
