"""The supply chain: exact pins everywhere, a hash lock in step with requirements.txt, and no
litellm release that was published with a credential stealer (1.82.7, 1.82.8, 1.107.0)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
COMPROMISED_LITELLM = {"1.82.7", "1.82.8", "1.107.0"}
TORCH = "2.13.0"  # the CPU wheel this project is built and tested with
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_lines(path: Path) -> list[str]:
    """The requirement lines of a requirements file: no comments, options or -r includes."""
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            lines.append(line)
    return lines


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in _requirement_lines(path):
        m = _PIN.match(line)
        if m:
            pins[_norm(m.group(1))] = m.group(3)
    return pins


def _lock_entries() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes); continuation lines joined."""
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    entries = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        m = _PIN.match(line)
        assert m, f"requirements.lock: {line[:80]!r} is not an exact == pin"
        entries[_norm(m.group(1))] = (m.group(3), re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return entries


def _requirement_files() -> list[Path]:
    return sorted(ROOT.glob("requirements*.txt"))


def _allows_compromised(version: str | None) -> bool:
    return version is None or version.split("+")[0] in COMPROMISED_LITELLM


@pytest.mark.parametrize("path", _requirement_files(), ids=lambda p: p.name)
def test_every_requirement_line_is_an_exact_pin(path):
    loose = [line for line in _requirement_lines(path) if not _PIN.match(line)]
    assert not loose, f"{path.name}: not an exact == pin: {loose}"


def test_litellm_is_pinned_to_a_release_that_is_not_compromised():
    pins = _pins(ROOT / "requirements.txt")
    assert "litellm" in pins, "requirements.txt leaves litellm unpinned"
    assert not _allows_compromised(pins["litellm"]), f"litellm=={pins['litellm']} is compromised"
    locked = _lock_entries().get("litellm")
    assert locked, "requirements.lock lacks litellm"
    assert not _allows_compromised(locked[0]), f"the lock holds compromised litellm=={locked[0]}"


def test_installed_litellm_is_not_compromised():
    try:
        installed = metadata.version("litellm")
    except metadata.PackageNotFoundError:
        pytest.skip("litellm is not installed here")
    assert not _allows_compromised(installed), f"installed litellm {installed} is compromised"


def test_the_compromised_check_catches_each_bad_release():
    # the guard above must not pass by accident (a typo in the set, a local version label)
    for bad in ("1.82.7", "1.82.8", "1.107.0", "1.82.8+local"):
        assert _allows_compromised(bad)
    assert _allows_compromised(None)
    assert not _allows_compromised("1.110.2")


def test_torch_is_pinned_beside_sentence_transformers():
    # pip keeps the CPU build only when both are resolved together (see environment.md)
    for path in _requirement_files():
        pins = _pins(path)
        if "sentence-transformers" in pins:
            assert pins.get("torch") == TORCH, f"{path.name}: torch must be =={TORCH}"
            return
    pytest.fail("no requirements file pins sentence-transformers")


def test_lock_agrees_with_requirements_and_carries_hashes():
    wanted = _pins(ROOT / "requirements.txt")
    locked = _lock_entries()
    for name, version in wanted.items():
        assert name in locked, f"requirements.lock lacks {name}=={version}: run scripts/lock.sh"
        assert locked[name][0] == version, (
            f"{name}: requirements.txt says {version}, requirements.lock {locked[name][0]}; "
            "run scripts/lock.sh"
        )
    unhashed = sorted(name for name, (_, hashes) in locked.items() if not hashes)
    assert not unhashed, f"entries without a hash (pip --require-hashes refuses them): {unhashed}"
