"""The recipe pilot: its candidates parse (a network of another family brings its own learning rate) and a smoke run
of one candidate lands in the table with its learning rate."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import real_data_root

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from recipe_pilot import fast_candidate  # noqa: E402


def test_a_candidate_is_a_network_epochs_and_an_optional_learning_rate():
    assert fast_candidate("airbench-64-256-256:15") == ("airbench-64-256-256", 15, None)
    assert fast_candidate("wrn-16-4:15:2.5") == ("wrn-16-4", 15, 2.5)
    for bad in ("wrn-16-4:15:0", "wrn-16-4:15:fast", "wrn-16-4:0"):
        with pytest.raises(argparse.ArgumentTypeError):
            fast_candidate(bad)


def test_a_smoke_pilot_records_its_candidate_and_prints_its_row(tmp_path):
    data = real_data_root("cifar10")
    command = [sys.executable, str(ROOT / "benchmarks" / "recipe_pilot.py"), "--preset", "cifar10-airbench",
               "--profile", "smoke", "--data", str(data), "--out", str(tmp_path), "--candidates", "wrn-10-1:1:2"]
    printed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True).stdout
    assert (tmp_path / "cifar10-airbench-wrn-10-1-1ep-lr2" / "seed-0" / "teacher.json").is_file()
    row = next(line for line in printed.splitlines() if "wrn-10-1" in line)
    assert row.startswith("| cifar10 | wrn-10-1 | 1 | 2 | 0 |")
