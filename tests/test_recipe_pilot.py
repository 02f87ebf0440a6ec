"""The recipe pilot: its candidates parse (a network of another family brings its own learning rate), a smoke run
of one candidate lands in the table with its recipe and learning rate, another recipe than the preset's trains in a
folder of its own, the same candidate in bf16 and fp32 is paired by seed, and so is a candidate with a baseline
study's teachers."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bannet.stats import mean_ci
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
    assert row.startswith("| cifar10 | wrn-10-1 | airbench-lookahead | 1 | 2 | 0 |")


def test_a_pilot_by_another_recipe_trains_by_it_in_a_folder_named_after_it(tmp_path):
    data = real_data_root("cifar10")
    command = [sys.executable, str(ROOT / "benchmarks" / "recipe_pilot.py"), "--preset", "cifar10-airbench",
               "--profile", "smoke", "--data", str(data), "--out", str(tmp_path), "--candidates",
               "airbench-8-16-16:1", "--recipe", "airbench"]
    printed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True).stdout
    record = json.loads((tmp_path / "cifar10-airbench-airbench-8-16-16-1ep-airbench" / "seed-0" /
                         "teacher.json").read_text())
    assert record["train"]["recipe"] == record["preset"]["recipe"] == "airbench"
    assert "| cifar10 | airbench-8-16-16 | airbench | 1 |" in printed


def test_teachers_trained_in_both_precisions_are_paired_by_seed(tmp_path):
    data = real_data_root("cifar10")
    command = [sys.executable, str(ROOT / "benchmarks" / "recipe_pilot.py"), "--preset", "cifar10-airbench",
               "--profile", "smoke", "--data", str(data), "--out", str(tmp_path), "--candidates", "wrn-10-1:1:2",
               "--seeds", "0", "1", "--precision"]
    first = subprocess.run([*command, "fp32"], capture_output=True, text=True, timeout=300, check=True).stdout
    assert "paired by seed" not in first  # one precision alone: nothing to pair
    printed = subprocess.run([*command, "bf16"], capture_output=True, text=True, timeout=300, check=True).stdout
    errors = {precision: [json.loads((tmp_path / f"cifar10-airbench-wrn-10-1-1ep-lr2-{precision}" / f"seed-{seed}" /
                                      "teacher.json").read_text())["test_error_pct"] for seed in (0, 1)]
              for precision in ("fp32", "bf16")}
    differences = [b - f for f, b in zip(errors["fp32"], errors["bf16"])]
    mean, ci = mean_ci(differences)
    row = next(line for line in printed.split("paired by seed", 1)[1].splitlines() if "wrn-10-1" in line)
    assert f"| 2 | 0: {differences[0]:+.2f}, 1: {differences[1]:+.2f} | {mean:+.2f} ± {ci:.2f} |" in row


def test_a_candidate_is_paired_by_seed_with_the_teachers_of_a_baseline_study(tmp_path):
    data = real_data_root("cifar10")
    command = [sys.executable, str(ROOT / "benchmarks" / "recipe_pilot.py"), "--preset", "cifar10-airbench",
               "--profile", "smoke", "--data", str(data), "--out", str(tmp_path / "pilots"), "--seeds", "0", "1",
               "--precision", "fp32", "--candidates"]
    subprocess.run([*command, "wrn-10-1:1:2"], capture_output=True, text=True, timeout=300, check=True)
    baseline = tmp_path / "baseline"
    (tmp_path / "pilots" / "cifar10-airbench-wrn-10-1-1ep-lr2-fp32").rename(baseline)
    printed = subprocess.run([*command, "wrn-10-1:1:3", "--baseline", str(baseline)], capture_output=True, text=True,
                             timeout=300, check=True).stdout
    candidate = tmp_path / "pilots" / "cifar10-airbench-wrn-10-1-1ep-lr3-fp32"
    error = {(folder, seed): json.loads((folder / f"seed-{seed}" / "teacher.json").read_text())["test_error_pct"]
             for folder in (baseline, candidate) for seed in (0, 1)}
    differences = [error[(folder, seed)] - error[(baseline, seed)] for folder, seed in error if folder != baseline]
    assert any(differences)  # another learning rate trains another model
    mean, ci = mean_ci(differences)
    row = next(line for line in printed.split("minus the teacher", 1)[1].splitlines() if "wrn-10-1" in line)
    assert row.startswith("| wrn-10-1 | airbench-lookahead | 1 | 3 |")
    assert row.endswith(f"| 2 | 0: {differences[0]:+.2f}, 1: {differences[1]:+.2f} | {mean:+.2f} ± {ci:.2f} |")
