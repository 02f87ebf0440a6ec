"""Command line: `python -m bannet run|report|presets`."""

import argparse
from dataclasses import fields
from pathlib import Path

import torch

from bannet.born_again import run_study, study_plan
from bannet.presets import PRESETS, PROFILES, get_preset
from bannet.report import format_table, load_study, summarize


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: CUDA is not available on this machine")
    return torch.device(name)


def cmd_run(args: argparse.Namespace) -> int:
    """Train (or resume) a study and print its table."""
    preset = get_preset(args.preset, args.profile)
    out = Path(args.out or Path("runs") / (preset.name if args.profile == "full" else f"{preset.name}-{args.profile}"))
    device = _device(args.device)
    print(f"{preset.name} [{args.profile}] on {device}: {', '.join(s.name for s in study_plan(preset))}; "
          f"seeds {args.seeds}; {preset.epochs} epochs; records in {out}")
    run_study(preset, args.seeds, out, device, root=args.data, profile=args.profile, progress=not args.no_progress)
    print(format_table(summarize(load_study(out)), preset.paper))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Print the table of a recorded study."""
    study = load_study(args.dir)
    name = next(iter(next(iter(study.models.values())).values())).record["study"]
    paper = PRESETS[name].paper if name in PRESETS else {}
    print(f"{name}: {len(study.seeds)} seeds ({', '.join(map(str, study.seeds))}); test error %, mean ± 95% CI")
    print(format_table(summarize(study, baseline=args.baseline), paper, args.baseline))
    if paper:
        print(f"paper: {PRESETS[name].paper_source}")
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
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.set_defaults(func=cmd_run)
    report = sub.add_parser("report", help="print the table of a recorded study")
    report.add_argument("dir")
    report.add_argument("--baseline", default="teacher", help="row the paired differences are taken against")
    report.set_defaults(func=cmd_report)
    presets = sub.add_parser("presets", help="list the presets")
    presets.set_defaults(func=cmd_presets)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run the command line."""
    args = parser().parse_args(argv)
    return args.func(args)
