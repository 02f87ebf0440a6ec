"""Resume within a model: a run killed mid-model restarts from its last finished epoch, bit-identical at equal
threads."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bannet import records
from bannet.born_again import StudyRunner, run_study
from bannet.data import DATASETS, DeviceLoader, EndlessBatches
from bannet.errors import InvalidInput
from bannet.presets import get_preset, study_plan
from helpers import paper_design

REPO = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")
THREE_EPOCHS = replace(paper_design(get_preset("mnist-mlp", "smoke")), epochs=3, batch_size=64, generations=1,
                       students=("dkpp",))

# Trains THREE_EPOCHS on the tiny set with one thread; with a marker path and an epoch, it stops for good after
# that epoch of dkpp, once its state is saved (before the record, for the last epoch), so the parent can SIGKILL it.
SCRIPT = """
import sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from bannet.born_again import run_study
from helpers import tiny_mnist_like
from test_resume import THREE_EPOCHS
out, marker, kill_epoch = Path(sys.argv[1]), *(sys.argv[2:] or [None, None])

def on_epoch(spec, metrics):
    print(f"trained {spec.name} epoch {metrics.epoch}", flush=True)
    if marker and spec.name == "dkpp" and metrics.epoch == int(kill_epoch):
        Path(marker).write_text("killed here")
        time.sleep(600)

from bannet.born_again import StudyRunner
runner = StudyRunner(THREE_EPOCHS, out, tiny_mnist_like(), torch.device("cpu"), progress=False, on_epoch=on_epoch)
runner.run_seed(0)
"""


def _script(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The study trained without interruption."""
    out = tmp_path_factory.mktemp("reference")
    _finish(_script(str(out)))
    return out


@pytest.mark.parametrize("kill_epoch", [2, 3])  # inside the model; after its last epoch, before its record
def test_a_model_killed_mid_training_resumes_from_its_last_epoch_bit_identical(tmp_path, reference, kill_epoch):
    interrupted, marker = tmp_path / "interrupted", tmp_path / "marker"
    first = _script(str(interrupted), str(marker), str(kill_epoch))
    deadline = time.time() + 300
    while not marker.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists(), first.communicate()[0]
    first.send_signal(signal.SIGKILL)
    first.wait()
    state = records.model_files(interrupted, 0, "dkpp").state
    assert state.is_file() and not records.model_files(interrupted, 0, "dkpp").record.exists()
    output = _finish(_script(str(interrupted)))
    assert output.count("trained dkpp epoch") == 3 - kill_epoch  # the finished epochs are not trained again
    assert "trained teacher" not in output and "trained ban-1" not in output
    assert not state.exists()  # removed once the record is written
    for spec in study_plan(THREE_EPOCHS):
        want, got = records.model_files(reference, 0, spec.name), records.model_files(interrupted, 0, spec.name)
        expected, actual = records.load_checkpoint(want), records.load_checkpoint(got)
        assert expected.keys() == actual.keys()
        assert all(torch.equal(expected[k], actual[k]) for k in expected), spec.name
        assert torch.equal(records.load_logits(want.logits)[0], records.load_logits(got.logits)[0])
        drop_seconds = lambda r: [{k: v for k, v in e.items() if k != "seconds"} for e in r["epochs"]]
        assert drop_seconds(records.load_record(want.record)) == drop_seconds(records.load_record(got.record))
    cpu = records.load_record(records.model_files(interrupted, 0, "dkpp").record)["provenance"]["cpu_time_s"]
    assert cpu > 0  # summed over the killed run and the resumed one, like the wall time


def test_a_state_from_before_cpu_time_was_recorded_leaves_it_unknown(tmp_path, tiny_data):
    runner = StudyRunner(THREE_EPOCHS, tmp_path, tiny_data, CPU, progress=False, log=lambda _: None,
                         on_epoch=lambda spec, metrics: _stop_after_first_epoch(spec, metrics))
    with pytest.raises(_Stop):
        runner.run_seed(0)
    state_path = records.model_files(tmp_path, 0, "teacher").state
    state = torch.load(state_path, weights_only=False)
    del state["cpu_s"]  # as an older version of bannet wrote it
    torch.save(state, state_path)
    StudyRunner(THREE_EPOCHS, tmp_path, tiny_data, CPU, progress=False, log=lambda _: None).run_seed(0)
    record = records.load_record(records.model_files(tmp_path, 0, "teacher").record)
    assert record["provenance"]["cpu_time_s"] is None and record["provenance"]["wall_time_s"] > 0


class _Stop(Exception):
    pass


def _stop_after_first_epoch(spec, metrics) -> None:
    if spec.name == "teacher" and metrics.epoch == 1:
        raise _Stop


def test_a_state_saved_with_other_settings_is_refused(tmp_path, tiny_data):
    class Stop(Exception):
        pass

    def stop_after_first_epoch(spec, metrics):
        raise Stop

    runner = StudyRunner(THREE_EPOCHS, tmp_path, tiny_data, CPU, progress=False, log=lambda _: None,
                         on_epoch=stop_after_first_epoch)
    with pytest.raises(Stop):
        runner.run_seed(0)
    assert records.model_files(tmp_path, 0, "teacher").state.is_file()
    with pytest.raises(InvalidInput, match=r"teacher\.state\.pt was saved by a run with other settings"):
        run_study(replace(THREE_EPOCHS, lr=THREE_EPOCHS.lr / 2), [0], tmp_path, CPU, data=tiny_data, progress=False,
                  log=lambda _: None)
    # another precision is another compute kind: refused before anything loads, naming both kinds
    with pytest.raises(InvalidInput, match=r"seed 0 was recorded on .*\(teacher\.state\.pt\); this machine is"):
        run_study(THREE_EPOCHS, [0], tmp_path, CPU, data=tiny_data, progress=False, log=lambda _: None,
                  precision="fp32" if runner.precision.bf16 else "bf16")


def _stream(seed: int = 0) -> EndlessBatches:
    images = torch.randint(0, 256, (50, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    labels = torch.zeros(50, dtype=torch.int64)
    return EndlessBatches(DeviceLoader(images, labels, DATASETS["mnist"], 16, True, CPU,
                                       generator=torch.Generator().manual_seed(seed)))


@pytest.mark.parametrize("taken", [0, 2, 3, 5])  # 3 batches a pass: before, inside, at the end of and past a pass
def test_endless_batches_continue_from_their_state(taken):
    stream = _stream()
    for _ in range(taken):
        next(stream)
    state = stream.state_dict()
    expected = [next(stream) for _ in range(7)]
    resumed = _stream(seed=99)  # another generator: everything must come from the state
    resumed.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(expected, (next(resumed) for _ in range(7))))
