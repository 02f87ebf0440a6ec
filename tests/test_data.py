"""Tests for bannet.data: official files and downloads, the fast device path against torchvision, sharding,
ImageWang labels."""

import dataclasses
import random
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import datasets, transforms
from torchvision.datasets import ImageFolder

import bannet.data.imagewang as imagewang
from bannet.data import (
    DATASETS,
    DeviceLoader,
    ImageWangFolder,
    ResizedCropFlip,
    download_imagewang,
    imagewang_classes,
    imagewang_files,
    load_imagewang_split,
    load_split,
    torchvision_dataset,
    torchvision_loader,
)
from bannet.errors import DamagedFile, MissingFile
from helpers import real_data_root

CIFAR = DATASETS["cifar10"]
NETTE = ["n01440764", "n02102040", "n02979186"]
WOOF = ["n02086240", "n02087394"]


def synthetic_images(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """n random uint8 RGB images, N×3×size×size."""
    return torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


def torchvision_reference(images: torch.Tensor, spec) -> torch.Tensor:
    """ToTensor + Normalize of each image through PIL, as torchvision's datasets do it."""
    to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize(spec.mean, spec.std)])
    return torch.stack([to_tensor(Image.fromarray(im.permute(1, 2, 0).numpy())) for im in images])


