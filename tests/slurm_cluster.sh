#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the tests marked `slurm` (make test-slurm).
#
#   tests/slurm_cluster.sh start STATE_DIR   install slurm-wlm and munge when missing (apt-get,
#                                             as root), start munged, slurmctld and slurmd with
#                                             everything (config, keys, sockets, logs, pid files)
#                                             in STATE_DIR; prints the SLURM_CONF to export
#   tests/slurm_cluster.sh stop STATE_DIR    cancel the cluster's jobs and stop exactly the
#                                             daemons that `start` wrote pid files for
#
# Nothing outside STATE_DIR is configured or started: clients find this cluster through
# SLURM_CONF=STATE_DIR/slurm.conf, and its munged listens on a socket in STATE_DIR. Accounting
# (slurmdbd) is left out, as on many small clusters; the project's launcher does without sacct.
set -euo pipefail

die() { echo "slurm_cluster: $*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 start|stop STATE_DIR"
cmd=$1
mkdir -p "$2"
state=$(cd "$2" && pwd)

install_packages() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return
    [[ $(id -u) -eq 0 ]] || die "slurm-wlm and munge are missing; installing them needs root (apt-get)"
    command -v apt-get >/dev/null || die "slurm-wlm and munge are missing and there is no apt-get"
    echo "slurm_cluster: installing slurm-wlm and munge (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds
    local limit=$1 what=$2
    shift 2
    for _ in $(seq $((limit * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "$what not ready after ${limit}s; logs in $state"
}

start() {
    [[ $(id -u) -eq 0 ]] || die "the test cluster runs its daemons as root (and munged as munge)"
    install_packages
    [[ -f $state/slurmctld.pid ]] && die "$state already holds a cluster; stop it first"

    # munged refuses keys and sockets in folders others can write to: a folder of its own
    chmod 0755 "$state"
    runuser -u munge -- test -x "$state" ||
        die "user munge cannot reach $state; choose a state dir outside private folders"
    install -d -o munge -g munge -m 0755 "$state/munge"
    runuser -u munge -- mungekey --create --keyfile="$state/munge/munge.key" >/dev/null 2>&1 ||
        die "mungekey failed"
    runuser -u munge -- munged --socket="$state/munge/munge.socket" \
        --key-file="$state/munge/munge.key" --pid-file="$state/munge/munged.pid" \
        --log-file="$state/munge/munged.log" --seed-file="$state/munge/munged.seed" ||
        die "munged did not start: $(tail -3 "$state/munge/munged.log" 2>/dev/null)"

    local host cpus mem_mb
    host=$(hostname -s)
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OMP_NUM_THREADS
    # below the node's memory, or slurmd would drain the node for having less than it claims
    mem_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 8 / 10))
    mkdir -p "$state/ctld" "$state/spool"
    cat >"$state/slurm.conf" <<EOF
ClusterName=imbalance-gan-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job may start again after 10 s, not the default 121 s
AuthInfo=socket=$state/munge/munge.socket,cred_expire=10
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
# a request no node can hold is refused by sbatch instead of pending forever
EnforcePartLimits=ALL
ReturnToService=2
KillWait=5
MinJobAge=600
SchedulerParameters=sched_interval=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$state/slurm.conf
    slurmctld -f "$SLURM_CONF" || die "slurmctld did not start: $(tail -3 "$state/slurmctld.log")"
    wait_for 30 slurmctld scontrol ping
    slurmd -f "$SLURM_CONF" || die "slurmd did not start: $(tail -3 "$state/slurmd.log")"
    wait_for 30 "the node" bash -c "sinfo -h -N -o %T | grep -qx idle"
    echo "$SLURM_CONF"
}

pid_of() { [[ -f $1 ]] && cat "$1"; }

stop_daemon() {  # stop_daemon PIDFILE: TERM the daemon, then KILL it after 10 s
    local pid
    pid=$(pid_of "$1") || return 0
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

stop() {
    export SLURM_CONF=$state/slurm.conf
    if [[ -f $state/slurmctld.pid ]] && scontrol ping >/dev/null 2>&1; then
        # jobs first, so that no job step outlives the daemons that watch it
        local jobs
        jobs=$(squeue -h -o %A 2>/dev/null || true)
        [[ -n $jobs ]] && scancel $jobs >/dev/null 2>&1 || true
        for _ in $(seq 150); do
            [[ -z $(squeue -h -o %A 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
    stop_daemon "$state/slurmd.pid"
    stop_daemon "$state/slurmctld.pid"
    stop_daemon "$state/munge/munged.pid"
}

case $cmd in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop STATE_DIR" ;;
esac
