"""The official files of a data set: where they go, their md5 check, and downloads that give up instead of hanging."""

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from torchvision import datasets
from torchvision.datasets.utils import check_integrity

from ..errors import DamagedFile, MissingFile

DOWNLOAD_TIMEOUT_S = 60.0
"""Seconds a download may wait for the server at any one step (connecting, or each read), not for all of it."""

TORCHVISION_CLASSES = {"mnist": datasets.MNIST, "cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}


def official_archives(name: str, root: Path) -> list[tuple[Path, str]]:
    """(path, md5) of the official archives of a torchvision data set, where torchvision looks for them under root."""
    dataset = TORCHVISION_CLASSES[name]
    if name == "mnist":
        raw = root / dataset.__name__ / "raw"
        return [(raw / filename, md5) for filename, md5 in dataset.resources]
    return [(root / dataset.filename, dataset.tgz_md5)]


def official_files(name: str, root: Path) -> str:
    """Which official files of a torchvision data set to put where under root, as a phrase for error messages."""
    archives = official_archives(name, root)
    if name == "mnist":
        return f"the official {', '.join(path.name for path, _ in archives)} in {archives[0][0].parent}"
    base_folder = TORCHVISION_CLASSES[name].base_folder
    return f"the official {archives[0][0].name} or its extracted {base_folder}/ in {root}"


def archives_in_place(name: str, root: Path) -> bool:
    """Whether every official archive of a torchvision data set is under root with its official md5."""
    return all(check_integrity(str(path), md5) for path, md5 in official_archives(name, root))


def check_official_files(name: str, root: Path) -> None:
    """Raise DamagedFile when a file torchvision would read under root is not the official one (md5).

    CIFAR: every batch and the meta file once the extracted folder exists, a missing one too. MNIST: each
    *-ubyte.gz present in MNIST/raw/ (an absent one is downloaded, or reported missing, afterwards).
    """
    dataset = TORCHVISION_CLASSES[name]
    if name == "mnist":
        expected = [(path, md5) for path, md5 in official_archives(name, root) if path.exists()]
    else:
        folder = root / dataset.base_folder
        if not folder.is_dir():
            return
        listed = [*dataset.train_list, *dataset.test_list, (dataset.meta["filename"], dataset.meta["md5"])]
        expected = [(folder / filename, md5) for filename, md5 in listed]
    for path, md5 in expected:
        if not path.is_file():
            raise DamagedFile(f"{name}: {path} is missing; put the official file there, "
                              f"or delete {path.parent} and download {name} again")
        if not check_integrity(str(path), md5):
            raise DamagedFile(f"{name}: {path} is damaged (its md5 is not the official {md5}); "
                              f"delete it and download {name} again, or replace it with the official file")


def not_found(name: str, root: Path, files: str) -> MissingFile:
    """The error for a data set that is not under root when no download is allowed."""
    return MissingFile(f"{name} is not under data root {root}; put {files}, or let it be downloaded "
                       "(download=True; on the command line, leave out --no-download)")


@contextmanager
def download_deadline(name: str, root: Path, files: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> Iterator[None]:
    """Inside, every new socket waits at most timeout s per step; a failed download becomes a one-line MissingFile."""
    # torchvision downloads with urlopen and no timeout, so a server that accepts and never answers would
    # hang forever. The default timeout is process-wide, hence restored on the way out.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        yield
    except (OSError, RuntimeError) as error:
        raise MissingFile(f"{name} is not under data root {root} and downloading it failed "
                          f"({_reason(error, timeout)}); put {files}, or rerun with network access") from error
    finally:
        socket.setdefaulttimeout(previous)


def _reason(error: BaseException, timeout: float) -> str:
    """Why a download failed, on one line: a silent server as such, anything else as its own words."""
    cause = getattr(error, "reason", error)  # urllib wraps errors while connecting in URLError.reason
    if isinstance(cause, TimeoutError):
        return f"no answer within {timeout:g} s"
    return " ".join(str(error).split()) or type(error).__name__
