"""The command line: a user's mistake is one `bannet: …` line and exit code 2, found before anything trains."""

from dataclasses import replace

import pytest
import torch

from bannet import cli
from bannet.born_again import run_study
from bannet.presets import get_preset
from helpers import paper_design


def _one_line_error(capsys, argv: list[str]) -> str:
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bannet: "), err
    return lines[0]


def _run(tmp_path, *extra: str) -> list[str]:
    return ["run", "mnist-mlp", "--profile", "smoke", "--no-progress", "--out", str(tmp_path / "study"), *extra]


@pytest.mark.parametrize("seeds, message", [(["-1"], "seeds must be >= 0"), (["0", "0"], "seeds must be distinct")])
def test_bad_seeds_are_refused(capsys, tmp_path, no_training, seeds, message):
    line = _one_line_error(capsys, _run(tmp_path, "--seeds", *seeds, "--jobs", "2"))
    assert message in line and not (tmp_path / "study").exists()


def test_an_out_that_is_a_file_or_unwritable_is_refused_before_training(capsys, tmp_path, no_training):
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    line = _one_line_error(capsys, ["run", "mnist-mlp", "--profile", "smoke", "--out", str(file)])
    assert f"--out {file} is a file" in line
    line = _one_line_error(capsys, ["run", "mnist-mlp", "--profile", "smoke", "--out", str(file / "below")])
    assert "is not writable" in line


def test_jobs_are_capped_at_the_number_of_seeds(tmp_path, monkeypatch, no_training):
    started = []
    monkeypatch.setattr(cli, "_run_seeds_in_parallel",
                        lambda args, preset, out, processes: started.append(processes.jobs) or 0)
    assert cli.main(_run(tmp_path, "--seeds", "0", "1", "--jobs", "1000000000")) == 0
    assert started == [2]


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_jobs_below_one_are_refused(capsys, tmp_path, no_training, jobs):
    assert f"--jobs must be >= 1, got {jobs}" in _one_line_error(capsys, _run(tmp_path, "--jobs", jobs))


@pytest.mark.parametrize("device", ["tpu", "meta", "cuda:0" if not torch.cuda.is_available() else "tpu:3"])
def test_an_unknown_device_is_one_line(capsys, tmp_path, no_training, device):
    assert f"--device {device}" in _one_line_error(capsys, _run(tmp_path, "--device", device)).replace("'", "")


def test_another_studys_folder_is_refused(capsys, tmp_path, tiny_data, request):
    teacher_only = replace(paper_design(get_preset("mnist-mlp", "smoke")), generations=0, students=())
    run_study(teacher_only, [0], tmp_path / "study", torch.device("cpu"), data=tiny_data,
              progress=False, log=lambda _: None)
    request.getfixturevalue("no_training")
    line = _one_line_error(capsys, ["run", "cifar10-wrn-28-1", "--profile", "smoke", "--out", str(tmp_path / "study")])
    assert "holds mnist-mlp [smoke]" in line and "give each study its own --out" in line


def test_a_run_of_rows_without_the_control_model_ends_cleanly(capsys, tmp_path, tiny_data, monkeypatch):
    monkeypatch.setattr(cli, "run_study", lambda *args, **kwargs: run_study(*args, **{**kwargs, "data": tiny_data}))
    assert cli.main(_run(tmp_path, "--models", "indep-2")) == 0
    said = capsys.readouterr()
    assert "no table yet" in said.out and "no record of 'teacher'" in said.out and not said.err


def test_report_mistakes_are_one_line(capsys, tmp_path, tiny_data):
    assert "no study folder" in _one_line_error(capsys, ["report", str(tmp_path / "nothing")])
    (tmp_path / "empty").mkdir()
    assert "holds no readable recorded model" in _one_line_error(capsys, ["report", str(tmp_path / "empty")])
    teacher_only = replace(paper_design(get_preset("mnist-mlp", "smoke")), generations=0, students=())
    run_study(teacher_only, [0], tmp_path / "study", torch.device("cpu"), data=tiny_data, progress=False,
              log=lambda _: None)
    line = _one_line_error(capsys, ["report", str(tmp_path / "study"), "--baseline", "ban-7"])
    assert "baseline 'ban-7' is not in the study" in line


def test_status_prints_the_table_and_refuses_a_page_without_markers(tmp_path, capsys):
    assert cli.main(["status"]) == 0
    assert capsys.readouterr().out.startswith("| study | scale | recorded |")
    page = tmp_path / "page.md"
    page.write_text("# no markers here\n")
    line = _one_line_error(capsys, ["status", "--write", str(page)])
    assert "has no status markers" in line and page.read_text() == "# no markers here\n"
