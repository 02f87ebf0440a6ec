"""One writer per study folder: a second run is refused in one line naming the first, a killed run blocks nothing,
a --jobs run's children work under its lock and stop with it."""

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bannet import locks, records
from bannet.born_again import run_study
from bannet.errors import InvalidInput
from bannet.presets import get_preset
from helpers import paper_design

REPO = Path(__file__).resolve().parent.parent
TEACHER_ONLY = replace(paper_design(get_preset("mnist-mlp", "smoke")), epochs=1, batch_size=64, generations=0,
                       students=())
quiet = {"progress": False, "log": lambda _: None}

# Runs TEACHER_ONLY into argv[1] and, once it holds the folder, stalls in its first model's training (argv[2]: a
# file it writes then), so that another run meets it there.
STALLED_RUN = """
import sys, time
from pathlib import Path
import torch
from bannet import born_again
from helpers import tiny_mnist_like
from test_exclusion import TEACHER_ONLY

def stall(*args, **kwargs):
    Path(sys.argv[2]).write_text("training")
    time.sleep(600)

born_again.train_model = stall
born_again.run_study(TEACHER_ONLY, [0], Path(sys.argv[1]), torch.device("cpu"), data=tiny_mnist_like(),
                     progress=False)
"""

# A --jobs run of two seeds into argv[1] whose children, instead of training, write their pid and sleep.
JOBS_RUN = """
import sys
from bannet import cli, seed_processes

SLEEP = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"
seed_processes.seed_command = lambda args, seed, out: [sys.executable, "-c", SLEEP, f"{out}/child-{seed}.pid"]
sys.exit(cli.main(["run", "mnist-mlp", "--profile", "smoke", "--seeds", "0", "1", "--jobs", "2", "--out", sys.argv[1],
                   "--device", "cpu", "--no-download", "--no-progress"]))
"""

# Takes the study lock of argv[1], then seed argv[2]'s lock, as a --jobs run's child does, and says so.
CHILD = """
import sys
from pathlib import Path
from bannet import locks
with locks.study_lock(Path(sys.argv[1])), locks.seed_lock(Path(sys.argv[1]), int(sys.argv[2])):
    print("ran")
"""


def _python(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(paths: list[Path], process: subprocess.Popen) -> None:
    deadline = time.time() + 120
    while not all(path.exists() for path in paths) and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert all(path.exists() for path in paths), process.communicate()


def _alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet waited for, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_second_run_is_refused_naming_the_first_and_a_killed_run_blocks_nothing(tmp_path, tiny_data):
    out, marker = tmp_path / "study", tmp_path / "marker"
    first = _python("-c", STALLED_RUN, str(out), str(marker))
    try:
        _wait_for([marker], first)
        holder = re.escape(f"the study folder {out} is being written by process {first.pid} (")
        for jobs in (["--jobs", "1"], ["--seeds", "0", "1", "--jobs", "2"]):  # one process, and a --jobs parent
            second = _python("-m", "bannet", "run", "mnist-mlp", "--profile", "smoke", "--out", str(out),
                             "--device", "cpu", "--no-download", "--no-progress", *jobs)
            _, err = second.communicate(timeout=120)
            assert second.returncode == 2 and re.fullmatch(f"bannet: {holder}.*\n", err), err
        with pytest.raises(InvalidInput, match=holder):
            run_study(TEACHER_ONLY, [0], out, torch.device("cpu"), data=tiny_data, **quiet)
    finally:
        first.kill()
        first.communicate()
    run_study(TEACHER_ONLY, [0], out, torch.device("cpu"), data=tiny_data, **quiet)  # the lock died with its run
    assert records.is_finished(records.model_files(out, 0, "teacher"))


def test_a_child_works_under_its_parents_study_lock_and_each_seed_has_one_writer(tmp_path):
    child = CHILD
    with locks.study_lock(tmp_path), locks.seed_lock(tmp_path, 1):
        for seed, ran in ((0, True), (1, False)):
            process = _python("-c", child, str(tmp_path), str(seed))
            out, err = process.communicate(timeout=60)
            assert (out == "ran\n") == ran, err
        assert f"seed 1 of {tmp_path} is being written by process {os.getpid()}" in err
        stranger = _python("-c", f"import subprocess, sys; sys.exit(subprocess.run([sys.executable, '-c', {child!r}, "
                                 f"{str(tmp_path)!r}, '0']).returncode)")  # its parent holds nothing
        _, err = stranger.communicate(timeout=60)
        assert stranger.returncode != 0 and f"the study folder {tmp_path} is being written by process" in err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_children_of_a_jobs_run_stop_with_it(tmp_path, signum):
    out = tmp_path / "study"
    parent = _python("-c", JOBS_RUN, str(out))
    pid_files = [out / "child-0.pid", out / "child-1.pid"]
    _wait_for(pid_files, parent)
    time.sleep(0.2)  # the pid is written before the file is closed
    children = [int(path.read_text()) for path in pid_files]
    parent.send_signal(signum)
    _, err = parent.communicate(timeout=60)
    name = signal.Signals(signum).name
    assert parent.returncode == 128 + signum and err.strip().splitlines() == [
        f"bannet: stopped by {name}: the processes of seeds [0, 1] were stopped; what they recorded is kept, and the "
        "same command resumes them"], err
    assert not any(_alive(pid) for pid in children)
