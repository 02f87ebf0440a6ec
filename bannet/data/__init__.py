"""Data sets for bannet: specs, whole splits, the device-resident fast loader and the torchvision path."""

from .augment import PadCropFlip, ResizedCropFlip, build_augmentation
from .device_loader import DeviceLoader, EndlessBatches
from .download import DOWNLOAD_TIMEOUT_S
from .imagewang import (ImageWangFolder, download_imagewang, find_imagewang, imagewang_classes,
                        imagewang_files, load_imagewang_split)
from .specs import DATASETS, DatasetSpec, get_spec
from .splits import load_split, torchvision_dataset
from .torchvision_path import spec_transform, torchvision_loader

__all__ = [
    "DATASETS", "DOWNLOAD_TIMEOUT_S", "DatasetSpec", "DeviceLoader", "EndlessBatches", "ImageWangFolder",
    "PadCropFlip", "ResizedCropFlip",
    "build_augmentation", "download_imagewang", "find_imagewang", "get_spec", "imagewang_classes",
    "imagewang_files", "load_imagewang_split", "load_split", "spec_transform", "torchvision_dataset",
    "torchvision_loader",
]
