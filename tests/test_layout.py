"""The layout rules of ../shared/FACTS.md: queue/ must never shadow the standard library."""

from __future__ import annotations

import queue
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOT_PACKAGES = ("gateway", "connectors", "triage", "models", "queue")


def test_root_folders_have_no_init_py() -> None:
    offenders = [p for p in ROOT_PACKAGES if (ROOT / p / "__init__.py").exists()]
    assert offenders == [], f"{offenders}: an __init__.py here shadows stdlib modules"


def test_stdlib_queue_wins_from_the_repo_root() -> None:
    assert hasattr(queue, "Empty") and hasattr(queue, "Queue")
    out = subprocess.run(
        [sys.executable, "-c", "import queue, redis, rq; print(queue.Empty.__name__)"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Empty"


def test_every_package_imports_through_the_namespace() -> None:
    import importlib

    for name in ROOT_PACKAGES:
        mod = importlib.import_module(f"deskgate.{name}")
        assert mod.__name__ == f"deskgate.{name}"
