"""What a study's design plans, as its records hold it: the pairs each comparison gets when every planned model is
recorded. A comparison with fewer pairs than that is interim: its interval is shown, but it is not tested and no
verdict is drawn from it, since a test repeated each time a seed arrives finds a difference by chance more often than
its level says; the design's test is the one made when its pairs are in."""

import dataclasses

from bannet.presets import Preset, seed_plan
from bannet.records import Study
from bannet.row_names import members

_FIELDS = {f.name for f in dataclasses.fields(Preset)}
_REQUIRED = {f.name for f in dataclasses.fields(Preset)
             if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}


def recorded_design(study: Study) -> Preset | None:
    """The preset the study's first record was trained under (a field older records lack takes its default, which
    plans no more than those records' studies recorded), so that later edits of the registry do not move a recorded
    design; None for records that hold no whole preset (written by hand), whose design is unknown."""
    held = study.first_record()["preset"]
    if not _REQUIRED <= held.keys():
        return None
    return Preset(**{k: tuple(v) if isinstance(v, list) else v for k, v in held.items() if k in _FIELDS})


def planned_pairs(design: Preset | None, row: str, baseline: str, control: str) -> int:
    """How many of the design's seeds plan every model that the row and the baseline need on one seed (BANE-k its
    generations, ens-k the control and its siblings); 0 for a row the design does not pair by seed, or without a
    known design."""
    if design is None:
        return 0
    needed = {*members(row, control), *members(baseline, control)}
    return sum(needed <= {spec.name for spec in seed_plan(design, seed)} for seed in design.design_seeds)
