"""`minik8s function create|update --file`: a .py module, a .zip archive, or a directory zipped by the CLI."""

from __future__ import annotations

import base64
import io
import random
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from minik8s.api import funczip
from minik8s.api.kinds.function import MAX_SOURCE_BYTES
from minik8s.cli.client_verbs import CliError
from minik8s.cli.functions import read_source, zip_directory


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_py_file_is_inline_source(tmp_path: Path) -> None:
    module = tree(tmp_path, {"hello.py": "def handle(p):\n    return p\n"}) / "hello.py"
    assert read_source(module) == {"inline": "def handle(p):\n    return p\n"}


def test_a_directory_is_zipped_without_pycache_and_dotfiles(tmp_path: Path) -> None:
    """Rooted at the directory, sorted, `__pycache__` and dot names left out; the same files give the same
    archive (an unchanged update rolls nothing), and the archive passes the API server's checks."""
    code = tree(tmp_path / "code", {"main.py": "import util\n", "util.py": "x = 1\n", "pkg/mod.py": "",
                                    "__pycache__/main.cpython-311.pyc": "junk", ".env": "SECRET=1",
                                    ".git/config": "", "pkg/.hidden.py": "", "pkg/__pycache__/mod.pyc": ""})
    source = read_source(code)
    data = base64.b64decode(source["zip"])
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["main.py", "util.py", "pkg/mod.py"]
    assert funczip.verify(data) == ["main.py", "util.py", "pkg/mod.py"]
    assert zip_directory(code) == data


def test_a_zip_file_is_sent_as_it_is(tmp_path: Path) -> None:
    archive = tmp_path / "code.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("main.py", "def handle(p):\n    return p\n")
    assert base64.b64decode(read_source(archive)["zip"]) == archive.read_bytes()


def _big(root: Path) -> Path:
    """A directory whose one file does not compress and is over the limit once base64."""
    tree(root / "big", {"main.py": ""})
    (root / "big" / "blob.bin").write_bytes(random.Random(1).randbytes(MAX_SOURCE_BYTES))
    return root / "big"


@pytest.mark.parametrize(("make", "words"), [
    pytest.param(lambda root: tree(root, {"notes.txt": "x"}) / "notes.txt", "a .py file, a .zip archive or a directory",
                 id="other-suffix"),
    pytest.param(lambda root: root / "missing.py", "cannot read", id="missing-py"),
    pytest.param(lambda root: root / "missing.zip", "cannot read", id="missing-zip"),
    pytest.param(lambda root: tree(root / "empty", {".only-a-dotfile": ""}), "no files to upload", id="empty-dir"),
    pytest.param(_big, "bytes as base64", id="too-big"),
])
def test_user_mistakes_are_one_line_errors(tmp_path: Path, make: Callable[[Path], Path], words: str) -> None:
    path = make(tmp_path)
    with pytest.raises(CliError) as raised:
        read_source(path)
    assert words in str(raised.value) and "\n" not in str(raised.value)
