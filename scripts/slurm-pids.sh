# Sourced by start-slurm.sh and stop-slurm.sh (needs STATE_DIR): which daemon pids are this state dir's.

# A pid from PIDFILE if that process is still NAME and was started for this state dir (its
# command line names a file in it): a recycled pid or someone else's daemon is never "ours".
our_pid() {
    local pidfile=$1 name=$2 pid
    [ -f "$pidfile" ] || return 1
    read -r pid <"$pidfile" || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$STATE_DIR/" || return 1
    echo "$pid"
}
