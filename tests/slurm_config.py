"""The configuration files of the one-node test cluster (tests/slurm_cluster.py), each setting explained."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slurm_cluster import Cluster

CLUSTER_NAME = "labtest"


def write_configs(c: Cluster, ports: dict[str, int], node: str) -> None:
    """slurm.conf and slurmdbd.conf for `c`, every path inside `c.folder`."""
    d = c.folder
    munge_socket = d / "run" / "munge.socket"
    auth = f"socket={munge_socket},cred_expire=5"
    c.conf.write_text(
        f"""# One node, one partition, written by tests/slurm_config.py. Times are tuned so that requeues and
# time limits take seconds, not minutes.
ClusterName={CLUSTER_NAME}
# This machine, by name, reached on the loopback address; daemons and jobs run as root (as the tests do).
SlurmctldHost={c.node}(127.0.0.1)
SlurmctldPort={ports["slurmctld"]}
SlurmdPort={ports["slurmd"]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# socket: our own munged. cred_expire (default 120 s, minimum 5) is also how long a requeued job must wait
# before it may start again (slurm.conf(5), AuthInfo): a requeued job restarts ~7 s later, not ~2 minutes.
AuthInfo={auth}
StateSaveLocation={d / "state"}
SlurmdSpoolDir={d / "spool"}
SlurmctldPidFile={d / "run" / "slurmctld.pid"}
SlurmdPidFile={d / "run" / "slurmd.pid"}
SlurmctldLogFile={d / "log" / "slurmctld.log"}
SlurmdLogFile={d / "log" / "slurmd.log"}
# No cgroups (a container may not delegate them): processes are tracked by parentage, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
# CPUs (cores) are what jobs consume; memory is not tracked (submitit asks for none with mem_gb=null), so
# two one-CPU jobs run side by side on this two-core node.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Jobs may be requeued (submitit's `--requeue`, `scontrol requeue`); this is the default, stated.
JobRequeue=1
# The main scheduler runs on events (submit, job end) and every sched_interval (default 60 s); a requeued
# job becomes eligible only when its begin time passes, which is no event, so the interval is 1 s.
# batch_sched_delay (default 3 s) lets a just-submitted batch job wait for a later pass: 0 here.
# Backfill runs every bf_interval (default 30 s): 1 s too.
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,batch_sched_delay=0,bf_interval=1
# Seconds between SIGTERM and SIGKILL for a job at its time limit, cancelled or requeued (default 30). A
# preempted job here saves last.ckpt in well under a second; 15 s is plenty and keeps a stuck job short.
KillWait=15
# The time limit is hard: no grace minutes past it (the default, stated). slurmctld tests time limits and
# sends the `--signal` warning on its 30 s background tick (PERIODIC_TIMEOUT, compiled in), so the kill
# lands up to 30 s after the limit, and the warning on the first tick at which at most sig_time + 30 s are
# left (sbatch(1): "up to 60 seconds earlier"); here a 1-minute job asking for USR2@5 got it 25-55 s in.
OverTimeLimit=0
# Finished jobs stay visible to scontrol/squeue for 5 minutes (the default); sacct keeps them for good.
MinJobAge=300
# A node that was DOWN (slurmd restarted) rejoins as soon as it registers with a valid configuration.
ReturnToService=2
# Accounting: submitit reads job states with sacct (a cancelled job is seen as ended only there), and
# `sacct --duplicates` lists every allocation of a requeued job.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={ports["slurmdbd"]}
# The munge socket for talking to slurmdbd (AuthInfo's socket does not cover this connection).
AccountingStoragePass={munge_socket}
JobCompType=jobcomp/none
# This machine as `slurmd -C` reports it (all its CPUs and memory), reachable on the loopback address.
{node} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName={c.partition} Nodes={c.node} Default=YES MaxTime=INFINITE State=UP
"""
    )
    dbd = d / "etc" / "slurmdbd.conf"
    dbd.write_text(
        f"""# slurmdbd for accounting, on a MariaDB started with --skip-grant-tables (any user, no password).
AuthType=auth/munge
AuthInfo={auth}
# slurmdbd starts only where DbdHost names its host; `localhost` is accepted anywhere.
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={ports["slurmdbd"]}
SlurmUser=root
PidFile={d / "run" / "slurmdbd.pid"}
LogFile={d / "log" / "slurmdbd.log"}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports["mysql"]}
StorageUser=root
StorageLoc=slurm_acct_db
"""
    )
    dbd.chmod(0o600)  # slurmdbd refuses a config others can read (it may hold a database password)