def epoch(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """All batches of one epoch."""
    return list(loader)


# ---- load_split / specs -------------------------------------------------------------------------

def test_load_split_rejects_unknown_name():
    with pytest.raises(ValueError, match="svhn.*cifar10, cifar100, imagewang, mnist"):
        load_split("svhn", train=True)


# ---- official files and downloads -----------------------------------------------------------------

OFFICIAL_FILES = {  # what each data set's errors must tell the user to put under the data root
    "mnist": ["MNIST/raw", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
              "t10k-labels-idx1-ubyte.gz"],
    "cifar10": ["cifar-10-python.tar.gz", "cifar-10-batches-py/"],
    "cifar100": ["cifar-100-python.tar.gz", "cifar-100-python/"],
    "imagewang": ["imagewang-160/", "imagewang-320/", "imagewang-160.tgz"],
}


@contextmanager
def stalling_server(reply: bytes = b"") -> Iterator[str]:
    """http://127.0.0.1:PORT/ of a server that sends `reply` to each request, then never another byte.

    Its thread holds the connections until the block ends (30 s at most), then closes them and stops.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    done = threading.Event()

    def serve() -> None:
        held = []
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)
            if reply:
                connection.settimeout(5)
                connection.recv(1 << 16)
                connection.sendall(reply)
        for connection in held:
            connection.close()
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        done.set()
        thread.join()


@pytest.fixture
def downloads_from(monkeypatch):
    """Point every data set's download at a base URL (torchvision's URLs and mirrors, ImageWang's archive)."""
    def point(url: str) -> None:
        monkeypatch.setattr(datasets.MNIST, "mirrors", [url])
        monkeypatch.setattr(datasets.CIFAR10, "url", url + datasets.CIFAR10.filename)
        monkeypatch.setattr(datasets.CIFAR100, "url", url + datasets.CIFAR100.filename)
        monkeypatch.setattr(imagewang, "ARCHIVE_URL", url + "imagewang-{size}.tgz")
    return point


@pytest.fixture
def no_network(monkeypatch) -> None:
    """Opening any connection fails the test: what it checks must happen offline."""
    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to use the network")
    monkeypatch.setattr(socket, "create_connection", refuse)


def official_files_named(message: str, name: str, root: Path) -> bool:
    """Whether an error message is one line naming the data root and every official file of the data set."""
    return "\n" not in message and str(root) in message and all(f in message for f in OFFICIAL_FILES[name])


@pytest.mark.parametrize("name", sorted(OFFICIAL_FILES))
def test_a_download_that_never_answers_gives_up_and_names_the_official_files(name, tmp_path, downloads_from):
    with stalling_server() as url:
        downloads_from(url)
        started = time.monotonic()
        with pytest.raises(MissingFile) as caught:
            load_split(name, train=False, root=tmp_path, timeout=1)
        assert time.monotonic() - started < 10
    message = str(caught.value)
    assert message.startswith(f"{name} is not under data root {tmp_path} and downloading it failed "
                              "(no answer within 1 s); put the official ")
    assert message.endswith(", or rerun with network access") and official_files_named(message, name, tmp_path)
    assert socket.getdefaulttimeout() is None  # the timeout held only for the download


def test_a_stalled_imagewang_download_leaves_no_partial_archive(tmp_path, downloads_from):
    headers_and_a_tenth_of_the_body = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + bytes(10)
    with stalling_server(headers_and_a_tenth_of_the_body) as url:
        downloads_from(url)
        with pytest.raises(MissingFile, match=r"no answer within 1 s"):
            download_imagewang(tmp_path, timeout=1)
    assert list(tmp_path.iterdir()) == []  # no imagewang-160.tgz to pass for a whole archive next time


@pytest.mark.parametrize("name", sorted(OFFICIAL_FILES))
def test_load_split_without_download_says_where_to_put_the_official_files(name, tmp_path, no_network):
    with pytest.raises(MissingFile) as caught:
        load_split(name, train=False, root=tmp_path, download=False)
    message = str(caught.value)
    assert message.startswith(f"{name} is not under data root {tmp_path}; put the official ")
    assert "download=True" in message and official_files_named(message, name, tmp_path)


def test_official_mnist_archives_in_place_are_unpacked_without_network(tmp_path, no_network):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for archive in (real_data_root("mnist") / "MNIST" / "raw").glob("*-ubyte.gz"):
        shutil.copy(archive, raw)
    images, labels = load_split("mnist", train=False, root=tmp_path, download=False)
    assert images.shape == (10_000, 1, 28, 28) and len(labels) == 10_000
    damaged = raw / "train-labels-idx1-ubyte.gz"
    with damaged.open("r+b") as file:
        file.truncate(100)
    with pytest.raises(DamagedFile, match=f"mnist: {re.escape(str(damaged))} is damaged .*; delete it and "
                                          "download mnist again, or replace it with the official file"):
        load_split("mnist", train=False, root=tmp_path, download=False)


@pytest.mark.parametrize("download", [True, False])
def test_a_truncated_or_missing_cifar_batch_is_named_before_any_download(download, tmp_path, no_network):
    folder = tmp_path / "cifar-10-batches-py"
    shutil.copytree(real_data_root("cifar10") / "cifar-10-batches-py", folder)
    batch = folder / "data_batch_3"
    with batch.open("r+b") as file:
        file.truncate(batch.stat().st_size // 2)
    with pytest.raises(DamagedFile, match=rf"^cifar10: {re.escape(str(batch))} is damaged \(its md5 is not the "
                                          r"official \w+\); delete it and download cifar10 again, or replace it "
                                          "with the official file$"):
        load_split("cifar10", train=False, root=tmp_path, download=download)
    batch.unlink()
    with pytest.raises(DamagedFile, match=f"^cifar10: {re.escape(str(batch))} is missing; put the official file "
                                          f"there, or delete {re.escape(str(folder))} and download cifar10 again$"):
        load_split("cifar10", train=False, root=tmp_path, download=download)


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100"])
def test_spec_statistics_match_real_training_set(name):
    images, labels = load_split(name, train=True, root=real_data_root(name), download=False)
    spec = DATASETS[name]
    assert images.dtype == torch.uint8 and images.shape[1:] == (spec.channels, spec.image_size, spec.image_size)
    assert labels.dtype == torch.int64 and int(labels.max()) == spec.num_classes - 1
    values = torch.arange(256, dtype=torch.float64) / 255
    for c in range(spec.channels):
        counts = torch.bincount(images[:, c].flatten(), minlength=256).double()
        mean = (counts * values).sum() / counts.sum()
        std = ((counts * (values - mean) ** 2).sum() / counts.sum()).sqrt()
        assert abs(mean - spec.mean[c]) < 5e-4 and abs(std - spec.std[c]) < 5e-4


def test_real_cifar10_fast_path_pairs_images_and_labels_like_torchvision():
    root = real_data_root("cifar10")
    images, labels = load_split("cifar10", train=False, root=root, download=False)
    assert labels.tolist() == torchvision_dataset("cifar10", train=False, root=root, download=False).targets
    fast = DeviceLoader(images, labels, CIFAR, batch_size=250, train=False)
    plain = torchvision_loader("cifar10", train=False, batch_size=250, root=root)
    assert len(fast) == len(plain) == 40
    for (x, y), (x_ref, y_ref), _ in zip(fast, plain, range(3)):
        assert torch.equal(y, y_ref)
        torch.testing.assert_close(x, x_ref, rtol=0, atol=1e-6)


# ---- DeviceLoader without augmentation -------------------------------------------------------------

def test_eval_loader_equals_torchvision_transform_in_order():
    images, labels = synthetic_images(40), torch.arange(40) % 10
    loader = DeviceLoader(images, labels, CIFAR, batch_size=16, train=False)
    batches = epoch(loader)
    assert len(loader) == len(batches) == 3 and [len(y) for _, y in batches] == [16, 16, 8]
    x = torch.cat([x for x, _ in batches])
    torch.testing.assert_close(x, torchvision_reference(images, CIFAR), rtol=0, atol=1e-6)
    assert torch.equal(torch.cat([y for _, y in batches]), labels)


def test_shuffled_loader_without_augmentation_gives_the_permuted_samples():
    spec = dataclasses.replace(CIFAR, augment="none")
    images, labels = synthetic_images(50), torch.arange(50)
    loader = DeviceLoader(images, labels, spec, batch_size=16, train=True,
                          generator=torch.Generator().manual_seed(3), channels_last=True)
    order = torch.randperm(50, generator=torch.Generator().manual_seed(3))
    batches = epoch(loader)
    assert len(batches) == len(loader) == 3  # drop_last defaults to True for training
    reference = torchvision_reference(images, spec)
    for k, (x, y) in enumerate(batches):
        index = order[16 * k:16 * (k + 1)]
        assert torch.equal(y, labels[index])
        assert x.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(x, reference[index], rtol=0, atol=1e-6)
    assert not torch.equal(torch.cat([y for _, y in epoch(loader)]), torch.cat([y for _, y in batches]))


def test_loader_rejects_bad_inputs():
    images, labels = synthetic_images(4), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(TypeError, match="uint8"):
        DeviceLoader(images.float(), labels, CIFAR, 2, train=True)
    with pytest.raises(ValueError, match="N×3×32×32"):
        DeviceLoader(images[:, :, :28, :28], labels, CIFAR, 2, train=True)
    with pytest.raises(TypeError, match="int64"):
        DeviceLoader(images, labels.int(), CIFAR, 2, train=True)
    with pytest.raises(ValueError, match="rank"):
        DeviceLoader(images, labels, CIFAR, 2, train=True, rank=2, world_size=2)


# ---- CIFAR augmentation ----------------------------------------------------------------------------

def test_cifar_augmentation_is_a_crop_and_flip_of_its_own_source():
    images = synthetic_images(256, seed=1)
    labels = torch.arange(256)  # the label names the source image
    loader = DeviceLoader(images, labels, CIFAR, batch_size=64, train=True, generator=torch.Generator().manual_seed(0))
    mean, std = torch.tensor(CIFAR.mean).view(1, 3, 1, 1), torch.tensor(CIFAR.std).view(1, 3, 1, 1)
    low, high = (0 - mean) / std, (1 - mean) / std
    offsets, flips = [], []
    for x, y in epoch(loader) + epoch(loader):
        assert bool(((x >= low - 1e-6) & (x <= high + 1e-6)).all())
        pixels = (x * std + mean) * 255
        assert (pixels - pixels.round()).abs().max() < 1e-3
        windows = F.pad(images[y], (4, 4, 4, 4)).unfold(2, 32, 1).unfold(3, 32, 1)  # N×3×9×9×32×32
        target = pixels.round().to(torch.uint8)[:, :, None, None]
        plain = (windows == target).all(5).all(4).all(1)
        mirrored = (windows.flip(-1) == target).all(5).all(4).all(1)
        matches = torch.stack([plain, mirrored], 1)  # N×2×9×9
        assert matches.flatten(1).sum(1).eq(1).all(), "each output must be exactly one crop/flip of its source"
        flip, oy, ox = matches.nonzero()[:, 1:].unbind(1)
        offsets += [oy, ox]
        flips.append(flip)
    flip_rate = torch.cat(flips).float().mean().item()
    assert 0.42 < flip_rate < 0.58
    counts = torch.bincount(torch.cat(offsets), minlength=9)
    assert len(counts) == 9 and counts.min() > 60 and counts.max() < 170  # 1024 draws, 113.8 expected each


# ---- ImageWang-style augmentation ------------------------------------------------------------------

def test_resized_crop_geometry_identity_flip_and_zoom():
    crop = ResizedCropFlip(16)
    x = torch.rand(1, 3, 16, 16)
    identity = {"theta": torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]])}
    mirror = {"theta": torch.tensor([[[-1.0, 0, 0], [0, 1.0, 0]]])}
    torch.testing.assert_close(crop.apply(x, identity), x)
    torch.testing.assert_close(crop.apply(x, mirror), x.flip(-1))
    quadrants = torch.zeros(1, 1, 16, 16)
    quadrants[..., :8, 8:] = 1.0  # top-right quadrant bright
    top_right = {"theta": torch.tensor([[[0.5, 0, 0.5], [0, 0.5, -0.5]]])}
    zoomed = crop.apply(quadrants, top_right)
    assert torch.all(zoomed[..., :14, 2:] == 1.0) and zoomed.mean() > 0.9


