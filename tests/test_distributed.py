"""Several processes on CPU (gloo): DDP equals one process on the full batch; global CWTM; rank 0 writes; failures.

The equivalence runs use the MLP on purpose: it has no BatchNorm. With BatchNorm, DDP keeps per-rank
batch statistics (PyTorch's default), so 2 ranks × 32 examples are not the same computation as
1 process × 64 and no tolerance would make them equal.
"""

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from bannet import distributed, records
from bannet.born_again import StudyRunner, run_study
from bannet.cli import main
from bannet.data import load_study_data
from bannet.losses import CWTMLoss, DKPPLoss, cwtm_loss, dkpp_targets
from bannet.presets import get_preset, study_plan
from helpers import paper_design, tiny_mnist_like

REPO = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")
WORLD = 2
EQUIVALENT = replace(paper_design(get_preset("mnist-mlp", "smoke")), epochs=2, batch_size=64, generations=1,
                     students=("ban+l", "cwtm"))
FAILING = replace(EQUIVALENT, students=())
FP32 = {"precision": "fp32"}  # 2 ranks × 32 and 1 × 64 sum in another order: fp32 keeps that difference at rounding


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **extra}


@contextmanager
def _one_thread() -> Iterator[None]:
    """torch on one intra-op thread inside the block, as in every child process here; restored afterwards.

    A CPU kernel splits its sums over the threads, so two runs are bit-identical only at equal thread counts.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _worker(rank: int, port: int, task, args: tuple) -> None:
    """One rank started by torch.multiprocessing.spawn, with torchrun's environment set by hand."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    distributed.run_in_process_group(lambda device: task(device, *args), "cpu")


def _spawn(task, *args) -> None:
    """Run task(device, *args) on WORLD forked ranks (forked: the children need not import torch again)."""
    mp.start_processes(_worker, args=(_free_port(), task, args), nprocs=WORLD, start_method="fork")


def _train_tiny_study_twice(device: torch.device, out: Path) -> None:
    """Run the study, then run it again (all skipped); count the record writes and skips of this rank."""
    writes, save = [], records.save_model
    records.save_model = lambda files, *rest: (writes.append(files.record.name), save(files, *rest))
    run_study(EQUIVALENT, [0], out, device, data=tiny_mnist_like(), progress=False, log=lambda _: None, **FP32)
    skipped = []
    run_study(EQUIVALENT, [0], out, device, data=tiny_mnist_like(), progress=False, log=skipped.append, **FP32)
    (out.parent / f"rank-{distributed.rank()}.json").write_text(json.dumps({"writes": writes, "log": skipped}))


def test_two_ranks_train_the_same_parameters_as_one_process(tmp_path):
    """2 gloo ranks × 32 examples give one process's parameters on batches of 64 (ce, ban, ban+l, cwtm)."""
    single, parallel = tmp_path / "single", tmp_path / "ddp" / "study"
    with _one_thread():
        run_study(EQUIVALENT, [0], single, CPU, data=tiny_mnist_like(), progress=False, log=lambda _: None, **FP32)
    _spawn(_train_tiny_study_twice, parallel)
    names = [spec.name for spec in study_plan(EQUIVALENT)]
    ranks = [json.loads((parallel.parent / f"rank-{r}.json").read_text()) for r in range(WORLD)]
    assert ranks[0]["writes"] == [f"{n}.json" for n in names] and ranks[1]["writes"] == []
    assert ranks[0]["log"] == [f"seed 0 {n}: recorded, skipped" for n in names] and ranks[1]["log"] == []
    for name in names:
        one, two = records.model_files(single, 0, name), records.model_files(parallel, 0, name)
        expected, got = records.load_checkpoint(one), records.load_checkpoint(two)
        for key in expected:
            torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-5, msg=f"{name} {key}")
        # DDP sums each gradient in another order (per rank, then across ranks) than one process does, so the
        # parameters agree to rounding, not bit for bit, and a stored fp16 logit may land one step (2**-10 of
        # its size) away even on equal thread counts.
        torch.testing.assert_close(records.load_logits(two.logits)[0], records.load_logits(one.logits)[0],
                                   rtol=2**-9, atol=1e-4)
        record, reference = records.load_record(two.record), records.load_record(one.record)
        assert record["parallel"] == {"world_size": 2, "global_batch": 64, "per_rank_batch": 32, "lr": 0.1}
        assert reference["parallel"]["world_size"] == 1
        assert [e["train_loss"] for e in record["epochs"]] == pytest.approx(
            [e["train_loss"] for e in reference["epochs"]], rel=1e-4)


