"""A real one-node SLURM cluster on 127.0.0.1, started and stopped by the workflow tests.

Debian's packages (``slurm-wlm``, ``munge``; ``.ci/run`` installs them) provide the daemons. The
cluster is private to one test session:

- munged runs as the ``munge`` user on its own socket and key in a fresh state folder (the
  system's /etc/munge and /run/munge are not touched);
- slurmctld and slurmd run as root in the foreground, on free loopback ports, with their state,
  spool, pid and log files in the same folder;
- the config has to live at /etc/slurm/slurm.conf: the SLURM executor plugin runs ``srun`` inside
  each job, and srun finds no config through ``SLURM_CONF`` alone ("fetch_config: DNS SRV lookup
  failed"). An existing config there that this module did not write is never replaced: the
  cluster is then reported unavailable.
- ``MinJobAge`` is long, so finished jobs stay visible to ``squeue``/``scontrol`` (there is no
  slurmdbd, hence no ``sacct``), and ``DefMemPerCPU`` keeps a job without a memory request from
  taking the whole node.
- The node advertises ``gpus`` count-only GPUs (a GRES with no device file): a job that asks for
  ``--gpus=1`` is scheduled and accounted like on a real GPU node, but no device exists, so torch
  falls back to the CPU (``device: auto``).

Every daemon is stopped by its process id at the end (queued jobs are cancelled first), also when
the test fails, and the config files this module wrote are removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
GRES_CONF = Path("/etc/slurm/gres.conf")
MARKER = "# Written by neurocircuit tests/workflow/slurm_cluster.py; removed when the test ends."
REQUIRED_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "scontrol")
INSTALL_HINT = "install them as root with `apt-get install -y slurm-wlm munge` (.ci/run does)"


def unavailable_reason() -> str | None:
    """Why a local SLURM cluster cannot be started here, or None when it can."""
    if os.name != "posix" or os.geteuid() != 0:
        return "a local SLURM cluster needs root (slurmd runs jobs as root here)"
    missing = [name for name in REQUIRED_BINARIES if shutil.which(name) is None]
    if missing:
        return f"SLURM/munge not installed (missing {', '.join(missing)}); {INSTALL_HINT}"
    try:
        import pwd

        pwd.getpwnam("munge")
    except KeyError:
        return f"no 'munge' user (the munge package creates it); {INSTALL_HINT}"
    for conf in (SLURM_CONF, GRES_CONF):
        if conf.exists() and MARKER not in conf.read_text(errors="replace"):
            return f"{conf} exists and was not written by this test: not replacing a real config"
    return None


def _stop_with_parent():
    """A preexec function: the daemon gets SIGTERM when the test process dies (Linux prctl).

    Stops the daemons even when the test run itself is killed and cannot clean up. libc is
    loaded here, in the parent: the child may already run as the munge user, which cannot read
    this Python's files.
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None
    return lambda: libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _physical_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20


def _tail(path: Path, n_lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n_lines:])
    except OSError:
        return "(no log)"


