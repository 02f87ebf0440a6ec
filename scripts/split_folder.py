#!/usr/bin/env python3
"""Split a data folder into self-contained pieces of at most N MiB, and rebuild it byte-identical from them.

For moving a data set (e.g. a built imagewang-128/) through a channel that takes only so much at once:

    python scripts/split_folder.py split --src data/imagewang-128 --out pieces --piece-mib 50 --only train val
    # prints: 3 pieces: pieces/imagewang-128.part-1-of-3.tar ... (every file of train/ and val/, and top-level files)
    python scripts/split_folder.py join --pieces pieces --out data
    # rebuilds data/imagewang-128/; exit 0 once every piece is in, exit 3 (and the missing pieces named) before

Each piece is a plain tar that `join` can extract on its own, so the pieces may arrive one at a time, in
any order, each under any sub-folder of --pieces, and be deleted once joined: `join` keeps a ledger of
the pieces already extracted (out/NAME.joined.json) and exits 0 only when all of them are in.
Needs only the standard library.
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
            raise ValueError(f"{path} ({size} bytes) does not fit in a piece of {limit} bytes; raise --piece-mib")
        if used + need > limit:
            pieces.append([])
            used = TAR_OVERHEAD
        pieces[-1].append(path)
        used += need
    return pieces


def chosen_files(src: Path, only: list[str] | None) -> list[Path]:
    """Every file under src in sorted order; with only, the top-level files and those under the named sub-folders."""
    if not src.is_dir():
        raise FileNotFoundError(f"source folder {src} is missing; name an existing folder with --src")
    if only is None:
        return sorted(p for p in src.rglob("*") if p.is_file())
    missing = [name for name in only if not (src / name).is_dir()]
    if missing:
        raise FileNotFoundError(f"{src} lacks the sub-folder(s) {', '.join(missing)}; fix --only")
    files = sorted(p for p in src.iterdir() if p.is_file())
    for name in only:
        files += sorted(p for p in (src / name).rglob("*") if p.is_file())
    return files


def split(src: Path, out: Path, piece_mib: float, only: list[str] | None = None) -> list[Path]:
    """Pack the chosen files of src into out/<src.name>.part-K-of-N.tar, each at most piece_mib MiB; return them."""
    limit = int(piece_mib * MIB)
    files = chosen_files(src, only)
    pieces = plan_pieces([(p, p.stat().st_size) for p in files], limit)
    out.mkdir(parents=True, exist_ok=True)
    tars = []
    for k, members in enumerate(pieces, start=1):
        tar_path = out / f"{src.name}.part-{k}-of-{len(pieces)}.tar"
        with tarfile.open(tar_path, "w") as tar:
            for path in members:
                tar.add(path, arcname=f"{src.name}/{path.relative_to(src).as_posix()}", recursive=False)
        if tar_path.stat().st_size > limit:
            raise RuntimeError(f"{tar_path} came out at {tar_path.stat().st_size} bytes, over {limit}")
        tars.append(tar_path)
    return tars


def join(pieces: Path, out: Path) -> tuple[list[int], int]:
    """Extract every piece found under pieces into out; return (pieces extracted so far, total pieces)."""
    found = sorted((int(m["k"]), int(m["n"]), m["name"], p) for p in pieces.rglob("*.tar")
                   if (m := PIECE.match(p.name)))
    if not found:
        raise FileNotFoundError(f"no pieces (NAME.part-K-of-N.tar) under {pieces}; put the pieces there")
    names = {(name, n) for _, n, name, _ in found}
    if len(names) != 1:
        raise ValueError(f"pieces of different splits under {pieces}: {sorted(names)}; keep one split's pieces there")
    (name, total), = names
    out.mkdir(parents=True, exist_ok=True)
    ledger = out / f"{name}.joined.json"
    done = set(json.loads(ledger.read_text())["done"]) if ledger.is_file() else set()
    for k, _, _, path in found:
        if k not in done:
            with tarfile.open(path) as tar:
                tar.extractall(out, filter="data")
            done.add(k)
            ledger.write_text(json.dumps({"total": total, "done": sorted(done)}))
    return sorted(done), total


def main(argv: list[str] | None = None) -> int:
    """Command line: `split` a folder into pieces, `join` the pieces (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    pack = commands.add_parser("split", help="pack a folder into pieces")
    pack.add_argument("--src", type=Path, required=True, help="the folder to split")
    pack.add_argument("--out", type=Path, required=True, help="where the pieces go")
    pack.add_argument("--piece-mib", type=float, required=True, help="largest piece in MiB")
    pack.add_argument("--only", nargs="+", help="sub-folders to pack (default: all), with the top-level files")
    unpack = commands.add_parser("join", help="extract the pieces present into --out")
    unpack.add_argument("--pieces", type=Path, required=True, help="folder holding the pieces (searched recursively)")
    unpack.add_argument("--out", type=Path, required=True, help="folder to rebuild the split folder in")
    args = parser.parse_args(argv)
    if args.command == "split":
        tars = split(args.src, args.out, args.piece_mib, args.only)
        print(f"{len(tars)} pieces: " + " ".join(str(t) for t in tars))
        return 0
    done, total = join(args.pieces, args.out)
    missing = sorted(set(range(1, total + 1)) - set(done))
    if missing:
        print(f"join: have pieces {done} of {total}; still missing {missing}")
        return INCOMPLETE
    print(f"join: complete, all {total} pieces extracted into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
