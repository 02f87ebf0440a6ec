"""--jobs: one child process per seed, at most `jobs` at once, each pinned to a GPU round-robin (or sharing the CPU);
the children stop with their parent, so none trains on unwatched or races the next run."""

import argparse
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import SimpleQueue


class _Stopped(Exception):
    """The parent was asked to stop (SIGTERM or SIGINT)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def seed_command(args: argparse.Namespace, seed: int, out: Path) -> list[str]:
    """The command line that runs one seed of the study in a child process."""
    command = [sys.executable, "-m", "bannet", "run", args.preset, "--seeds", str(seed), "--profile", args.profile,
               "--out", str(out), "--device", args.device, "--precision", args.precision, "--no-progress",
               "--jobs", "1"]
    flags = [flag for flag, on in (("--compile", args.compile), ("--no-download", args.no_download)) if on]
    models = ["--models", *args.models] if args.models else []
    return command + (["--data", args.data] if args.data else []) + flags + models


def _reason(log: Path) -> str:
    """The child's own one-line error (its last `bannet: …` line), or '' when it printed none."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("bannet: ")]
    return f": {lines[-1]}" if lines else ""


class SeedProcesses:
    """The children of one --jobs run: started while the run goes on, all stopped (and waited for) when it stops."""

    def __init__(self, args: argparse.Namespace, out: Path, jobs: int, gpus: list[str]) -> None:
        self.args, self.out, self.gpus, self.logs = args, out, gpus, out / "logs"
        self.jobs = jobs
        self._slots: SimpleQueue[int] = SimpleQueue()
        for slot in range(jobs):
            self._slots.put(slot)
        self._lock = threading.Lock()  # no child starts once stop() has begun
        self._running: dict[int, subprocess.Popen] = {}
        self._stopping = False
        self._python_path = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                          os.environ.get("PYTHONPATH")]))  # children import this bannet

    def _env(self, slot: int) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": self._python_path}
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        else:
            env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // self.jobs)))
        return env

    def run_seed(self, seed: int) -> str | None:
        """Run one seed in a child process; None when it succeeded (or never started: the run was stopping)."""
        slot = self._slots.get()
        log = self.logs / f"seed-{seed}.log"
        try:
            with self._lock:
                if self._stopping:
                    return None
                with open(log, "w") as stream:
                    child = subprocess.Popen(seed_command(self.args, seed, self.out), stdout=stream,
                                             stderr=subprocess.STDOUT, env=self._env(slot))
                self._running[seed] = child
            code = child.wait()
        finally:
            self._slots.put(slot)
        if code == 0 or self._stopping:
            return None
        return f"seed {seed} failed (exit code {code}){_reason(log)}; its log: {log}"

    def stop(self) -> list[int]:
        """Stop every running child and wait for it; returns their seeds."""
        with self._lock:
            self._stopping = True
            running = {seed: child for seed, child in self._running.items() if child.poll() is None}
        for child in running.values():
            child.terminate()
        for child in running.values():
            child.wait()
        return sorted(running)


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped(signum)


def run_seeds_in_parallel(processes: SeedProcesses, seeds: list[int]) -> int:
    """Run `seeds` in child processes; failures are printed one line each. SIGTERM or SIGINT stops the children and
    ends the run with one line (exit code 128 + the signal), keeping what they recorded."""
    processes.logs.mkdir(parents=True, exist_ok=True)
    previous = {signum: signal.signal(signum, _raise_stopped) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        with ThreadPoolExecutor(processes.jobs) as pool:
            try:
                failures = [failure for failure in pool.map(processes.run_seed, seeds) if failure]
            except _Stopped as stopped:
                for signum in previous:  # a second signal must not interrupt the stopping
                    signal.signal(signum, signal.SIG_IGN)
                pool.shutdown(wait=False, cancel_futures=True)
                halted = processes.stop()
                print(f"bannet: stopped by {stopped}: the processes of seeds {halted} were stopped; what they recorded "
                      "is kept, and the same command resumes them", file=sys.stderr)
                return 128 + stopped.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    return 0
