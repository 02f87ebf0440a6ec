"""Data sets for bannet: specs, whole splits, the device-resident fast loader and the torchvision path."""

from .augment import AlternatingFlipTranslate, PadCropFlip, ResizedCropFlip, build_augmentation
from .device_loader import DeviceLoader, EndlessBatches
from .download import DOWNLOAD_TIMEOUT_S
from .imagewang import (
                        ImageWangFolder,
                        download_imagewang,
                        find_imagewang,
                        imagewang_classes,
                        imagewang_files,
                        load_imagewang_split,
)
from .specs import DATASETS, DatasetSpec, get_spec
from .splits import DATA_ENV, data_root, load_split, torchvision_dataset
from .study import StudyData, load_study_data
from .torchvision_path import spec_transform, torchvision_loader

__all__ = [
    "AlternatingFlipTranslate", "DATASETS", "DATA_ENV", "DOWNLOAD_TIMEOUT_S", "DatasetSpec", "DeviceLoader",
    "EndlessBatches", "ImageWangFolder", "PadCropFlip", "ResizedCropFlip", "StudyData",
    "build_augmentation", "data_root", "download_imagewang", "find_imagewang", "get_spec", "imagewang_classes",
    "imagewang_files", "load_imagewang_split", "load_split", "load_study_data", "spec_transform", "torchvision_dataset",
    "torchvision_loader",
]