def test_resized_crop_draws_valid_boxes():
    theta = ResizedCropFlip(128).draw(4000, torch.Generator().manual_seed(0))["theta"]
    width, height = theta[:, 0, 0].abs(), theta[:, 1, 1]
    area, aspect = width * height, width / height
    assert area.min() >= 0.35 - 1e-6 and area.max() <= 1 + 1e-6
    assert aspect.min() >= 3 / 4 - 1e-5 and aspect.max() <= 4 / 3 + 1e-5
    assert (theta[:, 0, 2].abs() + width).max() <= 1 + 1e-6 and (theta[:, 1, 2].abs() + height).max() <= 1 + 1e-6
    assert 0.45 < (theta[:, 0, 0] < 0).float().mean() < 0.55
    assert area.std() > 0.1 and theta[:, 0, 2].std() > 0.05


# ---- sharding --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, n, size", [("cifar10", 100, 32), ("imagewang", 12, 128)])
def test_two_ranks_together_see_exactly_the_single_process_batches(name, n, size):
    spec = DATASETS[name]
    images, labels = synthetic_images(n, size, seed=2), torch.arange(n)

    def loader(batch_size, rank, world_size, train):
        return DeviceLoader(images, labels, spec, batch_size, train, generator=torch.Generator().manual_seed(7),
                            drop_last=None if train else False, rank=rank, world_size=world_size)

    for train in (True, False):
        single = loader(n // 6 * 2, 0, 1, train)
        ranks = [loader(n // 6, r, 2, train) for r in (0, 1)]
        assert len(single) == len(ranks[0]) == len(ranks[1])
        for _ in range(2):  # two epochs: the generators stay in step
            for (x, y), (x0, y0), (x1, y1) in zip(epoch(single), epoch(ranks[0]), epoch(ranks[1])):
                assert abs(len(y0) - len(y1)) <= 1
                assert torch.equal(torch.cat([y0, y1]), y)
                torch.testing.assert_close(torch.cat([x0, x1]), x, rtol=0, atol=1e-5)
                assert set(y0.tolist()).isdisjoint(y1.tolist())


# ---- ImageWang folders -----------------------------------------------------------------------------

def write_jpegs(folder: Path, count: int, rng: random.Random) -> None:
    """count small random JPEGs of varied shapes (shorter side 16..24) in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        w, h = rng.choice([(16, 20), (24, 16), (18, 18), (16, 16), (30, 24)])
        pixels = bytes(rng.randrange(256) for _ in range(w * h * 3))
        Image.frombytes("RGB", (w, h), pixels).save(folder / f"img{i}.JPEG", quality=90)


@pytest.fixture
def imagewang_root(tmp_path) -> Path:
    """A data root holding a tiny imagewang-128/: 5 train classes (3 nette, 2 woof), val of the woofs, unsup."""
    rng = random.Random(0)
    folder = tmp_path / "imagewang-128"
    for wnid in NETTE + WOOF:
        write_jpegs(folder / "train" / wnid, 3, rng)
    for wnid in WOOF:
        write_jpegs(folder / "val" / wnid, 2, rng)
    write_jpegs(folder / "unsup", 4, rng)
    (folder / "manifest.csv").write_text("split,wnid,file,source\n")
    return tmp_path


def test_val_labels_are_train_class_indices_unlike_a_plain_image_folder(imagewang_root):
    classes = imagewang_classes(imagewang_root)
    assert classes == sorted(NETTE + WOOF)
    val = ImageWangFolder(imagewang_root, "val")
    wnids = [p.parent.name for p in val.paths]
    assert [label for _, label in val] == [classes.index(w) for w in wnids] == [1, 1, 2, 2]
    plain = ImageFolder(str(imagewang_root / "imagewang-128" / "val"))
    assert plain.targets == [0, 0, 1, 1] != val.labels  # the bug this loader exists to avoid


def test_unsup_has_no_labels(imagewang_root):
    unsup = ImageWangFolder(imagewang_root, "unsup", transform=transforms.PILToTensor())
    assert len(unsup) == 4 and isinstance(unsup[0], torch.Tensor)
    images, labels = load_imagewang_split(imagewang_root, "unsup", size=16)
    assert images.shape == (4, 3, 16, 16) and labels is None


def test_fast_decode_matches_torchvision_resize_and_centre_crop(imagewang_root):
    images, labels = load_imagewang_split(imagewang_root, "train", size=16)
    paths, expected_labels = imagewang_files(imagewang_root, "train")
    assert images.shape == (15, 3, 16, 16) and images.dtype == torch.uint8
    assert labels.tolist() == expected_labels == [i for i in range(5) for _ in range(3)]
    reference = transforms.Compose([transforms.Resize(16), transforms.CenterCrop(16), transforms.PILToTensor()])
    plain = ImageWangFolder(imagewang_root, "train", transform=reference)
    assert torch.equal(images, torch.stack([image for image, _ in plain]))


def test_load_split_routes_imagewang_to_its_folder(imagewang_root):
    images, labels = load_split("imagewang", train=False, root=imagewang_root, download=False)
    assert images.shape == (4, 3, 128, 128) and labels.tolist() == [1, 1, 2, 2]


def test_broken_imagewang_folders_raise_clear_errors(imagewang_root, tmp_path):
    folder = imagewang_root / "imagewang-128"
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        imagewang_classes(tmp_path / "nowhere")
    (folder / "val" / "n09999999").mkdir()
    write_jpegs(folder / "val" / "n09999999", 1, random.Random(1))
    with pytest.raises(ValueError, match="n09999999 is not one of the 5 training classes"):
        imagewang_files(imagewang_root, "val")
    (folder / "train" / "n09999998").mkdir()
    with pytest.raises(FileNotFoundError, match="n09999998 holds no images"):
        imagewang_files(imagewang_root, "train")
    for image in (folder / "val").rglob("*.JPEG"):
        image.unlink()
    for child in list((folder / "val").iterdir()):
        child.rmdir()
    (folder / "val").rmdir()
    with pytest.raises(FileNotFoundError, match=r"val is missing"):
        ImageWangFolder(imagewang_root, "val")
