"""A study folder that cannot be corrupted: records of other settings or of no known shape are named and left out,
every record is checked before anything trains, and the whole request is checked before anything is created."""

import json
import os
import re
import shutil
from dataclasses import replace

import pytest
import torch

from bannet import cli, records
from bannet.born_again import run_study
from bannet.errors import DamagedFile, InvalidInput
from bannet.presets import get_preset
from bannet.record_schema import SCHEMA
from helpers import paper_design

CPU = torch.device("cpu")
TEACHER_ONLY = replace(paper_design(get_preset("mnist-mlp", "smoke")), epochs=1, batch_size=64, generations=0,
                       students=())
quiet = {"progress": False, "log": lambda _: None}


def _report(capsys, folder) -> tuple[str, list[str]]:
    """`bannet report folder`: its table, and the lines it printed to stderr (it must exit 0, no traceback)."""
    code = cli.main(["report", str(folder)])
    said = capsys.readouterr()
    assert code == 0 and "Traceback" not in said.err, said.err
    return said.out, said.err.strip().splitlines()


def _study_with_a_foreign_seed(tmp_path, tiny_data, seeds=(0, 2)):
    """`seeds` trained as the study says; seed 1 trained elsewhere with another lr and batch, copied in."""
    out = tmp_path / "study"
    run_study(TEACHER_ONLY, list(seeds), out, CPU, data=tiny_data, **quiet)
    run_study(replace(TEACHER_ONLY, lr=0.05, batch_size=32), [1], tmp_path / "other", CPU, data=tiny_data, **quiet)
    shutil.copytree(tmp_path / "other" / "seed-1", out / "seed-1")
    return out


def test_a_record_of_other_settings_is_named_and_left_out_and_run_refuses_the_folder(tmp_path, tiny_data, capsys,
                                                                                       request):
    out = _study_with_a_foreign_seed(tmp_path, tiny_data)
    table, said = _report(capsys, out)
    foreign = out / "seed-1" / "teacher.json"
    assert said == [f"bannet: left out of the table: {foreign}: trained with other settings (batch_size, lr) than "
                    "the study's records in seed-0, seed-2; move it to its own folder"]
    assert "2 seeds (0, 2)" in table and "| teacher | 2 |" in table
    request.getfixturevalue("no_training")
    with pytest.raises(InvalidInput, match=re.escape(f"{foreign} was recorded with other settings (batch_size, lr)")):
        run_study(TEACHER_ONLY, [3], out, CPU, data=tiny_data, **quiet)  # not even another seed is added


def test_the_commit_and_the_compute_kind_are_not_settings(tmp_path, tiny_data, capsys):
    out = _study_with_a_foreign_seed(tmp_path, tiny_data)
    shutil.rmtree(out / "seed-1")
    path = records.model_files(out, 2, "teacher").record
    record = json.loads(path.read_text())
    record["provenance"].update(git_commit="0" * 40, kind={**record["provenance"]["kind"], "threads": 64})
    record["train"]["compile"] = True  # part of the compute kind, ruled per seed
    path.write_text(json.dumps(record))
    table, said = _report(capsys, out)
    assert said == [] and "2 seeds (0, 2)" in table


@pytest.mark.parametrize("damage, problem", [
    (lambda r: {}, "damaged: an empty record"),
    (lambda r: {k: v for k, v in r.items() if k != "position"}, "malformed record (schema 2): no 'position'"),
    (lambda r: {**r, "model": "teacher"}, "malformed record (schema 2): 'model' is str 'teacher'"),
    (lambda r: {**r, "schema": SCHEMA + 1}, f"record schema {SCHEMA + 1}, which this bannet does not know"),
])
def test_a_malformed_record_is_left_out_in_one_line_and_refused_before_training(tmp_path, tiny_data, capsys,
                                                                              request, damage, problem):
    run_study(TEACHER_ONLY, [0, 1], tmp_path, CPU, data=tiny_data, **quiet)
    path = records.model_files(tmp_path, 1, "teacher").record
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    table, said = _report(capsys, tmp_path)
    assert len(said) == 1 and said[0].startswith(f"bannet: left out of the table: {path}: {problem}"), said
    assert "1 seed (0)" in table and "| teacher | 1 |" in table
    request.getfixturevalue("no_training")
    with pytest.raises(DamagedFile, match=re.escape(f"{path}: {problem}")):
        run_study(TEACHER_ONLY, [0, 2], tmp_path, CPU, data=tiny_data, **quiet)


