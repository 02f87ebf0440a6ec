#!/usr/bin/env python3
"""Move a built ImageWang folder to the GPU machine in pieces small enough for one device call each.

The device tool carries at most 64 MiB of git-ignored paths per call, and train + val of
imagewang-128 are about 123 MiB, so `stage` packs the folder into self-contained tar pieces of at most
--piece-mib MiB (default 56), one per folder .gpu-data/iw-K/ (.gpu-data/ is git-ignored), and
`unstage`, run on the other side, extracts whichever pieces are present and says what is still missing.

Here (once):
    python scripts/stage_imagewang.py stage --src /work/data/imagewang-128 --out .gpu-data
    # prints: 3 pieces: .gpu-data/iw-1 .gpu-data/iw-2 .gpu-data/iw-3

On the device, one call per piece, back to back while the machine stays warm (check `warm` in each
reply; a fresh machine has lost the earlier pieces, so start again from piece 1):
    call 1: carry [".gpu-data/iw-1"], command
        python scripts/stage_imagewang.py unstage --staged .gpu-data --out data || true
    call 2: carry [".gpu-data/iw-2"], the same command
    call 3: carry [".gpu-data/iw-3"], command
        python scripts/stage_imagewang.py unstage --staged .gpu-data --out data && BANNET_DATA=data python -m bannet ...
`unstage` exits 0 only once every piece has been extracted (exit 3 while some are missing), so the
last call's `&&` starts the work only on a complete data/imagewang-128/.
Which splits travel is --splits (default: train val; unsup adds about 61 MiB). Needs only the stdlib.
"""

import argparse
import json
import re
import sys
import tarfile
from pathlib import Path

MIB = 1 << 20
BLOCK = 512
TAR_OVERHEAD = 2 * BLOCK + 20 * BLOCK  # end-of-archive blocks + padding to tarfile's 10 KiB record
PIECE = re.compile(r"(?P<name>.+)\.part-(?P<k>\d+)-of-(?P<n>\d+)\.tar$")
INCOMPLETE = 3


def member_bytes(size: int) -> int:
    """Upper bound on the tar bytes of one file: header (+ a long-name pax header) + data padded to 512."""
    return 3 * BLOCK + -(-size // BLOCK) * BLOCK


def plan_pieces(files: list[tuple[Path, int]], limit: int) -> list[list[Path]]:
    """Group (path, size) in order into pieces whose tar size stays within limit bytes."""
    pieces: list[list[Path]] = [[]]
    used = TAR_OVERHEAD
    for path, size in files:
        need = member_bytes(size)
        if need + TAR_OVERHEAD > limit:
            raise ValueError(f"{path} ({size} bytes) does not fit in a piece of {limit} bytes")
        if used + need > limit:
            pieces.append([])
            used = TAR_OVERHEAD
        pieces[-1].append(path)
        used += need
    return pieces


def stage(src: Path, out: Path, piece_mib: float, splits: list[str]) -> list[Path]:
    """Pack src/<split>/** (and any top-level files) into out/iw-K/<src.name>.part-K-of-N.tar; return the tars."""
    if not src.is_dir():
        raise FileNotFoundError(f"source folder {src} is missing")
    missing = [s for s in splits if not (src / s).is_dir()]
    if missing:
        raise FileNotFoundError(f"{src} lacks the split folder(s) {', '.join(missing)}")
    chosen = sorted(p for p in src.iterdir() if p.is_file())
    for split in splits:
        chosen += sorted(p for p in (src / split).rglob("*") if p.is_file())
    limit = int(piece_mib * MIB)
    pieces = plan_pieces([(p, p.stat().st_size) for p in chosen], limit)
    tars = []
    for k, members in enumerate(pieces, start=1):
        folder = out / f"iw-{k}"
        folder.mkdir(parents=True, exist_ok=True)
        tar_path = folder / f"{src.name}.part-{k}-of-{len(pieces)}.tar"
        with tarfile.open(tar_path, "w") as tar:
            for path in members:
                tar.add(path, arcname=f"{src.name}/{path.relative_to(src).as_posix()}", recursive=False)
        if tar_path.stat().st_size > limit:
            raise RuntimeError(f"{tar_path} came out at {tar_path.stat().st_size} bytes, over {limit}")
        tars.append(tar_path)
    return tars


def unstage(staged: Path, out: Path) -> tuple[list[int], int]:
    """Extract every piece under staged into out; return (pieces extracted so far, total pieces)."""
    found = sorted((int(m["k"]), int(m["n"]), m["name"], p) for p in staged.glob("*/*.tar")
                   if (m := PIECE.match(p.name)))
    if not found:
        raise FileNotFoundError(f"no staged pieces (*/NAME.part-K-of-N.tar) under {staged}")
    names = {(name, n) for _, n, name, _ in found}
    if len(names) != 1:
        raise ValueError(f"pieces of different stagings under {staged}: {sorted(names)}")
    (name, total), = names
    out.mkdir(parents=True, exist_ok=True)
    ledger = out / f"{name}.staged.json"
    done = set(json.loads(ledger.read_text())["done"]) if ledger.is_file() else set()
    for k, _, _, path in found:
        if k not in done:
            with tarfile.open(path) as tar:
                tar.extractall(out, filter="data")
            done.add(k)
            ledger.write_text(json.dumps({"total": total, "done": sorted(done)}))
    return sorted(done), total


def main(argv: list[str] | None = None) -> int:
    """Command line: `stage` here, `unstage` on the device (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    pack = commands.add_parser("stage", help="pack a built imagewang-<size>/ into pieces")
    pack.add_argument("--src", type=Path, required=True, help="the imagewang-<size> folder")
    pack.add_argument("--out", type=Path, default=Path(".gpu-data"), help="where the iw-K/ folders go")
    pack.add_argument("--piece-mib", type=float, default=56.0, help="largest piece in MiB (default 56)")
    pack.add_argument("--splits", nargs="+", default=["train", "val"], help="split folders to pack")
    unpack = commands.add_parser("unstage", help="extract the pieces present into --out")
    unpack.add_argument("--staged", type=Path, default=Path(".gpu-data"), help="folder holding the iw-K/")
    unpack.add_argument("--out", type=Path, default=Path("data"), help="data root to restore into")
    args = parser.parse_args(argv)
    if args.command == "stage":
        tars = stage(args.src, args.out, args.piece_mib, args.splits)
        print(f"{len(tars)} pieces: " + " ".join(str(t.parent) for t in tars))
        return 0
    done, total = unstage(args.staged, args.out)
    missing = sorted(set(range(1, total + 1)) - set(done))
    if missing:
        print(f"unstage: have pieces {done} of {total}; still missing {missing}")
        return INCOMPLETE
    print(f"unstage: complete, all {total} pieces extracted into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
