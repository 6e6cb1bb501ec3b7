"""Shared fixtures. Keep this file small: put helpers for one area in that area's test module."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

BAD_INPUTS = Path(__file__).parent / "bad_inputs"
BASE_SCENARIO = BAD_INPUTS / "_base"


def build_case(case: Path, target: Path) -> Path:
    """Copy the corpus base scenario to `target`, then overlay the case's files (all but attendu.txt)."""
    shutil.copytree(BASE_SCENARIO, target)
    for file in case.iterdir():
        if file.name != "attendu.txt":
            shutil.copyfile(file, target / file.name)
    return target


@pytest.fixture
def base_scenario(tmp_path: Path) -> Path:
    """A fresh copy of the small valid scenario the broken-inputs corpus starts from (tests/bad_inputs/_base)."""
    target = tmp_path / "scenario"
    shutil.copytree(BASE_SCENARIO, target)
    return target
