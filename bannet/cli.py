"""Command line: `python -m bannet run|report|status|presets`."""

import argparse
import os
import sys
from dataclasses import fields
from pathlib import Path

import torch

from bannet import distributed, recorded
from bannet.born_again import run_study
from bannet.errors import InvalidInput, UserError
from bannet.locks import study_lock
from bannet.precision import PRECISIONS
from bannet.preflight import check_jobs, check_records, check_request
from bannet.presets import PRESETS, Preset, get_preset, primary_plan, required_models, study_plan
from bannet.profiles import PROFILES
from bannet.recipes import recipe_for
from bannet.records import load_study
from bannet.report import format_seeds_per_kind, study_table
from bannet.results import StudyResults
from bannet.seed_processes import SeedProcesses, run_seeds_in_parallel


def _device(name: str) -> torch.device:
    """The torch device for --device: auto picks CUDA when present; a CUDA request without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise InvalidInput(f"--device {name!r} is not a device: use auto, cpu, cuda or cuda:N") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput(f"--device {name}: CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise InvalidInput(f"--device {name}: bannet trains on cpu or cuda")
    return device


def _visible_gpus() -> list[str]:
    """The GPU ids a child process may be pinned to: CUDA_VISIBLE_DEVICES's entries, else 0..count-1."""
    count = torch.cuda.device_count()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return ([i.strip() for i in visible.split(",")] if visible else [str(i) for i in range(count)])[:count]


def cmd_run(args: argparse.Namespace) -> int:
    """Train (or resume) a study and print its table: here, data-parallel under torchrun, or one process per seed."""
    preset = get_preset(args.preset, args.profile)
    out = Path(args.out or Path("runs") / preset.folder_name)
    if distributed.launched_by_torchrun():
        if args.jobs not in (None, 1):
            raise InvalidInput(f"--jobs {args.jobs} starts its own processes; under torchrun every process trains "
                               "the same model data-parallel: leave --jobs out")
        return distributed.run_in_process_group(lambda device: _run_here(args, preset, out, device), args.device)
    device = _device(args.device)
    check_jobs(args.jobs)
    gpus = _visible_gpus() if args.device in ("auto", "cuda") else []
    jobs = min(args.jobs if args.jobs is not None else max(1, len(gpus)), len(args.seeds))  # no idle process
    if jobs > 1 and args.device.startswith("cuda:"):
        raise InvalidInput(f"--jobs pins each seed to its own GPU: use --device auto or cuda, not {args.device}")
    check_request(preset, args.seeds, args.models, out, logs=jobs > 1)  # before anything is created
    if jobs > 1:
        return _run_seeds_in_parallel(args, preset, out, SeedProcesses(args, out, jobs, gpus))
    return _run_here(args, preset, out, device)


def _run_here(args: argparse.Namespace, preset: Preset, out: Path, device: torch.device) -> int:
    """Run the study in this process (one rank of several under torchrun); rank 0 alone prints and reads records."""
    world = distributed.world_size()
    ranks = f"; {world} processes × batch {distributed.per_rank_batch(preset.batch_size)}" if world > 1 else ""
    if distributed.is_main():
        plan = required_models(study_plan(preset), args.models) if args.models else study_plan(preset)
        primary = [] if args.models else [seed for seed in args.seeds if seed in preset.primary_seeds]
        only = (f" (seeds {primary}: only {', '.join(s.name for s in primary_plan(preset))}, the primary "
                "comparison's)" if primary else "")
        print(f"{preset.name} [{preset.profile}] on {device}{ranks}: {', '.join(s.name for s in plan)}; "
              f"seeds {args.seeds}{only}; {preset.epochs} epochs; records in {out}")
    run_study(preset, args.seeds, out, device, root=args.data, progress=not args.no_progress, compile=args.compile,
              precision=args.precision, download=not args.no_download, models=args.models)
    if distributed.is_main():
        _print_table(out)
    return 0


def _run_seeds_in_parallel(args: argparse.Namespace, preset: Preset, out: Path, processes: SeedProcesses) -> int:
    """Every seed in its own process under this run's lock on `out`, once the records it adds to are checked."""
    with study_lock(out):
        check_records(out, preset, recipe_for(preset, args.precision, args.compile), args.seeds, print)
        where = f"GPUs {', '.join(processes.gpus)}" if processes.gpus else "the CPU"
        print(f"{preset.name} [{preset.profile}]: seeds {args.seeds}, {processes.jobs} processes at once on {where}; "
              f"records in {out}, one log per seed in {processes.logs}")
        code = run_seeds_in_parallel(processes, args.seeds)
    if code == 0:
        _print_table(out)
    return code


