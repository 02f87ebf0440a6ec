"""The grammar of model names: the families built from a pattern, and each family's tiny sibling for smoke runs."""

import re

FAMILY_PATTERNS: dict[str, re.Pattern[str]] = {
    "wrn-D-W": re.compile(r"wrn-(\d+)-(\d+)"),
    "densenet-D-G": re.compile(r"densenet-(\d+)-(\d+)"),
    "preresnet-D": re.compile(r"preresnet-(\d+)"),
    "airbench-W1-W2-W3": re.compile(r"airbench-(\d+)-(\d+)-(\d+)"),
}

# The smallest depth each family builds, at the same width for WRN, so a smoke run keeps the family's shape.
_SMALL_SIBLINGS = {
    "wrn-D-W": lambda depth, widen: f"wrn-10-{widen}",
    "densenet-D-G": lambda depth, growth: "densenet-22-4",
    "preresnet-D": lambda depth: "preresnet-8",
    "airbench-W1-W2-W3": lambda *widths: "airbench-8-16-16",
}


def small_sibling(arch: str) -> str:
    """A tiny model of the same family (same widen factor for WRN), for seconds-long CPU runs; others unchanged."""
    for family, pattern in FAMILY_PATTERNS.items():
        match = pattern.fullmatch(arch)
        if match:
            return _SMALL_SIBLINGS[family](*map(int, match.groups()))
    return arch
