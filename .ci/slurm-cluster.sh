#!/usr/bin/env bash
# Start or stop a real one-node SLURM cluster on this machine, for the SLURM test (tests/test_slurm.py).
# Needs root and Debian's apt (slurm-wlm, munge). Usage: .ci/slurm-cluster.sh start|stop|status
#
# What a cluster without an accounting database needs (facts checked on this machine kind):
# AccountingStorageType=accounting_storage/none, so the executor plugin must use squeue for job status
# (--slurm-status-command squeue) and submit without an account (--slurm-no-account); MinJobAge is raised so that
# finished jobs stay visible to squeue long enough for Snakemake to see them finish.
set -euo pipefail

conf_dir=/etc/slurm
log_dir=/var/log/slurm

install() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  fi
}

write_config() {
  local host node_line mem
  host=$(hostname -s)
  # slurmd -C prints this machine's real node definition (sockets, cores, threads, memory).
  node_line=$(slurmd -C | head -n 1)
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")
  node_line=${node_line/RealMemory=$mem/RealMemory=$((mem - 1024))}  # leave room for the OS
  mkdir -p "$conf_dir" "$log_dir" /var/spool/slurmctld /var/spool/slurmd
  cat >"$conf_dir/slurm.conf" <<CONF
ClusterName=layeratlas-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=3600
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
SlurmctldLogFile=$log_dir/slurmctld.log
SlurmdLogFile=$log_dir/slurmd.log
GresTypes=gpu
$node_line Gres=gpu:1 State=UNKNOWN
# Same node in both partitions, so profiles/slurm (cpu and gpu partitions) runs unchanged.
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host Default=NO MaxTime=INFINITE State=UP
CONF
  # A stand-in GPU: lets SLURM schedule --gpus=1 jobs (one at a time) on a machine without one.
  echo "NodeName=$host Name=gpu File=/dev/null" >"$conf_dir/gres.conf"
}

start() {
  install
  write_config
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  fi
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge
  pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
  pgrep -x slurmctld >/dev/null || slurmctld
  pgrep -x slurmd >/dev/null || slurmd
  for _ in $(seq 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed)'; then
      sinfo
      return 0
    fi
    sleep 1
  done
  echo "SLURM did not come up; logs:" >&2
  tail -n 30 "$log_dir"/*.log >&2 || true
  return 1
}

stop() {
  scancel --user=root 2>/dev/null || true
  pkill -x slurmd 2>/dev/null || true
  pkill -x slurmctld 2>/dev/null || true
  pkill -x munged 2>/dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
