"""No tracked text file names a folder that exists only on the machine it was written on.

A usage line such as ``PLSD_MNIST=<one machine's home>/mnist python ...`` works for its
author alone; a user's copy says ``PLSD_MNIST=path/to/mnist`` or relies on the ``data``
extra. The check reads every file ``git ls-files`` lists (binary files skipped).
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Roots of home folders, scratch space and mounts: the start of an absolute path of one
# machine. Not preceded by a word character, a dot or a slash, so that a URL
# ("https://host/home/...") or a relative path ("../tmp/...") does not count.
LOCAL_ROOTS = ("work", "home", "Users", "root", "tmp", "mnt", "scratch")
ABSOLUTE_LOCAL_PATH = re.compile(
    r"(?<![\w./~-])/(?:%s)/[\w.-]|\b[A-Za-z]:\\Users\\" % "|".join(LOCAL_ROOTS)
)

#: Files allowed to name such a path, with the reason. Keep it short.
ALLOWED = {
    "tests/test_repository_paths.py": "this test's own examples",
}


def tracked_text_files():
    """``(path, text)`` of every tracked file that decodes as UTF-8 and has no NUL byte."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        path = ROOT / name
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            yield name, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


def absolute_local_paths(text):
    """``(line number, line)`` of each line of ``text`` that names an absolute local path."""
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)
            if ABSOLUTE_LOCAL_PATH.search(line)]


@pytest.mark.parametrize("line", [
    "PLSD_MNIST=/work/shared/data/mnist python benchmarks/neighbours.py",
    'root = "/home/alice/mnist"',
    "open('/Users/bob/data.npz')",
    "cache in /tmp/plsd",
    r"C:\Users\carol\mnist",
])
def test_absolute_local_paths_are_found(line):
    assert absolute_local_paths(line) == [(1, line)]


@pytest.mark.parametrize("line", [
    "PLSD_MNIST=path/to/mnist python benchmarks/neighbours.py",
    "see https://example.org/home/index.html",
    "Real MNIST (`../shared/data/mnist`)",
    "tmp_path / 'work' / 'x'",
    "/usr/bin/chromium",
])
def test_relative_paths_and_urls_pass(line):
    assert absolute_local_paths(line) == []


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs a git checkout (it reads git ls-files)")
def test_no_tracked_file_names_an_absolute_local_path():
    found = [f"{name}:{number}: {line}"
             for name, text in tracked_text_files() if name not in ALLOWED
             for number, line in absolute_local_paths(text)]
    assert not found, (
        "these lines name a folder of one machine; use a relative path, an environment variable "
        "(e.g. PLSD_MNIST=path/to/mnist) or the data extra, or add the file to ALLOWED in "
        "tests/test_repository_paths.py with the reason:\n" + "\n".join(found))