def _print_table(out: Path) -> None:
    """The study's table after training; where its control model has no record yet (a `--models` run of other
    rows), one line that says so, since the training itself succeeded."""
    study = load_study(out)
    if study.control_model not in study.model_names():
        print(f"no table yet: {out} has no record of {study.control_model!r}, the row the table is paired against; "
              f"`python -m bannet report {out} --baseline ROW` pairs it against a recorded row")
        return
    print(study_table(StudyResults(study)))


def cmd_report(args: argparse.Namespace) -> int:
    """Print the table of a recorded study."""
    study = load_study(args.dir)
    for problem in study.skipped:
        print(f"bannet: left out of the table: {problem}", file=sys.stderr)
    seeds = f"{len(study.seeds)} seed{'s' if len(study.seeds) != 1 else ''}"
    print(f"{study.first_record()['study']}: {seeds} ({', '.join(map(str, study.seeds))}); "
          "test error %, mean ± 95% CI")
    print(format_seeds_per_kind(study))
    print(study_table(StudyResults(study), args.baseline, labelled_classes_only=args.labelled_classes_only))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print which studies are recorded, or write that table into a page between its status markers."""
    if args.write is None:
        print(recorded.status())
        return 0
    page = Path(args.write)
    try:
        page.write_text(recorded.with_status(page.read_text()))
    except (OSError, ValueError) as error:
        raise InvalidInput(f"--write {page}: {error}") from error
    print(f"wrote the status of {len(PRESETS)} studies into {page}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    """List presets and profiles."""
    for preset in PRESETS.values():
        print(f"{preset.name:40s} {preset.description}")
        print(f"{'':40s} {preset.teacher_arch} -> {preset.student_arch}, {preset.epochs} epochs, "
              f"models: {', '.join(s.name for s in study_plan(preset))}")
    shrink = [f.name for f in fields(PROFILES["smoke"]) if f.name != "name"]
    print("profiles: " + "; ".join(f"{p.name} ({', '.join(f'{k}={getattr(p, k)}' for k in shrink if getattr(p, k))})"
                                   if p.name != "full" else "full (the preset as written)" for p in PROFILES.values()))
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser."""
    top = argparse.ArgumentParser(prog="python -m bannet", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train (or resume) a study")
    run.add_argument("preset", choices=list(PRESETS))
    run.add_argument("--seeds", type=int, nargs="+", default=[0])
    run.add_argument("--profile", choices=list(PROFILES), default="full")
    run.add_argument("--out", help="study folder (default runs/PRESET[-PROFILE])")
    run.add_argument("--data", help="data root (default $BANNET_DATA, else ./data; downloads when missing)")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    run.add_argument("--precision", choices=PRECISIONS, default="auto",
                     help="auto: bf16 autocast + channels_last on GPUs and on CPUs with bf16 matrix instructions "
                          "(AMX, AVX512-BF16), fp32 elsewhere")
    run.add_argument("--no-download", action="store_true",
                     help="never download a data set: fail at once, saying where to put the official files")
    run.add_argument("--models", nargs="+", help="train only these models of the plan (and the models they learn "
                                                 "from), e.g. more seeds of teacher and ban-1")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--compile", action="store_true", help="torch.compile student and teacher (pays on long GPU runs)")
    run.add_argument("--jobs", type=int, help="seeds run at once, one process each, pinned to the visible GPUs "
                                              "round-robin (default: the number of visible GPUs, else 1; at most "
                                              "the number of seeds)")
    run.set_defaults(func=cmd_run)
    report = sub.add_parser("report", help="print the table of a recorded study")
    report.add_argument("dir")
    report.add_argument("--baseline", help="row the paired differences are taken against (default: the label-trained "
                                           "model of the students' architecture: teacher, or label across "
                                           "architectures)")
    report.add_argument("--labelled-classes-only", action="store_true",
                        help="take each prediction among the classes the test labels name (ImageWang: its 10 dog "
                             "breeds of 20 outputs)")
    report.set_defaults(func=cmd_report)
    status = sub.add_parser("status", help="which studies are recorded in results/, and how much of each")
    status.add_argument("--write", metavar="PAGE", help="write the table into PAGE between its status markers")
    status.set_defaults(func=cmd_status)
    presets = sub.add_parser("presets", help="list the presets")
    presets.set_defaults(func=cmd_presets)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run the command line: a user's mistake is one `bannet: …` line and exit code 2, a bug keeps its traceback."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as error:
        print(f"bannet: {error}", file=sys.stderr)
        return 2
