#!/usr/bin/env bash
# Stop what scripts/start-slurm.sh started from STATE_DIR and wipe its state; safe to run twice.
#
#   scripts/stop-slurm.sh [STATE_DIR]      default /var/lib/minik8s-slurm
#
# Order: cancel every job (so no slurmstepd or job process outlives slurmd), stop sshd, slurmd,
# slurmctld, then munged (the others talk to it while they shut down). Daemons are found by their
# pidfiles only, and a pid counts only if that process is the expected program started for this
# state dir (its command line names a file in it) - nothing is ever killed by name. Leftover
# slurmstepd and job processes are found by the SLURM_CONF of this state dir in their
# environment or by their sockets in its spool directory.
#
# Then the state dir's contents (configs, keys, password, spool, state, logs) are removed and the
# key this state dir added to the login user's authorized_keys is taken out. The Debian packages,
# the login user and its password (shared by every instance for that user, kept root-only in
# /var/lib/minik8s-slurm-login) stay. MINIK8S_SLURM_KEEP_LOGS=1 keeps STATE_DIR/log.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

STATE_DIR=${1:-/var/lib/minik8s-slurm}
SLURM_USER=${MINIK8S_SLURM_USER:-minik8s-slurm}
WAIT=${MINIK8S_SLURM_WAIT:-30}

die() { echo "stop-slurm: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root"
if [ ! -d "$STATE_DIR" ]; then
    echo "stop-slurm: $STATE_DIR does not exist; nothing to stop"
    exit 0
fi
STATE_DIR=$(cd "$STATE_DIR" && pwd -P)
[[ $STATE_DIR =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "state dir must be a plain absolute path: $STATE_DIR"
[ "$STATE_DIR" != / ] || die "refusing to use / as the state dir"
RUN=$STATE_DIR/run
CONF=$STATE_DIR/etc/slurm.conf
export SLURM_CONF=$CONF

# shellcheck source=scripts/slurm-pids.sh
. "$HERE/slurm-pids.sh"  # our_pid PIDFILE NAME

# Whether PID still runs. A zombie counts as gone: the daemons are children of pid 1 here, and
# pid 1 in a container may reap them only seconds later.
running() {
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# SIGTERM, wait up to WAIT seconds (polling), then SIGKILL and wait a little more.
stop_pid() {
    local pid=$1 what=$2 deadline
    kill -TERM "$pid" 2>/dev/null || return 0
    deadline=$((SECONDS + WAIT))
    while running "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.05
    done
    if running "$pid"; then
        echo "stop-slurm: $what (pid $pid) ignored SIGTERM for ${WAIT}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 5))
        while running "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.05
        done
    fi
    echo "stopped $what (pid $pid)"
}

stop_daemon() {
    local pidfile=$1 name=$2 pid
    if pid=$(our_pid "$pidfile" "$name"); then
        stop_pid "$pid" "$name"
    fi
    rm -f "$pidfile"
}

# Processes of this state dir that outlived slurmd: slurmstepd (its spool sockets, or the
# SLURM_CONF slurmd handed it) and job processes (SLURM_CONF plus a SLURM_JOB_ID).
stray_pids() {
    local inodes="" pid comm env fd_inodes
    local -a vars
    if [ -r /proc/net/unix ]; then
        # Inodes of unix sockets bound below the state dir (slurmstepd's STATE_DIR/spool/...).
        inodes=$(awk -v dir="$STATE_DIR/" 'index($8, dir) == 1 { print $7 }' /proc/net/unix)
    fi
    # Builtins only inside the loop (read, mapfile, [[ ]]): it visits every process on the host.
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        if [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ]; then continue; fi
        read -r comm 2>/dev/null <"$d/comm" || continue
        mapfile -d '' -t vars 2>/dev/null <"$d/environ" || continue
        env=$'\n'
        [ ${#vars[@]} -eq 0 ] || printf -v env '\n%s' "${vars[@]}"
        env+=$'\n'
        if [[ $env == *$'\n'"SLURM_CONF=$CONF"$'\n'* ]]; then
            if [ "$comm" = slurmstepd ] || [[ $env == *$'\nSLURM_JOB_ID='* ]]; then
                echo "$pid"
                continue
            fi
        fi
        if [ "$comm" = slurmstepd ] && [ -n "$inodes" ]; then
            fd_inodes=$(find "$d/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' -printf '%l\n' 2>/dev/null \
                | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p')
            if [ -n "$fd_inodes" ] && grep -qxF -f <(printf '%s\n' "$fd_inodes") <<<"$inodes"; then
                echo "$pid"
            fi
        fi
    done
}

# --- jobs --------------------------------------------------------------------------------------
if our_pid "$RUN/slurmctld.pid" slurmctld >/dev/null; then
    jobs=$(timeout 10 squeue -h -o %A 2>/dev/null || true)
    if [ -n "$jobs" ]; then
        # shellcheck disable=SC2086  # one job id per word
        timeout 10 scancel $jobs 2>/dev/null || true
        # Wait until slurmd has killed them (COMPLETING goes away), so no slurmstepd is left.
        deadline=$((SECONDS + WAIT))
        while [ -n "$(timeout 10 squeue -h -o %A 2>/dev/null || true)" ] && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.2
        done
        echo "cancelled jobs: ${jobs//$'\n'/ }"
    fi
fi

# --- daemons -----------------------------------------------------------------------------------
stop_daemon "$RUN/sshd.pid" sshd
stop_daemon "$RUN/slurmd.pid" slurmd
stop_daemon "$RUN/slurmctld.pid" slurmctld

strays=$(stray_pids || true)
if [ -n "$strays" ]; then
    # Orphans of a slurmd that died (or was killed) with jobs running. slurmstepd ignores
    # SIGTERM, so like Slurm's own KillWait: SIGTERM to all, 2 s, then SIGKILL to the rest.
    echo "stop-slurm: leftover processes of $STATE_DIR: ${strays//$'\n'/ }" >&2
    # shellcheck disable=SC2086  # one pid per word
    kill -TERM $strays 2>/dev/null || true
    deadline=$((SECONDS + 2))
    for pid in $strays; do
        while running "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
    done
    for pid in $strays; do
        if running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    for pid in $strays; do
        deadline=$((SECONDS + 5))
        while running "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
        if running "$pid"; then echo "stop-slurm: pid $pid survived SIGKILL" >&2; fi
    done
fi

stop_daemon "$RUN/munged.pid" munged

# --- files -------------------------------------------------------------------------------------
if [ -f "$STATE_DIR/ssh/id_ed25519.pub" ] && id -u "$SLURM_USER" >/dev/null 2>&1; then
    home=$(getent passwd "$SLURM_USER" | cut -d: -f6)
    auth=$home/.ssh/authorized_keys
    if [ -f "$auth" ]; then
        pub=$(cat "$STATE_DIR/ssh/id_ed25519.pub")
        # Rewrite in place (keeps owner and mode) without this state dir's key.
        kept=$(grep -vxF -- "$pub" "$auth" || true)
        if [ -n "$kept" ]; then printf '%s\n' "$kept" >"$auth"; else : >"$auth"; fi
    fi
fi

# Only the names start-slurm.sh creates: the state dir may be a user's directory with more in it.
for sub in etc run munge ssh state spool dev env; do
    rm -rf "${STATE_DIR:?}/$sub"
done
if [ "${MINIK8S_SLURM_KEEP_LOGS:-0}" != 1 ]; then
    rm -rf "${STATE_DIR:?}/log"
fi
rmdir "$STATE_DIR" 2>/dev/null || true
echo "slurm stopped: $STATE_DIR"
