"""Beyond one machine: the SLURM profile on a real single-node SLURM, the paper-scale plan, the GPU check.

``test_slurm_run_equals_local_run`` installs Debian's slurm-wlm and munge when they are missing,
starts munged, slurmctld and slurmd on localhost from files in a temporary folder, runs a tiny
config through ``snakemake --profile workflow/profiles/slurm`` and requires its metrics_long.csv to
equal, byte for byte, the one of the same config run locally. The fixture stops every job and
daemon it started, also when the test fails. A missing package or a daemon that does not come up
fails the test with the reason; it is never skipped.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from test_workflow import TINY, snakemake

SBIN = os.pathsep.join(["/usr/sbin", "/sbin", os.environ.get("PATH", "")])
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "sinfo", "srun")
PARTITION = "resflow"
#: one seed; training jobs of 1 CPU and 1000 MB, so the two models train at once on two CPUs
SLURM_TINY = {**TINY, "seeds": [0],
              "resources": {"gpu": 0, "sizes": {"small": {"mem_mb": 1000, "runtime": 10, "cpus_per_task": 1}}}}
TARGET = "results/tables/metrics_long.csv"


def which(name: str) -> str | None:
    return shutil.which(name, path=SBIN)


def install_slurm() -> None:
    """apt-get install slurm-wlm and munge when a daemon or client command is missing."""
    missing = [b for b in DAEMONS + CLIENTS if which(b) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        pytest.fail(f"SLURM commands {missing} are missing and installing slurm-wlm and munge needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", "slurm-wlm", "munge"]):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    still = [b for b in DAEMONS + CLIENTS if which(b) is None]
    if still:
        pytest.fail(f"slurm-wlm and munge are installed but {still} are not on {SBIN}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_line(name: str) -> str:
    """This machine's CPUs and memory as slurmd detects them (``slurmd -C``), as node ``name``.

    RealMemory is at least the largest request of the profile at attempt 3 (prepare: 96000 MB):
    the test node accepts every job unchanged, and no memory is enforced (no cgroups, CR_Core).
    """
    out = subprocess.run([which("slurmd"), "-C"], capture_output=True, text=True, timeout=30, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("NodeName="))
    memory = max(int(re.search(r"RealMemory=(\d+)", line).group(1)), 96000)
    line = re.sub(r"RealMemory=\d+", f"RealMemory={memory}", line)
    return re.sub(r"^NodeName=\S+", f"NodeName={name} NodeAddr=127.0.0.1", line)


def slurm_conf(root: Path, host: str) -> str:
    # accounting_storage/none: no slurmdbd, so sacct has nothing; the run uses squeue, which
    # keeps finished jobs for MinJobAge seconds
    return "\n".join([
        "ClusterName=resflowtest", f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={free_port()}", f"SlurmdPort={free_port()}",
        "SlurmUser=root", "SlurmdUser=root", "AuthType=auth/munge", "CredType=cred/munge",
        f"AuthInfo=socket={root}/munge.socket", f"StateSaveLocation={root}/state", f"SlurmdSpoolDir={root}/spool",
        f"SlurmctldPidFile={root}/slurmctld.pid", f"SlurmdPidFile={root}/slurmd.pid",
        f"SlurmctldLogFile={root}/slurmctld.log", f"SlurmdLogFile={root}/slurmd.log",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none", "MailProg=/bin/true",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none", "SchedulerType=sched/builtin",
        "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core", "SlurmdParameters=config_overrides",
        "ReturnToService=2", "MinJobAge=600", "KillWait=5", "SlurmctldTimeout=30", "SlurmdTimeout=30",
        node_line(host), f"PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP", "",
    ])


def tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else f"({path.name} not written)"


def wait_for(what: str, ok, timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout:.0f} s; logs:\n" + "\n".join(f"--- {p.name}\n{tail(p)}" for p in logs))


@pytest.fixture
def slurm_cluster():
    """A one-node SLURM on localhost; yields the environment its clients need."""
    install_slurm()
    root = Path(tempfile.mkdtemp(prefix="resflow-slurm-"))  # short: the munge socket path is limited
    host = socket.gethostname().split(".")[0]
    for d in ("state", "spool", "bin"):
        (root / d).mkdir()
    key = root / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o600)
    conf = root / "slurm.conf"
    conf.write_text(slurm_conf(root, host))
    # The jobstep plugin drops SLURM_* (SLURM_CONF too) before it calls srun inside a job; a real
    # cluster has /etc/slurm/slurm.conf, this one has a srun in PATH that names its config.
    shim = root / "bin" / "srun"
    shim.write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {which("srun")} "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": f"{root / 'bin'}{os.pathsep}{SBIN}"}
    started: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> None:
        with open(root / f"{name}.out", "wb") as out:
            started.append(subprocess.Popen([which(name), *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True))

    def squeue(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["squeue", "-h", *args], env=env, capture_output=True, text=True, timeout=30)

    try:
        start("munged", "-F", "--force", f"--socket={root}/munge.socket", f"--key-file={key}",
              f"--log-file={root}/munged.log", f"--pid-file={root}/munged.pid", f"--seed-file={root}/munged.seed")
        wait_for("munged did not create its socket", (root / "munge.socket").exists, 20, [root / "munged.out"])
        start("slurmctld", "-D", "-i", "-f", str(conf))
        start("slurmd", "-D", "-f", str(conf), "-N", host)
        logs = [root / f for f in ("slurmctld.out", "slurmctld.log", "slurmd.out", "slurmd.log")]
        sinfo = lambda: subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=30).stdout.strip()
        wait_for("the SLURM node did not become idle", lambda: sinfo() == "idle", 60, logs)
        yield {"env": env, "squeue": squeue}
    finally:
        if len(started) > 1:  # slurmctld was started: cancel whatever is left of the jobs
            subprocess.run(["scancel", f"--partition={PARTITION}"], env=env, capture_output=True, timeout=30)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and squeue("-t", "PENDING,RUNNING,COMPLETING").stdout.strip():
                time.sleep(1)
        for proc in reversed(started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_slurm_run_equals_local_run(tmp_path, census_mirror, slurm_cluster):
    snakemake(tmp_path / "local", SLURM_TINY, TARGET, mirror=census_mirror)

    workdir = tmp_path / "slurm"
    workdir.mkdir()
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(SLURM_TINY))
    env = {k: v for k, v in slurm_cluster["env"].items() if not k.startswith("RESFLOW_")}
    env.update(RESFLOW_DATA_MIRROR=str(census_mirror), RESFLOW_SLURM_PARTITION=PARTITION)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--profile", str(REPO / "workflow/profiles/slurm"), "--configfile", str(workdir / "tiny.yaml"),
           # no accounting database here, so job states come from squeue (see slurm_conf)
           "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
           "--retries", "0", TARGET]  # a failure fails at once (the profile retries twice)
    result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    logs = "".join(f"--- {p}\n{tail(p, 1500)}\n" for p in sorted(workdir.glob(".snakemake/slurm_logs/**/*.log")))
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}\n{logs}"

    # every job went through sbatch, with the config's training resources and the profile's partition
    jobs = slurm_cluster["squeue"]("-t", "all", "-o", "%k|%T|%P|%C|%m").stdout.split()
    rules = sorted(j.split("|")[0].split("_wildcards_")[0] for j in jobs)
    runs = len(SLURM_TINY["models"]) * len(SLURM_TINY["seeds"])
    assert rules == ["rule_aggregate", "rule_fetch", "rule_prepare"] + ["rule_rank"] * runs + ["rule_train"] * runs, jobs
    assert all(j.split("|")[1:3] == ["COMPLETED", PARTITION] for j in jobs), jobs
    assert {j.split("|", 3)[3] for j in jobs if j.startswith("rule_train")} == {"1|1000M"}, jobs

    local = (tmp_path / "local" / TARGET).read_bytes()
    assert (workdir / TARGET).read_bytes() == local
    assert local.count(b"\n") > 1


@pytest.mark.slow
def test_paper_suite_plans_through_the_slurm_profile(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n",
         "--profile", str(REPO / "workflow/profiles/slurm"), "--configfile", str(REPO / "config/paper.yaml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={k: v for k, v in os.environ.items() if not k.startswith("RESFLOW_")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    # the fetch checkpoints come first; training jobs join the DAG once they have run
    assert re.search(rf"^fetch\s+{len(paper['datasets'])}$", result.stdout, re.M), result.stdout[-3000:]


def test_paper_suite_is_every_dataset_and_model():
    from benchmarks.base import dataset_names
    from models import model_names

    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    assert sorted(paper["datasets"]) == sorted(set(dataset_names()) - {"aliexpress_sample"})
    assert sorted(paper["models"]) == model_names()
    assert paper["seeds"] == [0, 1, 2, 3, 4] and paper["strict"] is True


def test_profiles_read_the_environment_and_the_device_count(monkeypatch):
    import torch
    from snakemake.profiles import ProfileConfigFileParser

    def read(profile: str) -> dict:
        with open(REPO / "workflow/profiles" / profile / "config.yaml") as fh:
            return dict(ProfileConfigFileParser().parse(fh))

    for name in ("RESFLOW_SLURM_ACCOUNT", "RESFLOW_SLURM_PARTITION", "RESFLOW_SLURM_GPU_PARTITION"):
        monkeypatch.delenv(name, raising=False)
    bare = read("slurm")
    assert bare["executor"] == "slurm" and not any("slurm_" in r for r in bare["default-resources"] + bare["set-resources"])
    monkeypatch.setenv("RESFLOW_SLURM_ACCOUNT", "proj")
    monkeypatch.setenv("RESFLOW_SLURM_PARTITION", "cpu")
    monkeypatch.setenv("RESFLOW_SLURM_GPU_PARTITION", "gpu")
    slurm = read("slurm")
    assert {"slurm_account='proj'", "slurm_partition='cpu'", "mem_mb=8000 * attempt"} <= set(slurm["default-resources"])
    assert "train:slurm_partition='gpu'" in slurm["set-resources"]
    assert read("local")["resources"] == [f"gpu={torch.cuda.device_count()}"]


def test_gpu_check_without_cuda_says_so():
    result = subprocess.run([sys.executable, str(REPO / "workflow/scripts/gpu_check.py")], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 2
    assert "no CUDA device: torch.cuda.is_available() is False" in result.stderr and "--device cpu" in result.stderr


def test_gpu_check_cpu_baseline_runs_the_same_check():
    result = subprocess.run([sys.executable, str(REPO / "workflow/scripts/gpu_check.py"), "--device", "cpu",
                             "--rows", "2000", "--epochs", "2", "--batch-size", "256"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^resflow: [\d,]+ training rows/s .* two runs bit-identical: yes$", result.stdout, re.M), result.stdout
    assert result.stdout.rstrip().endswith("deterministic mode holds")


def test_a_size_class_that_does_not_exist_stops_the_run(tmp_path):
    config = {**TINY, "resources": {"dataset_size": {"census_income": "huge"}}}
    result = snakemake(tmp_path, config, "-n", check=False)
    assert result.returncode != 0
    assert "resources.dataset_size: census_income: 'huge' is not a class of resources.sizes" in result.stdout + result.stderr
