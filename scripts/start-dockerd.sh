#!/bin/sh
# Start the Docker engine by hand (no systemd here) and wait until it answers; print its pid.
#
#   scripts/start-dockerd.sh          start dockerd unless `docker info` already answers
#   scripts/start-dockerd.sh --stop   stop the dockerd this script started (by its pidfile)
#
# Idempotent both ways. The daemon logs to /var/log/minik8s-dockerd.log and writes its pid to
# /run/minik8s-dockerd.pid; a dockerd started some other way is reused and never stopped here.
# Environment: DOCKERD_WAIT (seconds to wait for the daemon, default 30).
set -eu

LOG=/var/log/minik8s-dockerd.log
PIDFILE=/run/minik8s-dockerd.pid
WAIT=${DOCKERD_WAIT:-30}

answers() {
    docker info >/dev/null 2>&1
}

our_pid() {
    # The pid from our pidfile, if that process is still a dockerd.
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
    echo "$pid"
}

stop() {
    if ! pid=$(our_pid); then
        rm -f "$PIDFILE"
        echo "no dockerd started by this script is running"
        return 0
    fi
    kill -TERM "$pid"
    # dockerd stops its containers first (shutdown timeout 15 s by default).
    i=0
    while [ -d "/proc/$pid" ] && [ "$i" -lt $((WAIT * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if [ -d "/proc/$pid" ]; then
        echo "dockerd (pid $pid) still running after ${WAIT}s; see $LOG" >&2
        return 1
    fi
    rm -f "$PIDFILE"
    # dockerd leaves its bridge behind; remove it so a stop leaves the host as it was.
    ip link delete docker0 2>/dev/null || true
    echo "stopped dockerd (pid $pid)"
}

start() {
    if answers; then
        pid=$(our_pid || pgrep -o -x dockerd || echo unknown)
        echo "$pid"
        return 0
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        echo "dockerd is not installed; run scripts/install-docker.sh" >&2
        return 1
    fi
    if ! our_pid >/dev/null; then
        # setsid: the daemon outlives the caller; every fd is redirected so a caller that
        # captures our output does not wait for the daemon to close it.
        setsid dockerd --pidfile "$PIDFILE" </dev/null >>"$LOG" 2>&1 &
    fi
    i=0
    until answers; do
        if [ "$i" -ge $((WAIT * 10)) ]; then
            echo "dockerd did not answer within ${WAIT}s; last lines of $LOG:" >&2
            tail -n 20 "$LOG" >&2
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    our_pid
}

case "${1:-}" in
    --stop) stop ;;
    "") start ;;
    *) echo "usage: $0 [--stop]" >&2; exit 2 ;;
esac