def test_a_report_names_each_record_it_leaves_out_in_one_line(tmp_path, tiny_data, capsys, request):
    out = _study_with_a_foreign_seed(tmp_path, tiny_data, seeds=(0, 2, 3, 4))
    malformed, truncated = records.model_files(out, 3, "teacher").record, records.model_files(out, 4, "teacher").logits
    malformed.write_text(json.dumps({**json.loads(malformed.read_text()), "model": "teacher"}))
    truncated.write_bytes(truncated.read_bytes()[:100])
    table, said = _report(capsys, out)
    assert [line.split(": ")[1] for line in said] == ["left out of the table"] * 3
    assert sorted(line.split(": ")[2].split(" ")[0] for line in said) == sorted(
        str(path) for path in (malformed, truncated, out / "seed-1" / "teacher.json"))
    assert "2 seeds (0, 2)" in table
    request.getfixturevalue("no_training")
    with pytest.raises(InvalidInput):
        run_study(TEACHER_ONLY, [5], out, CPU, data=tiny_data, **quiet)


def test_records_carry_their_schema_and_a_version_1_record_is_read(tmp_path, tiny_data, capsys):
    run_study(TEACHER_ONLY, [0], tmp_path, CPU, data=tiny_data, **quiet)
    path = records.model_files(tmp_path, 0, "teacher").record
    record = json.loads(path.read_text())
    assert record["schema"] == SCHEMA == 2
    del record["schema"], record["train"], record["epochs"]  # version 1: what the first records may lack
    path.write_text(json.dumps(record))
    table, said = _report(capsys, tmp_path)
    assert said == [] and "| teacher | 1 |" in table


def test_every_record_of_every_seed_is_checked_before_the_first_model_trains(tmp_path, tiny_data, request):
    run_study(TEACHER_ONLY, [1], tmp_path, CPU, data=tiny_data, **quiet)
    logits = records.model_files(tmp_path, 1, "teacher").logits
    logits.write_bytes(logits.read_bytes()[:100])
    (tmp_path / "seed-0").mkdir()  # seed 0: nothing recorded yet, its teacher would train first
    request.getfixturevalue("no_training")
    with pytest.raises(DamagedFile, match=re.escape(f"{logits} cannot be read")):
        run_study(TEACHER_ONLY, [0, 1], tmp_path, CPU, data=tiny_data, **quiet)


def test_with_jobs_the_parent_checks_the_records_before_any_child_starts(tmp_path, tiny_data, capsys, monkeypatch):
    smoke = get_preset("mnist-mlp", "smoke")
    out = tmp_path / "study"
    run_study(smoke, [1], out, CPU, data=tiny_data, models=["teacher"], **quiet)
    logits = records.model_files(out, 1, "teacher").logits
    logits.write_bytes(logits.read_bytes()[:100])
    monkeypatch.setenv("BANNET_DATA", str(tmp_path / "no-data"))  # a child that started would fail on its own
    code = cli.main(["run", "mnist-mlp", "--profile", "smoke", "--seeds", "0", "1", "--jobs", "2", "--out", str(out),
                     "--device", "cpu", "--no-download", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(f"bannet: {logits} cannot be read"), err
    assert not (out / "logs").exists()


def test_a_training_state_beside_a_recorded_model_is_removed_unread(tmp_path, tiny_data):
    run_study(TEACHER_ONLY, [0], tmp_path, CPU, data=tiny_data, **quiet)
    teacher = records.model_files(tmp_path, 0, "teacher")
    teacher.state.write_bytes(b"left by a run killed between the record and the state's deletion")
    said = []
    run_study(TEACHER_ONLY, [0], tmp_path, CPU, data=tiny_data, progress=False, log=said.append)
    assert not teacher.state.exists() and f"removed {teacher.state}: its model is recorded" in said
    teacher.record.unlink()  # retrained from its first epoch, not from the stale state
    run_study(TEACHER_ONLY, [0], tmp_path, CPU, data=tiny_data, progress=False, log=said.append)
    assert not any("resuming" in line for line in said)


def test_jobs_below_one_create_nothing(capsys, tmp_path, no_training):
    assert cli.main(["run", "mnist-mlp", "--profile", "smoke", "--out", str(tmp_path / "study"), "--jobs", "0"]) == 2
    assert "--jobs must be >= 1" in capsys.readouterr().err and not (tmp_path / "study").exists()


@pytest.mark.parametrize("how", ["a file", "read-only"])
def test_an_unwritable_seed_folder_is_refused_before_anything_is_created(tmp_path, tiny_data, no_training, how):
    if how == "read-only" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    seed_folder = tmp_path / "seed-1"
    if how == "a file":
        seed_folder.write_text("where seed 1's folder should be")
    else:
        seed_folder.mkdir(mode=0o555)
    with pytest.raises(InvalidInput, match=re.escape(f"seed 1's folder {seed_folder} is ")):
        run_study(TEACHER_ONLY, [0, 1], tmp_path, CPU, data=tiny_data, **quiet)
    assert [path.name for path in tmp_path.iterdir()] == ["seed-1"]