@dataclass
class SlurmCluster:
    """One SLURM node (this host, reached at 127.0.0.1) with one partition.

    ``cpus`` and ``memory_mb`` are what the node offers to jobs; ``gpus`` is the number of
    count-only GPUs it advertises.
    """

    state_dir: Path
    partition: str = "debug"
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_mb: int = field(default_factory=lambda: min(16000, int(_physical_memory_mb() * 0.7)))
    gpus: int = 1
    hostname: str = field(default_factory=socket.gethostname)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    written_configs: list[Path] = field(default_factory=list)

    # ------------------------------------------------------------------ config
    def slurm_conf(self, ctld_port: int, slurmd_port: int) -> str:
        state = self.state_dir
        return "\n".join(
            [
                MARKER,
                "ClusterName=neurocircuit-test",
                f"SlurmctldHost={self.hostname}(127.0.0.1)",
                f"SlurmctldPort={ctld_port}",
                f"SlurmdPort={slurmd_port}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={state / 'munge' / 'munge.socket'}",
                f"StateSaveLocation={state / 'slurmctld'}",
                f"SlurmdSpoolDir={state / 'slurmd'}",
                f"SlurmctldPidFile={state / 'slurmctld.pid'}",
                f"SlurmdPidFile={state / 'slurmd.pid'}",
                f"SlurmctldLogFile={state / 'slurmctld.log'}",
                f"SlurmdLogFile={state / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "MpiDefault=none",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "DefMemPerCPU=1000",
                "MinJobAge=600",
                "ReturnToService=2",
                "GresTypes=gpu",
                f"NodeName={self.hostname} NodeAddr=127.0.0.1 CPUs={self.cpus} "
                f"RealMemory={self.memory_mb} Gres=gpu:{self.gpus} State=UNKNOWN",
                f"PartitionName={self.partition} Nodes={self.hostname} Default=YES "
                "MaxTime=INFINITE State=UP",
                "",
            ]
        )

    def gres_conf(self) -> str:
        return f"{MARKER}\nNodeName={self.hostname} Name=gpu File=/dev/null Count={self.gpus}\n"

    def _write_config(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.written_configs.append(path)

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout_s: float = 90) -> None:
        """Start munged, slurmctld and slurmd; return once the node is idle."""
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        munge_dir = self.state_dir / "munge"
        munge_dir.mkdir(parents=True)
        for name in ("slurmctld", "slurmd"):
            (self.state_dir / name).mkdir()
        key = munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        shutil.chown(munge_dir, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        munge_dir.chmod(0o755)
        key.chmod(0o400)
        self.state_dir.chmod(0o755)

        self._write_config(
            SLURM_CONF, self.slurm_conf(_free_loopback_port(), _free_loopback_port())
        )
        self._write_config(GRES_CONF, self.gres_conf())

        devnull = subprocess.DEVNULL
        self._console = open(self.state_dir / "daemons.console", "ab")
        self.processes["munged"] = subprocess.Popen(
            [
                "munged",
                "--foreground",
                f"--socket={munge_dir / 'munge.socket'}",
                f"--key-file={key}",
                f"--pid-file={munge_dir / 'munged.pid'}",
                f"--log-file={munge_dir / 'munged.log'}",
                f"--seed-file={munge_dir / 'munged.seed'}",
            ],
            user="munge",
            group="munge",
            extra_groups=[],
            preexec_fn=_stop_with_parent(),
            stdin=devnull,
            stdout=self._console,
            stderr=self._console,
        )
        self._wait(lambda: (munge_dir / "munge.socket").exists(), "munged socket", timeout_s)
        for daemon in ("slurmctld", "slurmd"):
            args = [daemon, "-D"] + (["-i"] if daemon == "slurmctld" else [])
            self.processes[daemon] = subprocess.Popen(
                args,
                stdin=devnull,
                stdout=self._console,
                stderr=self._console,
                preexec_fn=_stop_with_parent(),
            )
        self._wait(self._node_is_idle, f"node {self.hostname} idle", timeout_s)

    def _node_is_idle(self) -> bool:
        result = self.command("sinfo", "-h", "-n", self.hostname, "-o", "%T", check=False)
        return result.returncode == 0 and result.stdout.strip() == "idle"

    def _wait(self, condition, what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode} while waiting for {what}\n"
                        + self.daemon_logs()
                    )
            if condition():
                return
            time.sleep(0.5)
        raise RuntimeError(
            f"timed out after {timeout_s:.0f} s waiting for {what}\n" + self.daemon_logs()
        )

    def daemon_logs(self) -> str:
        logs = {
            "munged": self.state_dir / "munge" / "munged.log",
            "slurmctld": self.state_dir / "slurmctld.log",
            "slurmd": self.state_dir / "slurmd.log",
            "daemon console": self.state_dir / "daemons.console",
        }
        return "\n".join(f"--- {name} log\n{_tail(path)}" for name, path in logs.items())

    def stop(self) -> None:
        """Cancel every job, stop the daemons by process id, remove the configs written."""
        if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            job_ids = self.command("squeue", "-h", "-o", "%i", check=False).stdout.split()
            if job_ids:
                self.command("scancel", *job_ids, check=False)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and self.active_job_ids():
                    time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        console = getattr(self, "_console", None)
        if console is not None:
            console.close()
        for path in self.written_configs:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self.written_configs.clear()

    # ------------------------------------------------------------------ queries
    def command(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a SLURM client command (sinfo, squeue, scontrol, ...) against this cluster."""
        return subprocess.run(args, capture_output=True, text=True, timeout=30, check=check)

    def active_job_ids(self) -> list[str]:
        """Jobs still pending, running or completing."""
        result = self.command(
            "squeue", "-h", "-o", "%i", "--states=PENDING,RUNNING,COMPLETING", check=False
        )
        return result.stdout.split()

    def job_info(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (JobState, Comment, NumCPUs, TRES, ...)."""
        text = self.command("scontrol", "-o", "show", "job", str(job_id)).stdout.strip()
        info = {}
        for token in text.split():
            key, _, value = token.partition("=")
            info[key] = value
        return info

    def wait_for_jobs(self, job_ids: list[str], timeout_s: float = 120) -> None:
        """Return once none of ``job_ids`` is pending, running or completing."""
        pending = set(map(str, job_ids))
        self._wait(lambda: not pending & set(self.active_job_ids()), "jobs to end", timeout_s)

    def all_job_ids(self) -> list[str]:
        """Every job the controller still remembers (finished ones stay for MinJobAge)."""
        return self.command("squeue", "-h", "-o", "%i", "--states=all").stdout.split()


@contextlib.contextmanager
def local_slurm_cluster(**kwargs) -> Iterator[SlurmCluster]:
    """Start a private one-node cluster; always stop it and delete its state on exit."""
    state_dir = Path(tempfile.mkdtemp(prefix="neurocircuit-slurm-"))
    cluster = SlurmCluster(state_dir=state_dir, **kwargs)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
