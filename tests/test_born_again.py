"""The born-again sequence: plan, records with provenance, resume after a kill, CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bannet import records
from bannet.born_again import run_study
from bannet.errors import InvalidInput
from bannet.presets import get_preset, study_plan
from helpers import paper_design

CPU = torch.device("cpu")
TINY = replace(paper_design(get_preset("mnist-mlp", "smoke")), epochs=2, batch_size=64)


def test_plan_orders_generations_and_students():
    plan = study_plan(get_preset("cifar100-densenet-112-33"))
    assert [(s.name, s.loss, s.teacher) for s in plan] == [
        ("teacher", "ce", None), ("ban-1", "ban", "teacher"), ("ban-2", "ban", "ban-1"), ("ban-3", "ban", "ban-2"),
        ("ban+l", "ban+l", "teacher"), ("cwtm", "cwtm", "teacher"), ("dkpp", "dkpp", "teacher")]
    cross = study_plan(get_preset("cifar100-densenet-112-33-to-wrn-28-2"))
    assert [(s.name, s.arch) for s in cross] == [
        ("teacher", "densenet-112-33"), ("label", "wrn-28-2"), ("ban-1", "wrn-28-2")]


def test_study_writes_complete_records(tmp_path, tiny_data):
    run_study(TINY, [0], tmp_path, CPU, data=tiny_data, progress=False, log=lambda _: None)
    for spec in study_plan(TINY):
        files = records.model_files(tmp_path, 0, spec.name)
        record = records.load_record(files.record)
        assert record["model"]["name"] == spec.name and record["seed"] == 0
        assert len(record["epochs"]) == 2 and set(record["provenance"]) >= {
            "git_commit", "torch", "device", "wall_time_s", "date"}
        logits, labels = records.load_logits(files.logits)
        assert logits.shape == (128, 10) and torch.equal(labels, tiny_data.test_labels)
        errors = 100 * (logits.argmax(1) != labels).float().mean().item()
        assert errors == pytest.approx(record["test_error_pct"], abs=1.0)  # fp16 storage may flip a near-tie


def test_resume_skips_finished_models_after_an_interruption(tmp_path, tiny_data):
    trained = []

    class Interrupt(Exception):
        pass

    def stop_in_second_generation(spec, metrics):
        trained.append(spec.name)
        if spec.name == "ban-2":
            raise Interrupt

    from bannet.born_again import StudyRunner
    runner = StudyRunner(TINY, tmp_path, tiny_data, CPU, progress=False, log=lambda _: None,
                         on_epoch=stop_in_second_generation)
    with pytest.raises(Interrupt):
        runner.run_seed(0)
    finished = {p.stem for p in (tmp_path / "seed-0").glob("*.json")}
    assert finished == {"teacher", "ban-1"}
    stamps = {n: records.model_files(tmp_path, 0, n).record.read_bytes() for n in finished}
    log = []
    run_study(TINY, [0], tmp_path, CPU, data=tiny_data, progress=False, log=log.append)
    assert sum("skipped" in line for line in log) == 2
    assert all(records.model_files(tmp_path, 0, n).record.read_bytes() == stamps[n] for n in finished)
    assert {p.stem for p in (tmp_path / "seed-0").glob("*.json")} == {s.name for s in study_plan(TINY)}


def test_missing_teacher_checkpoint_is_a_clear_error(tmp_path, tiny_data):
    only_teacher = replace(TINY, generations=0, students=())
    run_study(only_teacher, [0], tmp_path, CPU, data=tiny_data, progress=False, log=lambda _: None)
    records.model_files(tmp_path, 0, "teacher").checkpoint.unlink()
    with pytest.raises(FileNotFoundError, match="checkpoint was not kept"):
        run_study(TINY, [0], tmp_path, CPU, data=tiny_data, progress=False, log=lambda _: None)


def test_bad_seeds_are_refused(tmp_path, tiny_data):
    with pytest.raises(ValueError, match="distinct"):
        run_study(TINY, [1, 1], tmp_path, CPU, data=tiny_data, progress=False)


@pytest.mark.parametrize("split, count", [("training", 63), ("unlabelled", 10)])
def test_a_split_smaller_than_one_batch_is_refused_before_training(tmp_path, tiny_data, split, count):
    images = tiny_data.train_images[:count]
    small = (replace(tiny_data, train_images=images, train_labels=tiny_data.train_labels[:count])
             if split == "training" else replace(tiny_data, unlabelled_images=images))
    with pytest.raises(InvalidInput, match=f"the {split} split has {count} images, fewer than one batch of 64"):
        run_study(TINY, [0], tmp_path, CPU, data=small, progress=False, log=lambda _: None)
    assert not list(tmp_path.glob("seed-*"))


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.Popen([sys.executable, "-m", "bannet", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def test_cli_smoke_run_is_killed_and_resumed(tmp_path, mnist_root):
    out = tmp_path / "study"
    args = ("run", "mnist-mlp", "--profile", "smoke", "--seeds", "0", "--out", str(out), "--data", str(mnist_root),
            "--no-progress")
    first = _cli(*args)
    deadline = time.time() + 120
    while not (out / "seed-0" / "ban-1.json").exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before = {p.stem: p.read_bytes() for p in (out / "seed-0").glob("*.json")}
    assert "teacher" in done_before
    second = _cli(*args)
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output
    assert all((out / "seed-0" / f"{n}.json").read_bytes() == b for n, b in done_before.items())
    assert output.count("recorded, skipped") == len(done_before)
    assert "| teacher | 1 |" in output
    record = json.loads((out / "seed-0" / "dkpp.json").read_text())
    assert record["profile"] == "smoke" and record["data"]["train_size"] == 512


def test_cli_report_and_presets(tmp_path, tiny_data):
    run_study(TINY, [0, 1], tmp_path, CPU, data=tiny_data, progress=False, log=lambda _: None)
    report = _cli("report", str(tmp_path))
    output, _ = report.communicate(timeout=120)
    assert report.returncode == 0, output
    for row in ["teacher", "ban-1", "bane-2", "bane-3", "cwtm", "dkpp"]:
        assert f"| {row} | 2 |" in output
    assert "| ens-2 | 1 |" in output  # two seeds make one ensemble of two teachers, reported once
    listing = _cli("presets")
    output, _ = listing.communicate(timeout=60)
    assert "cifar10-wrn-28-1" in output and "imagewang-densenet121-resnet18" in output


def test_resume_refuses_records_trained_with_other_settings(tmp_path, tiny_data):
    run_study(replace(TINY, generations=0, students=()), [0], tmp_path, CPU, data=tiny_data, progress=False,
              log=lambda _: None)
    with pytest.raises(ValueError, match=r"other settings \(epochs\)"):
        run_study(replace(TINY, epochs=3), [0], tmp_path, CPU, data=tiny_data, progress=False, log=lambda _: None)