def _cwtm_problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.nn.Linear]:
    """Inputs, confident-to-unsure teacher logits, labels and a linear student for 16 examples."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 5, generator=generator)
    teacher = torch.randn(16, 4, generator=generator) * torch.linspace(0.1, 5, 16).unsqueeze(1)
    labels = torch.randint(0, 4, (16,), generator=generator)
    torch.manual_seed(0)
    return x, teacher, labels, torch.nn.Linear(5, 4)


def _cwtm_on_my_shard(device: torch.device, out: Path) -> None:
    """This rank's CWTM loss on its 8 examples through DDP; saves the loss and the averaged gradients."""
    x, teacher, labels, student = _cwtm_problem()
    shard = slice(8 * distributed.rank(), 8 * distributed.rank() + 8)
    teacher_shard = teacher[shard].clone().requires_grad_()
    parallel = distributed.wrap_ddp(student, device)  # kept alive: its reducer averages the gradients in backward
    loss = CWTMLoss(**distributed.loss_settings("cwtm", 0))(parallel(x[shard]), teacher_shard, labels[shard])
    loss.backward()
    torch.save({"loss": loss.detach(), "grads": [p.grad for p in student.parameters()],
                "teacher_grad": teacher_shard.grad}, out / f"rank-{distributed.rank()}.pt")


def test_distributed_cwtm_loss_and_gradient_equal_the_single_process_ones(tmp_path):
    """Σ_u over the global batch: mean of the ranks' losses and DDP's gradient equal the concatenated batch's."""
    _spawn(_cwtm_on_my_shard, tmp_path)
    ranks = [torch.load(tmp_path / f"rank-{r}.pt") for r in range(WORLD)]
    x, teacher, labels, student = _cwtm_problem()
    loss = cwtm_loss(student(x), teacher, labels)
    loss.backward()
    torch.testing.assert_close(torch.stack([r["loss"] for r in ranks]).mean(), loss.detach())
    for rank in ranks:
        for got, expected in zip(rank["grads"], student.parameters()):
            torch.testing.assert_close(got, expected.grad)
        assert rank["teacher_grad"] is None
    local = torch.stack([cwtm_loss(student(x[s]), teacher[s], labels[s]) for s in (slice(0, 8), slice(8, 16))])
    assert not torch.allclose(local.mean(), loss), "shard-local normalisation should differ on this batch"


def _dkpp_targets_of_my_rank(device: torch.device, out: Path) -> None:
    """Two DKPP losses built alike on this rank draw the same targets; saves them."""
    probs = torch.softmax(torch.randn(6, 5, generator=torch.Generator().manual_seed(1)), dim=1)
    draws = [dkpp_targets(probs, DKPPLoss(seed=distributed.rank_seed(11)).generator) for _ in range(2)]
    torch.save(draws, out / f"dkpp-{distributed.rank()}.pt")


def test_dkpp_draws_are_reproducible_per_rank_and_differ_between_ranks(tmp_path):
    """DKPP's generator is seeded by (seed, rank): rank 0 draws as one process does, rank 1 its own permutations."""
    _spawn(_dkpp_targets_of_my_rank, tmp_path)
    (first, again), (other, other_again) = [torch.load(tmp_path / f"dkpp-{r}.pt") for r in range(WORLD)]
    probs = torch.softmax(torch.randn(6, 5, generator=torch.Generator().manual_seed(1)), dim=1)
    assert torch.equal(first, again) and torch.equal(other, other_again)
    assert torch.equal(first, dkpp_targets(probs, DKPPLoss(seed=11).generator))
    assert not torch.equal(first, other)


def _rank_one_fails_in_ban1(out: Path) -> None:
    """Run as a torchrun rank: train teacher then ban-1; rank 1 raises after ban-1's first epoch."""
    torch.set_num_threads(1)

    def fail(spec, metrics) -> None:
        if spec.name == "ban-1" and distributed.rank() == 1:
            raise RuntimeError("injected failure in ban-1")

    distributed.run_in_process_group(
        lambda device: StudyRunner(FAILING, out, tiny_mnist_like(), device, progress=False, on_epoch=fail).run_seed(0),
        "cpu")


