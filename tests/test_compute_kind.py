"""The compute kind: read from the processor as /proc/cpuinfo states it, labelled so that two kinds read apart, one
kind per seed (a record of another kind is refused in one line, a record of unknown kind never), seeds counted per
kind in the report."""

import json
import re
from pathlib import Path

import pytest
import torch

from bannet import cli, records
from bannet.compute_kind import check_kind, check_seed_kind, compute_kind, kind_label, record_kind
from bannet.errors import InvalidInput
from bannet.formatting import plus_minus
from bannet.precision import Precision
from bannet.provenance import provenance
from bannet.report import difference_by_kind, seeds_per_kind
from bannet.results import StudyResults
from bannet.stats import mean_ci

CPU = torch.device("cpu")
FP32 = Precision("fp32", bf16=False, channels_last=True)
AVX2_EPYC = {"device": "cpu", "vendor_id": "AuthenticAMD", "cpu_family": 25, "cpu_model": 1, "model_name": "AMD EPYC",
             "amx_bf16": False, "avx512_bf16": False, "cpu_capability": "AVX2", "threads": 2, "precision": "fp32",
             "compile": False, "torch": "2.14.1"}
AVX2_LABEL = "AMD EPYC family 25 model 1, AVX2, fp32, 2 threads, torch 2.14.1"
AMX_XEON = {**AVX2_EPYC, "vendor_id": "GenuineIntel", "cpu_family": 6, "cpu_model": 143,
            "model_name": "Intel(R) Xeon(R) Processor", "amx_bf16": True, "avx512_bf16": True,
            "cpu_capability": "AVX512", "precision": "bf16 autocast"}
AMX_LABEL = ("Intel(R) Xeon(R) Processor family 6 model 143, AVX512 (amx_bf16, avx512_bf16), bf16 autocast, "
             "2 threads, torch 2.14.1")


def _first_processor(text: str) -> dict[str, str]:
    """The first processor block of a cpuinfo text, parsed on its own terms (key, tabs, colon, value)."""
    block = text.split("\n\n")[0]
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^([^\t:\n]+?)\s*:[ \t]?(.*)$", block, flags=re.M)}


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="the processor's fields are read from /proc/cpuinfo")
def test_this_machines_kind_is_what_proc_cpuinfo_states():
    kind = compute_kind(CPU, FP32, compile=False)
    cpuinfo = _first_processor(Path("/proc/cpuinfo").read_text())
    flags = cpuinfo.get("flags", "").split()
    assert kind["vendor_id"] == cpuinfo.get("vendor_id")
    assert kind["cpu_family"] == (int(cpuinfo["cpu family"]) if "cpu family" in cpuinfo else None)
    assert kind["cpu_model"] == (int(cpuinfo["model"]) if "model" in cpuinfo else None)
    if "model name" in cpuinfo:
        assert kind["model_name"] == cpuinfo["model name"]
    assert kind["amx_bf16"] is ("amx_bf16" in flags) and kind["avx512_bf16"] is ("avx512_bf16" in flags)
    assert kind["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert (kind["device"], kind["precision"], kind["compile"]) == ("cpu", "fp32", False)
    assert (kind["threads"], kind["torch"]) == (torch.get_num_threads(), torch.__version__)
    assert json.loads(json.dumps(kind)) == kind  # flat and JSON-ready: a record holds it as it is
    assert all(not isinstance(value, (dict, list)) for value in kind.values())


def test_precision_compile_and_threads_make_another_kind():
    fp32 = compute_kind(CPU, FP32, compile=False)
    bf16 = compute_kind(CPU, Precision("bf16", bf16=True, channels_last=True), compile=True)
    assert (bf16["precision"], bf16["compile"]) == ("bf16 autocast", True) and bf16 != fp32
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert compute_kind(CPU, FP32, compile=False)["threads"] == threads + 1
    finally:
        torch.set_num_threads(threads)


def test_labels_name_what_tells_kinds_apart():
    assert kind_label(AVX2_EPYC) == AVX2_LABEL
    assert kind_label(AMX_XEON) == AMX_LABEL
    assert kind_label({**AVX2_EPYC, "threads": 1, "compile": True}) == (
        "AMD EPYC family 25 model 1, AVX2, fp32, compiled, 1 thread, torch 2.14.1")
    assert kind_label({**AVX2_EPYC, "cpu_family": None, "cpu_model": None, "model_name": "arm64"}) == (
        "arm64, AVX2, fp32, 2 threads, torch 2.14.1")
    gpu = {"device": "cuda", "gpu": "NVIDIA H100", "precision": "bf16 autocast", "compile": False, "torch": "2.14.1"}
    assert kind_label(gpu) == "NVIDIA H100, bf16 autocast, torch 2.14.1"
    assert kind_label(None) == "kind unknown"


def _record(kind: dict | None) -> dict:
    return {"study": "s", "provenance": {"device": "cpu", "kind": kind}}


def test_provenance_states_the_kind_it_is_given():
    assert provenance(CPU, 1.0, FP32, kind=AVX2_EPYC)["kind"] == AVX2_EPYC
    assert provenance(CPU, 1.0, FP32)["kind"] is None
    assert record_kind({"provenance": provenance(CPU, 1.0, FP32, kind=AMX_XEON)}) == AMX_XEON


def test_a_seed_recorded_on_another_kind_is_refused_in_one_line():
    here = compute_kind(CPU, FP32, compile=False)
    edited = {**here, "amx_bf16": not here["amx_bf16"], "precision": "bf16 autocast"}
    seed_records = [(Path("study/seed-3/ban-1.json"), _record(here)), (Path("study/seed-3/teacher.json"),
                                                                       _record(edited))]
    with pytest.raises(InvalidInput) as refused:
        check_seed_kind(seed_records, here, seed=3)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"seed 3 was recorded on {kind_label(edited)} (teacher.json); this machine is "
                              f"{kind_label(here)}: ")
    assert kind_label(edited) != kind_label(here) and "use another --out" in message


