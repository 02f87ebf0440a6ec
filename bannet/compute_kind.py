"""The compute kind of a run: what fixes its arithmetic (processor, instruction set, precision, threads, torch).

Paired differences of a tenth of a point are measured between the models of one seed, so every model of a seed is
computed on one kind: a Xeon with AMX, an EPYC with AVX512-BF16 and an EPYC with AVX2 alone round differently and
train at different speeds, and a model name such as "AMD EPYC" cannot tell them apart. Records made before the
kind was recorded name none; they are "kind unknown" and never refused.
"""

import platform
from collections.abc import Iterable
from pathlib import Path

import torch

from bannet.errors import InvalidInput
from bannet.precision import Precision

# The bf16 matrix instructions /proc/cpuinfo names, and torch's probe for each where /proc/cpuinfo is absent.
_BF16_FLAGS = {"amx_bf16": "_is_amx_tile_supported", "avx512_bf16": "_is_avx512_bf16_supported"}
UNKNOWN = "kind unknown"


def _cpuinfo() -> dict[str, str]:
    """The fields of the first processor in /proc/cpuinfo; empty off Linux."""
    path = Path("/proc/cpuinfo")
    fields: dict[str, str] = {}
    if not path.is_file():
        return fields
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            break  # every processor of a machine is alike: the first block is enough
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _number(text: str | None) -> int | None:
    """A decimal field of /proc/cpuinfo as an int; None when absent (off Linux, or a processor without it)."""
    return int(text) if text is not None and text.isdigit() else None


def _bf16_flags(cpuinfo: dict[str, str]) -> dict[str, bool]:
    """Which bf16 matrix instructions the processor has: /proc/cpuinfo's flags, else torch's own probes."""
    if "flags" in cpuinfo:
        present = set(cpuinfo["flags"].split())
        return {flag: flag in present for flag in _BF16_FLAGS}
    return {flag: bool(getattr(torch.cpu, probe, lambda: False)()) for flag, probe in _BF16_FLAGS.items()}


def compute_kind(device: torch.device, precision: Precision, compile: bool) -> dict:
    """The compute kind of this machine for a run on `device` in `precision`: a flat, JSON-ready dict."""
    common = {"precision": precision.to_dict()["compute"], "compile": compile, "torch": str(torch.__version__)}
    if device.type == "cuda":
        return {"device": "cuda", "gpu": torch.cuda.get_device_name(device), **common}
    cpuinfo = _cpuinfo()
    return {"device": "cpu", "vendor_id": cpuinfo.get("vendor_id"), "cpu_family": _number(cpuinfo.get("cpu family")),
            "cpu_model": _number(cpuinfo.get("model")),
            "model_name": cpuinfo.get("model name") or platform.processor() or platform.machine(),
            **_bf16_flags(cpuinfo), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(), **common}


def processor_label(kind: dict) -> str:
    """The machine part of a kind, e.g. "AMD EPYC family 25 model 1, AVX2" or a GPU's name: what stays the same when
    only the precision, compilation, threads or torch change."""
    if kind["device"] == "cuda":
        return kind["gpu"]
    processor = kind["model_name"]
    if kind["cpu_family"] is not None:
        processor += f" family {kind['cpu_family']} model {kind['cpu_model']}"
    instructions = kind["cpu_capability"]
    bf16 = [flag for flag in _BF16_FLAGS if kind[flag]]
    if bf16:
        instructions += f" ({', '.join(bf16)})"
    return f"{processor}, {instructions}"


def kind_label(kind: dict | None) -> str:
    """A short label naming every field that tells two kinds apart, e.g. "AMD EPYC family 25 model 1, AVX2, fp32,
    2 threads, torch 2.14.1"; "kind unknown" for None."""
    if kind is None:
        return UNKNOWN
    compiled = ", compiled" if kind["compile"] else ""
    if kind["device"] == "cuda":
        return f"{processor_label(kind)}, {kind['precision']}{compiled}, torch {kind['torch']}"
    threads = f"{kind['threads']} thread{'s' if kind['threads'] != 1 else ''}"
    return f"{processor_label(kind)}, {kind['precision']}{compiled}, {threads}, torch {kind['torch']}"


def record_kind(record: dict) -> dict | None:
    """The compute kind a record names; None for a record made before kinds were recorded."""
    return record.get("provenance", {}).get("kind")


def check_kind(path: Path, theirs: dict | None, kind: dict, seed: int) -> None:
    """Refuse to go on with seed `seed` on `kind` when `path` (a record, or a training state whose settings hold the
    kind) was computed on another kind: one line naming both; a file of unknown kind is never refused."""
    if theirs is not None and theirs != kind:
        raise InvalidInput(f"seed {seed} was recorded on {kind_label(theirs)} ({Path(path).name}); this machine is "
                           f"{kind_label(kind)}: every model of a seed is computed on one kind, so a paired difference "
                           "never mixes arithmetic; run this seed where its records were made, or use another --out")


def check_seed_kind(seed_records: Iterable[tuple[Path, dict]], kind: dict, seed: int) -> None:
    """Refuse seed `seed` on `kind` when any of its (path, record) pairs names another kind (see check_kind)."""
    for path, record in seed_records:
        check_kind(path, record_kind(record), kind, seed)

