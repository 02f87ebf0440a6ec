"""Argument checks shared by the model builders."""

from ..errors import InvalidInput


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) with ``value >= minimum``; raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise InvalidInput(f"{name} must be >= {minimum}, got {value}")
    return value


def check_num_classes(num_classes: object) -> int:
    """Return ``num_classes`` if it is an int >= 2 (a classifier needs at least two classes)."""
    return check_int("num_classes", num_classes, 2)


def units_per_stage(depth: int, layers_outside: int, family: str) -> int:
    """n for depth = 6n + layers_outside with n >= 1; InvalidInput naming the nearest valid depths otherwise."""
    check_int("depth", depth, 1)
    n, remainder = divmod(depth - layers_outside, 6)
    if remainder == 0 and n >= 1:
        return n
    nearest = list(dict.fromkeys(6 * max(k, 1) + layers_outside for k in (n, n + 1)))
    which = "the nearest valid depths" if len(nearest) > 1 else "the smallest valid depth"
    raise InvalidInput(f"{family} depth must be 6n+{layers_outside} with n >= 1, got {depth}; "
                       f"use {' or '.join(map(str, nearest))}, {which}")