def test_a_seed_of_the_same_kind_or_of_unknown_kind_is_accepted():
    here = compute_kind(CPU, FP32, compile=False)
    older = [(Path("a.json"), {"provenance": {"device": "cpu"}}), (Path("b.json"), _record(None)),
             (Path("c.json"), {"study": "s"})]
    check_seed_kind([(Path("teacher.json"), _record(here)), *older], here, seed=0)
    check_seed_kind(older, AMX_XEON, seed=0)
    check_seed_kind([], here, seed=0)


def test_a_training_state_of_another_kind_is_refused():
    check_kind(Path("teacher.state.pt"), AVX2_EPYC, AVX2_EPYC, seed=1)
    check_kind(Path("teacher.state.pt"), None, AVX2_EPYC, seed=1)
    with pytest.raises(InvalidInput, match=re.escape(f"seed 1 was recorded on {AMX_LABEL} (teacher.state.pt)")):
        check_kind(Path("teacher.state.pt"), AMX_XEON, AVX2_EPYC, seed=1)


def _save(study_dir: Path, seed: int, name: str, position: int, kind: dict | None) -> None:
    """A hand-made record of a one-model study (teacher only), with its outputs and the given kind."""
    record = {"study": "hand-made", "profile": "smoke", "seed": seed, "model": {"name": name, "teacher": None},
              "position": position, "preset": {"teacher_arch": "mlp", "student_arch": "mlp"},
              "provenance": {"device": "cpu"} if kind is None else {"device": "cpu", "kind": kind}}
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    records.save_model(records.model_files(study_dir, seed, name), record, logits, torch.tensor([0, 1, 1]), None)


def test_seeds_are_grouped_by_kind(tmp_path):
    for seed, kind in [(0, AVX2_EPYC), (1, AVX2_EPYC), (2, None), (4, AMX_XEON), (3, None)]:
        _save(tmp_path, seed, "teacher", 0, kind)
    _save(tmp_path, 4, "ban-1", 1, AVX2_EPYC)  # a hand-edited folder: seed 4 names two kinds
    study = records.load_study(tmp_path)
    grouped = seeds_per_kind(study)
    assert grouped == {AVX2_LABEL: [0, 1, 4], "kind unknown": [2, 3], AMX_LABEL: [4]}
    assert list(grouped) == [AVX2_LABEL, "kind unknown", AMX_LABEL]  # in order of each kind's first seed


def test_the_report_prints_the_seeds_per_kind(tmp_path, capsys):
    for seed, kind in [(0, AVX2_EPYC), (1, AVX2_EPYC), (2, None), (3, None)]:
        _save(tmp_path, seed, "teacher", 0, kind)
    assert cli.main(["report", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("hand-made: 4 seeds (0, 1, 2, 3)")
    assert lines[1] == f"Seeds per kind: {AVX2_LABEL}: 0 1; kind unknown: 2 3"


def test_the_primary_difference_is_shown_per_kind(tmp_path):
    for seed, kind in [(0, AVX2_EPYC), (1, AVX2_EPYC), (2, AMX_XEON)]:
        _save(tmp_path, seed, "teacher", 0, kind)
        _save(tmp_path, seed, "ban-1", 1, kind)
    study = records.load_study(tmp_path)
    row = StudyResults(study).row("ban-1", "teacher")
    lines = difference_by_kind(StudyResults(study), "ban-1", "teacher").splitlines()
    assert lines[2] == f"| {AVX2_LABEL} | 2 | {plus_minus(*mean_ci([row.diffs[0], row.diffs[1]]))} |"
    assert lines[3] == f"| {AMX_LABEL} | 1 | {row.diffs[2]:.2f} |"


def test_a_study_with_no_pair_yet_says_so_instead_of_an_empty_table(tmp_path):
    _save(tmp_path, 0, "teacher", 0, AVX2_EPYC)  # the first model of a study
    assert difference_by_kind(StudyResults(records.load_study(tmp_path)), "ban-1", "teacher") == (
        "No seed has both `ban-1` and `teacher` yet.")
