"""Loaded once per test session: building the pipelines and reading the models takes ~1-2 s."""

from __future__ import annotations

import pytest

from deskgate.triage.engine import Triager
from deskgate.triage.pipeline import Pipelines


@pytest.fixture(scope="session")
def triager() -> Triager:
    return Triager.load()


@pytest.fixture(scope="session")
def pipelines(triager: Triager) -> Pipelines:
    return triager.pipelines
