"""Argument checks shared by the model builders."""


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) with ``value >= minimum``; raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_num_classes(num_classes: object) -> int:
    """Return ``num_classes`` if it is an int >= 2 (a classifier needs at least two classes)."""
    return check_int("num_classes", num_classes, 2)