def test_a_failing_rank_stops_the_run_and_keeps_finished_records(tmp_path):
    """torchrun, 2 gloo ranks: rank 1 dies in the second model; the run fails clearly, the teacher's record stays."""
    out = tmp_path / "study"
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master-port", str(_free_port()), __file__, str(out)],
                         env=_env(), capture_output=True, text=True, timeout=180)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "rank 1 of 2 failed: RuntimeError: injected failure in ban-1" in output
    teacher = records.model_files(out, 0, "teacher")
    assert records.is_finished(teacher) and not records.model_files(out, 0, "ban-1").record.exists()
    assert not list(out.rglob("*.tmp"))
    before = teacher.record.read_bytes()
    assert records.load_record(teacher.record)["parallel"]["world_size"] == 2
    log, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)  # the ranks' thread count: a seed's models share one compute kind
    try:
        run_study(FAILING, [0], out, CPU, data=tiny_mnist_like(), progress=False, log=log.append)
    finally:
        torch.set_num_threads(threads)
    assert log[0] == "seed 0 teacher: recorded, skipped" and teacher.record.read_bytes() == before
    assert records.is_finished(records.model_files(out, 0, "ban-1"))


def test_torchrun_cli_runs_a_smoke_study_on_two_processes(tmp_path, mnist_root):
    """The README's `torchrun --nproc_per_node 2 -m bannet run ...` on CPU: one table, every record, the batch split."""
    out = tmp_path / "study"
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master-port", str(_free_port()), "-m", "bannet", "run", "mnist-mlp", "--profile", "smoke",
                          "--out", str(out), "--data", str(mnist_root), "--device", "cpu", "--no-progress"],
                         env=_env(), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("| teacher | 1 |") == 1 and "2 processes × batch 32" in run.stdout
    for spec in study_plan(get_preset("mnist-mlp", "smoke")):
        record = records.load_record(records.model_files(out, 0, spec.name).record)
        assert record["parallel"] == {"world_size": 2, "global_batch": 64, "per_rank_batch": 32, "lr": 0.1}


def test_seeds_run_in_parallel_processes_and_a_failed_seed_is_named(tmp_path, mnist_root, capsys, monkeypatch):
    """--jobs 2: one process per seed, a log per seed; seed 0 equals an in-process run; a broken seed is reported
    with its own error line."""
    out = tmp_path / "study"
    state = out / "seed-1" / "teacher.state.pt"
    state.parent.mkdir(parents=True)
    state.write_bytes(b"not a training state")  # found by seed 1's process, before it trains
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    code = main(["run", "mnist-mlp", "--profile", "smoke", "--seeds", "0", "1", "--jobs", "2", "--out", str(out),
                 "--data", str(mnist_root), "--device", "cpu"])
    printed = capsys.readouterr()
    assert code == 1, printed
    assert "seeds [0, 1], 2 processes at once on the CPU" in printed.out
    assert f"seed 1 failed (exit code 2): bannet: {state} cannot be read as a bannet training state" in printed.err
    assert printed.err.rstrip().endswith(f"its log: {out / 'logs' / 'seed-1.log'}")
    assert "| teacher | 1 |" in (out / "logs" / "seed-0.log").read_text()
    preset = get_preset("mnist-mlp", "smoke")
    names = [spec.name for spec in study_plan(preset)]
    assert all(records.is_finished(records.model_files(out, 0, n)) for n in names)
    here = tmp_path / "here"
    with _one_thread():  # the seed's process ran on one thread (OMP_NUM_THREADS=1)
        run_study(preset, [0], here, CPU, data=load_study_data(preset, mnist_root), progress=False, log=lambda _: None)
    for name in names:
        got = records.load_logits(records.model_files(out, 0, name).logits)[0]
        assert torch.equal(got, records.load_logits(records.model_files(here, 0, name).logits)[0]), name


def test_batch_split_seed_per_rank_and_launch_errors(monkeypatch):
    """Alone: rank 0 of 1, seeds unchanged; a global batch must split evenly; no torchrun, a clear error."""
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.rank_seed(7) == 7 and distributed.per_rank_batch(128, 4) == 32
    with pytest.raises(ValueError, match="global batch 128 must be divisible by the number of processes 3"):
        distributed.per_rank_batch(128, 3)
    with pytest.raises(ValueError, match="seed must lie in"):
        distributed.rank_seed(2**32)
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="not started by torchrun"):
        distributed.init_from_env()


if __name__ == "__main__":  # torchrun runs this file as each rank of the failure test
    _rank_one_fails_in_ban1(Path(sys.argv[1]))
