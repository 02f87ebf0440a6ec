"""What a recorded study cost: CPU-hours, the process CPU time summed over threads, which other work on the machine
does not inflate as it does wall time; the training wall time beside it; and the budget its records hold."""

from bannet.compute_kind import kind_label, record_kind
from bannet.paper import recorded_setting
from bannet.records import Record, Study


def _records(study: Study) -> list[Record]:
    """Every trained model's record."""
    return [m.record for seed in study.models.values() for m in seed.values()]


def cpu_hours(study: Study) -> tuple[float, int]:
    """(CPU-hours summed over the records that measured cpu_time_s, how many records did)."""
    measured = [r["provenance"]["cpu_time_s"] for r in _records(study) if r["provenance"].get("cpu_time_s") is not None]
    return sum(measured) / 3600, len(measured)


def cpu_hours_by_kind(study: Study) -> dict[str, float]:
    """CPU-hours per compute kind (its label), over the records that measured cpu_time_s, in order of first record."""
    by_kind: dict[str, float] = {}
    for r in _records(study):
        if r["provenance"].get("cpu_time_s") is not None:
            label = kind_label(record_kind(r))
            by_kind[label] = by_kind.get(label, 0.0) + r["provenance"]["cpu_time_s"] / 3600
    return by_kind


def wall_hours(study: Study) -> dict[str, float]:
    """Training wall time in hours per device, in the order the devices first appear."""
    by_device: dict[str, float] = {}
    for r in _records(study):
        device = r["provenance"]["device"]
        by_device[device] = by_device.get(device, 0.0) + r["provenance"]["wall_time_s"] / 3600
    return by_device


def compute_spent(study: Study) -> str:
    """One line: the CPU-hours the study cost (saying how many records lack the measurement), split by compute kind
    where records name one, its training wall hours per device, and for a full run its budget as the records hold
    it."""
    n = len(_records(study))
    hours, measured = cpu_hours(study)
    coverage = "all records measured it" if measured == n else (
        f"measured by {measured} of the {n} records; the other {n - measured} predate the measurement and are not "
        "counted")
    kinds = cpu_hours_by_kind(study)
    if kinds and set(kinds) != {kind_label(None)}:
        coverage += "; by compute kind: " + "; ".join(f"{h:.2f} h on {label}" for label, h in kinds.items())
    walls = wall_hours(study)
    per_device = "; ".join(f"{h:.2f} h on {device}" for device, h in walls.items())
    wall = sum(walls.values())
    return (f"{n} trained models: {hours:.2f} CPU-hours (process CPU time summed over threads; {coverage}); "
            f"{wall:.2f} hours of training wall time ({per_device}).{_against_budget(study, wall)}")


def _against_budget(study: Study, wall: float) -> str:
    """' Budget: …' for a full run whose records hold a budget, else ''."""
    budget = recorded_setting(study, "budget_hours")
    if study.first_record()["profile"] != "full" or budget is None:
        return ""
    spent = f"{wall / budget:.0%} of it" if wall <= budget else f"{wall - budget:.2f} h over it"
    return (f" Budget: {budget:g} hours of training wall time, as the study was planned; it took {wall:.2f} h, "
            f"{spent}.")
