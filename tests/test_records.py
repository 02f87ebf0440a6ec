"""Records you can trust: exact errors, finite outputs, checked hashes, named damaged files, one study per folder."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from bannet import records
from bannet.born_again import run_study
from bannet.errors import DamagedFile, InvalidInput
from bannet.presets import get_preset
from bannet.records import load_study
from bannet.results import StudyResults
from helpers import paper_design

CPU = torch.device("cpu")
TEACHER_ONLY = replace(paper_design(get_preset("mnist-mlp", "smoke")), epochs=1, batch_size=64, generations=0,
                       students=())
WITH_STUDENTS = replace(TEACHER_ONLY, generations=1, students=("cwtm",))
quiet = {"progress": False, "log": lambda _: None}


def _save(tmp_path, logits, labels, name="m"):
    files = records.model_files(tmp_path, 0, name)
    records.save_model(files, {"study": "s", "profile": "full", "seed": 0, "model": {"name": name}, "position": 0},
                       logits, labels, {"w": torch.zeros(2)})
    return files


def test_recorded_error_is_the_fp32_error_even_where_fp16_ties(tmp_path):
    labels = torch.tensor([1, 0])
    logits = torch.tensor([[0.0, 1e-8], [5.0, 4.0]])  # 1e-8 apart: one fp16 value, a tie that argmax breaks wrongly
    files = _save(tmp_path, logits, labels)
    outputs = records.load_outputs(files.logits)
    assert outputs.error_pct == 0.0 and torch.equal(outputs.predictions, torch.tensor([1, 0]))
    assert 100 * (outputs.logits.argmax(1) != labels).float().mean().item() == 50.0  # the fp16 argmax would flip it


def test_a_record_without_the_sha256_of_its_outputs_cannot_vouch_for_them(tmp_path):
    files = _save(tmp_path, torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    record = records.load_record(files.record)
    del record["sha256"]["logits"]
    with pytest.raises(DamagedFile, match=r"m\.json holds no SHA-256 for m\.logits\.npz"):
        records.verify(files, "logits", record)


def test_huge_logits_stay_finite_and_non_finite_ones_are_refused(tmp_path):
    files = _save(tmp_path, torch.tensor([[70_000.0, 0.0, -70_000.0]]), torch.tensor([0]))
    stored = records.load_outputs(files.logits).logits
    assert torch.isfinite(stored).all() and stored[0, 0] == 0
    torch.testing.assert_close(stored.softmax(1), torch.tensor([[1.0, 0.0, 0.0]]))
    with pytest.raises(FloatingPointError, match="non-finite"):
        _save(tmp_path, torch.tensor([[float("nan"), 0.0]]), torch.tensor([0]), name="diverged")
    assert not records.model_files(tmp_path, 0, "diverged").record.exists()


def test_a_changed_teacher_checkpoint_stops_the_run_before_a_student_trains(tmp_path, tiny_data):
    run_study(TEACHER_ONLY, [0], tmp_path, CPU, data=tiny_data, **quiet)
    teacher = records.model_files(tmp_path, 0, "teacher")
    sha = records.load_record(teacher.record)["sha256"]
    assert set(sha) == {"checkpoint", "logits"} and sha["checkpoint"]["file"] == teacher.checkpoint.name
    data = bytearray(teacher.checkpoint.read_bytes())
    data[-900:-500] = bytes(400)  # a flipped block of 400 bytes, the kind of damage torch.load does not notice
    teacher.checkpoint.write_bytes(bytes(data))
    with pytest.raises(DamagedFile, match=r"teacher\.ckpt\.pt does not match the SHA-256 in teacher\.json"):
        run_study(WITH_STUDENTS, [0], tmp_path, CPU, data=tiny_data, **quiet)
    assert not records.model_files(tmp_path, 0, "ban-1").record.exists()


@pytest.mark.parametrize("which", ["record", "logits"])
@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_damaged_file_is_named_and_the_report_goes_on_without_it(tmp_path, tiny_data, which, damage):
    run_study(WITH_STUDENTS, [0], tmp_path, CPU, data=tiny_data, **quiet)
    path = getattr(records.model_files(tmp_path, 0, "cwtm"), which)
    path.write_bytes(b"" if damage == "empty" else path.read_bytes()[: path.stat().st_size // 2])
    study = load_study(tmp_path)
    assert "cwtm" not in study.models[0] and {"teacher", "ban-1"} <= set(study.models[0])
    assert len(study.skipped) == 1 and str(path) in study.skipped[0] and "retrain" in study.skipped[0]
    with pytest.raises(DamagedFile, match=str(path)):
        run_study(WITH_STUDENTS, [0], tmp_path, CPU, data=tiny_data, **quiet)  # named before anything trains


def test_a_damaged_checkpoint_is_named(tmp_path, tiny_data):
    run_study(TEACHER_ONLY, [0], tmp_path, CPU, data=tiny_data, **quiet)
    teacher = records.model_files(tmp_path, 0, "teacher")
    record = records.load_record(teacher.record)
    teacher.checkpoint.write_bytes(b"")
    record["sha256"]["checkpoint"]["sha256"] = records.sha256_of(teacher.checkpoint)  # hash fine, file unreadable
    teacher.record.write_text(json.dumps(record))
    with pytest.raises(DamagedFile, match=r"teacher\.ckpt\.pt cannot be read as a model checkpoint"):
        records.load_checkpoint(teacher)


def test_a_changed_logits_file_is_left_out_of_the_report(tmp_path, tiny_data):
    run_study(WITH_STUDENTS, [0], tmp_path, CPU, data=tiny_data, **quiet)
    files = records.model_files(tmp_path, 0, "ban-1")
    with np.load(files.logits) as data:
        arrays = dict(data)
    arrays["predictions"] = arrays["labels"]  # a file rewritten to score 0% error
    np.savez_compressed(files.logits, **arrays)
    study = load_study(tmp_path)
    assert "ban-1" not in study.models[0] and "SHA-256" in study.skipped[0]


def test_records_state_the_precision_and_the_processor(tmp_path, tiny_data):
    run_study(TEACHER_ONLY, [0], tmp_path, CPU, data=tiny_data, precision="fp32", **quiet)
    record = records.load_record(records.model_files(tmp_path, 0, "teacher").record)
    provenance = record["provenance"]
    assert provenance["precision"] == {"requested": "fp32", "compute": "fp32", "memory_format": "channels_last"}
    assert provenance["threads"] == torch.get_num_threads() and provenance["cpu"]["model"]
    assert provenance["cpu"]["torch_capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["train"]["precision"] == "fp32"
    rows = {row.name: row for row in StudyResults(load_study(tmp_path)).rows()}
    assert rows["teacher"].errors[0] == record["test_error_pct"]  # exactly, not approximately


def test_a_study_folder_holds_one_study(tmp_path, tiny_data):
    run_study(TEACHER_ONLY, [0], tmp_path, CPU, data=tiny_data, **quiet)
    other = replace(TEACHER_ONLY, name="cifar10-wrn-28-1")
    with pytest.raises(InvalidInput, match=r"holds mnist-mlp \[smoke\].*not cifar10-wrn-28-1 \[smoke\]"):
        run_study(other, [1], tmp_path, CPU, data=tiny_data, **quiet)
    with pytest.raises(InvalidInput, match=r"not mnist-mlp \[full\]"):
        run_study(replace(TEACHER_ONLY, profile="full"), [1], tmp_path, CPU, data=tiny_data, **quiet)
    assert not (tmp_path / "seed-1").exists()
    run_study(other, [1], tmp_path / "elsewhere", CPU, data=tiny_data, **quiet)
    (tmp_path / "seed-1").mkdir()
    for path in (tmp_path / "elsewhere" / "seed-1").iterdir():
        path.rename(tmp_path / "seed-1" / path.name)
    with pytest.raises(InvalidInput, match="mixes records of 2 studies"):
        load_study(tmp_path)


def test_stale_temporaries_of_a_killed_write_are_removed(tmp_path, tiny_data):
    stale = tmp_path / "seed-0" / ".teacher.ckpt.pt.abc123.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a checkpoint")
    log = []
    run_study(TEACHER_ONLY, [0], tmp_path, CPU, data=tiny_data, progress=False, log=log.append)
    assert not stale.exists() and any(".teacher.ckpt.pt.abc123.tmp" in line for line in log)
