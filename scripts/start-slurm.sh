#!/usr/bin/env bash
# Start a real, single-node Slurm (munged + slurmctld + slurmd) and an sshd on loopback, all of
# it living in one state directory, for the GPU-job tests and for users trying GpuJobs locally.
#
#   scripts/start-slurm.sh [STATE_DIR]      default /var/lib/minik8s-slurm
#
# Needs root (it installs Debian packages, creates a user and starts daemons as root; there is
# no systemd here). Re-runnable: daemons already running from STATE_DIR are kept, files are
# rewritten only when their content changes. Stop everything with scripts/stop-slurm.sh.
#
# What it makes (recipe: shared/reference/slurm-local.md):
#   - the login user $MINIK8S_SLURM_USER (default minik8s-slurm), key and password login;
#   - one node `hostname -s` with CPUs = nproc and two fake GPUs (gres files are symlinks to
#     /dev/null, enough for Slurm to hand out GPUs and set CUDA_VISIBLE_DEVICES);
#   - partition `debug` (default, no time limit);
#   - sshd on 127.0.0.1:$MINIK8S_SLURM_SSH_PORT whose sessions see SLURM_CONF, so `sbatch`
#     works over SSH; SFTP is served in-process (internal-sftp);
#   - STATE_DIR/env, a shell-sourceable file with everything a client needs (SLURM_CONF, SSH
#     host/port/user, the private key path, the password file path, a known_hosts file).
# The password itself is only in STATE_DIR/ssh/password (0600; the same for every instance that
# uses the login user) and never printed.
#
# Environment (all optional):
#   MINIK8S_SLURM_SSH_PORT (2222), MINIK8S_SLURMCTLD_PORT (6817), MINIK8S_SLURMD_PORT (6818),
#   MINIK8S_SLURM_USER (minik8s-slurm), MINIK8S_SLURM_GPUS (2), MINIK8S_SLURM_WAIT (seconds to
#   wait for each daemon, 30).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE_DIR=${1:-/var/lib/minik8s-slurm}
SSH_PORT=${MINIK8S_SLURM_SSH_PORT:-2222}
CTLD_PORT=${MINIK8S_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${MINIK8S_SLURMD_PORT:-6818}
SLURM_USER=${MINIK8S_SLURM_USER:-minik8s-slurm}
GPUS=${MINIK8S_SLURM_GPUS:-2}
WAIT=${MINIK8S_SLURM_WAIT:-30}
PARTITION=debug

die() { echo "start-slurm: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (installs packages, creates a user, starts daemons)"
for v in SSH_PORT CTLD_PORT SLURMD_PORT GPUS WAIT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number"
done
[[ $SLURM_USER =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] || die "bad user name: $SLURM_USER"
# The path goes into config files and a munge socket path (sun_path is 108 bytes): keep it plain.
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd -P)
[[ $STATE_DIR =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "state dir must be a plain absolute path: $STATE_DIR"
[ ${#STATE_DIR} -le 70 ] || die "state dir path too long for the munge socket: $STATE_DIR"

ETC=$STATE_DIR/etc
RUN=$STATE_DIR/run
LOG=$STATE_DIR/log
MUNGE=$STATE_DIR/munge
SSHD=$STATE_DIR/ssh
CONF=$ETC/slurm.conf
SOCKET=$MUNGE/munge.socket
NODE=$(hostname -s)

started=$(date +%s.%N)

# --- packages --------------------------------------------------------------------------------
# apt-install-no-start.sh keeps Debian from starting its own munge/slurm/ssh services: ours run
# with their own sockets, ports and files, and the system ones would compete for 6817/6818/22.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null || [ ! -x /usr/sbin/sshd ]; then
    echo "start-slurm: installing slurm-wlm munge openssh-server ..."
    "$ROOT/scripts/apt-install-no-start.sh" slurm-wlm munge openssh-server
fi

# --- helpers ---------------------------------------------------------------------------------
# shellcheck source=scripts/slurm-pids.sh
. "$ROOT/scripts/slurm-pids.sh"  # our_pid PIDFILE NAME

# Poll CHECK (a function) every 0.1 s until it succeeds or WAIT seconds pass; no blind sleeps.
wait_for() {
    local what=$1 logfile=$2; shift 2
    local deadline=$((SECONDS + WAIT))
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "start-slurm: $what not ready after ${WAIT}s; last lines of $logfile:" >&2
            tail -n 20 "$logfile" >&2 2>/dev/null || true
            exit 1
        fi
        sleep 0.1
    done
}

port_taken() {
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# Write FILE from stdin only if the content differs (so re-runs do not touch running configs);
# returns 0 when the file changed.
write_if_changed() {
    local file=$1 mode=$2 tmp
    tmp=$(mktemp "$file.XXXXXX")
    cat >"$tmp"
    chmod "$mode" "$tmp"
    if [ -f "$file" ] && cmp -s "$tmp" "$file"; then
        rm -f "$tmp"
        return 1
    fi
    mv -f "$tmp" "$file"
}

# --- layout ----------------------------------------------------------------------------------
# The state dir must be traversable by the login user: jobs and client commands run as that user
# and read slurm.conf and the munge socket. Secrets live in 0700 subdirectories.
chmod 0755 "$STATE_DIR"
mkdir -p "$ETC" "$RUN" "$LOG" "$MUNGE" "$SSHD" "$STATE_DIR/state" "$STATE_DIR/spool" "$STATE_DIR/dev"
chmod 0755 "$ETC" "$RUN" "$LOG" "$MUNGE" "$STATE_DIR/dev"
chmod 0700 "$SSHD" "$STATE_DIR/state"
# slurmstepd executes the job script from the spool as the job's user.
chmod 0755 "$STATE_DIR/spool"

# --- login user ------------------------------------------------------------------------------
if ! id -u "$SLURM_USER" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash --comment "minik8s Slurm login user" "$SLURM_USER"
    # '*' (not '!'): no password yet, but the account is not locked, so sshd accepts keys.
    usermod -p '*' "$SLURM_USER"
fi
USER_HOME=$(getent passwd "$SLURM_USER" | cut -d: -f6)
[ -d "$USER_HOME" ] || die "home of $SLURM_USER ($USER_HOME) is missing"
# Catch a state dir below a private directory (e.g. pytest's 0700 tmp) early and loudly.
runuser -u "$SLURM_USER" -- test -x "$STATE_DIR" \
    || die "$SLURM_USER cannot reach $STATE_DIR (a parent directory is not world-executable)"

# --- munge -----------------------------------------------------------------------------------
if [ ! -s "$MUNGE/munge.key" ]; then
    # 1 KiB of randomness; munged (running as root here) wants it owned by itself and 0400.
    (umask 077 && head -c 1024 /dev/urandom >"$MUNGE/munge.key.tmp")
    mv -f "$MUNGE/munge.key.tmp" "$MUNGE/munge.key"
fi
chown root:root "$MUNGE/munge.key"
chmod 0400 "$MUNGE/munge.key"

munge_answers() {
    munge -n -S "$SOCKET" 2>/dev/null | unmunge -S "$SOCKET" >/dev/null 2>&1
}
if ! our_pid "$RUN/munged.pid" munged >/dev/null; then
    rm -f "$SOCKET" "$SOCKET.lock"
    munged --socket="$SOCKET" --key-file="$MUNGE/munge.key" --pid-file="$RUN/munged.pid" \
        --log-file="$LOG/munged.log" --seed-file="$MUNGE/munged.seed" --num-threads=2
fi
wait_for munged "$LOG/munged.log" munge_answers

# --- slurm configuration ---------------------------------------------------------------------
i=0
while [ "$i" -lt "$GPUS" ]; do
    ln -sfn /dev/null "$STATE_DIR/dev/nvidia$i"
    i=$((i + 1))
done
CPUS=${MINIK8S_SLURM_CPUS:-$(nproc)}  # more than nproc lets benchmarks run many sleeping jobs at once
# Advertise 90% of RAM so `--mem` requests work; config_overrides trusts these numbers.
MEM_MB=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
gres_node=""
gres_conf=""
if [ "$GPUS" -gt 0 ]; then
    gres_node=" Gres=gpu:$GPUS"
    gres_conf="NodeName=$NODE Name=gpu File=$STATE_DIR/dev/nvidia[0-$((GPUS - 1))]"
fi

conf_changed=0
if write_if_changed "$CONF" 0644 <<EOF; then
# Written by scripts/start-slurm.sh (rewritten when a start changes it). One node, loopback only.
ClusterName=minik8s
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# Our own munged socket, not /run/munge: the system munge service is never started.
AuthInfo=socket=$SOCKET
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in containers like this one: track processes by /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# Finished jobs leave squeue after MinJobAge; jobcomp.txt keeps a line for each of them.
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.txt
MinJobAge=30
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Start a submitted job at once instead of after the default batch delay.
SchedulerParameters=batch_sched_delay=0
# Use the CPUs/memory/GRES written below even where slurmd detects something else.
SlurmdParameters=config_overrides
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
ReturnToService=2
# A cancelled job gets SIGKILL 2 s after SIGTERM (default 30 s): stops stay quick.
KillWait=2
InactiveLimit=0
SlurmdTimeout=300
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS RealMemory=$MEM_MB$gres_node State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    conf_changed=1
fi
if write_if_changed "$ETC/gres.conf" 0644 <<EOF; then
# Fake GPUs: Slurm only needs device files to count and hand out; these point at /dev/null.
$gres_conf
EOF
    conf_changed=1
fi

export SLURM_CONF=$CONF

# --- slurmctld and slurmd --------------------------------------------------------------------
ctld_pid=$(our_pid "$RUN/slurmctld.pid" slurmctld || true)
slurmd_pid=$(our_pid "$RUN/slurmd.pid" slurmd || true)
if [ -z "$ctld_pid" ] && port_taken "$CTLD_PORT"; then
    die "port $CTLD_PORT (slurmctld) is in use; set MINIK8S_SLURMCTLD_PORT"
fi
if [ -z "$slurmd_pid" ] && port_taken "$SLURMD_PORT"; then
    die "port $SLURMD_PORT (slurmd) is in use; set MINIK8S_SLURMD_PORT"
fi
if [ -n "$ctld_pid" ] && [ "$conf_changed" = 1 ]; then
    # Daemons from an earlier run with another config: let them re-read it (ports need a stop).
    scontrol reconfigure || die "scontrol reconfigure failed; run scripts/stop-slurm.sh first"
fi
# -f names the config on the command line, which is also how our_pid recognises our daemons.
[ -n "$ctld_pid" ] || slurmctld -f "$CONF"
[ -n "$slurmd_pid" ] || slurmd -f "$CONF"

node_up() {
    local state
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null) || return 1
    case "$state" in
        idle | mix | alloc) return 0 ;;  # mix/alloc: a re-run while jobs are running
        inval | drain | drng)
            echo "start-slurm: node $NODE is $state; see $LOG/slurmd.log and $LOG/slurmctld.log" >&2
            exit 1 ;;
        *) return 1 ;;
    esac
}
wait_for "node $NODE" "$LOG/slurmctld.log" node_up

# --- sshd ------------------------------------------------------------------------------------
[ -f "$SSHD/host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "minik8s-slurm host" -f "$SSHD/host_ed25519_key"
[ -f "$SSHD/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "minik8s-slurm@$STATE_DIR" -f "$SSHD/id_ed25519"
chmod 0600 "$SSHD/host_ed25519_key" "$SSHD/id_ed25519"
printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1-2 "$SSHD/host_ed25519_key.pub")" \
    | write_if_changed "$SSHD/known_hosts" 0644 || true

# The public key goes into the user's own authorized_keys (stop-slurm.sh takes it out again).
install -d -m 0700 -o "$SLURM_USER" -g "$SLURM_USER" "$USER_HOME/.ssh"
AUTH=$USER_HOME/.ssh/authorized_keys
PUB=$(cat "$SSHD/id_ed25519.pub")
if ! grep -qxF -- "$PUB" "$AUTH" 2>/dev/null; then
    printf '%s\n' "$PUB" >>"$AUTH"
fi
chown "$SLURM_USER:$SLURM_USER" "$AUTH"
chmod 0600 "$AUTH"

# A random password for the password-auth path, one per login user (not per state dir): several
# instances (a user's own, test sessions of other checkouts) share the user, and a new password
# would lock the others out. The master copy is root-only; STATE_DIR/ssh/password is a copy.
# It reaches chpasswd on stdin, never argv.
PASSWORDS=/var/lib/minik8s-slurm-login
install -d -m 0700 "$PASSWORDS"
if [ ! -s "$PASSWORDS/$SLURM_USER.password" ]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '+/=' >"$PASSWORDS/$SLURM_USER.password.tmp")
    mv -f "$PASSWORDS/$SLURM_USER.password.tmp" "$PASSWORDS/$SLURM_USER.password"
fi
(umask 077 && cp "$PASSWORDS/$SLURM_USER.password" "$SSHD/password")
chmod 0600 "$SSHD/password"
read -r password <"$SSHD/password"
printf '%s:%s\n' "$SLURM_USER" "$password" | chpasswd
unset password

write_if_changed "$SSHD/sshd_config" 0644 <<EOF || true
# Written by scripts/start-slurm.sh. Loopback only; one user.
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SSHD/host_ed25519_key
PidFile $RUN/sshd.pid
AllowUsers $SLURM_USER
PermitRootLogin no
# Home and state dirs belong to different owners here; PAM is not configured for this sshd.
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
X11Forwarding no
AllowTcpForwarding no
Subsystem sftp internal-sftp
# Sessions need SLURM_CONF for sbatch/squeue/scontrol to find this cluster.
SetEnv SLURM_CONF=$CONF
# Tests open several connections at once.
MaxStartups 50:30:100
EOF

sshd_pid=$(our_pid "$RUN/sshd.pid" sshd || true)
if [ -z "$sshd_pid" ]; then
    port_taken "$SSH_PORT" && die "port $SSH_PORT (sshd) is in use; set MINIK8S_SLURM_SSH_PORT"
    mkdir -p /run/sshd && chmod 0755 /run/sshd  # sshd's privilege separation directory
    /usr/sbin/sshd -t -f "$SSHD/sshd_config"
    # Absolute path: sshd re-executes itself for every connection.
    /usr/sbin/sshd -f "$SSHD/sshd_config" -E "$LOG/sshd.log"
else
    kill -HUP "$sshd_pid"  # re-read a changed config; harmless otherwise
fi
ssh_banner() {
    # A subshell, so that a refused connection or the open descriptor stays in there.
    (
        exec 3<>"/dev/tcp/127.0.0.1/$SSH_PORT" || exit 1
        read -r -t 2 line <&3 || exit 1
        [[ $line == SSH-2.0-* ]]
    ) 2>/dev/null
}
wait_for sshd "$LOG/sshd.log" ssh_banner

# The user (not only root) must be able to submit: munge socket and slurm.conf reachable.
runuser -u "$SLURM_USER" -- env SLURM_CONF="$CONF" sinfo -h -o %P >/dev/null \
    || die "$SLURM_USER cannot talk to slurmctld; see $LOG/slurmctld.log"

# --- env file --------------------------------------------------------------------------------
{
    echo "# Written by scripts/start-slurm.sh; source it to use this Slurm: . $STATE_DIR/env"
    printf 'export SLURM_CONF=%q\n' "$CONF"
    printf 'export MINIK8S_SLURM_STATE_DIR=%q\n' "$STATE_DIR"
    printf 'export MINIK8S_SLURM_SSH_HOST=%q\n' 127.0.0.1
    printf 'export MINIK8S_SLURM_SSH_PORT=%q\n' "$SSH_PORT"
    printf 'export MINIK8S_SLURM_SSH_USER=%q\n' "$SLURM_USER"
    printf 'export MINIK8S_SLURM_SSH_KEY=%q\n' "$SSHD/id_ed25519"
    printf 'export MINIK8S_SLURM_SSH_PASSWORD_FILE=%q\n' "$SSHD/password"
    printf 'export MINIK8S_SLURM_SSH_KNOWN_HOSTS=%q\n' "$SSHD/known_hosts"
    printf 'export MINIK8S_SLURM_PARTITION=%q\n' "$PARTITION"
    printf 'export MINIK8S_SLURM_NODE=%q\n' "$NODE"
    printf 'export MINIK8S_SLURM_GPUS=%q\n' "$GPUS"
} | write_if_changed "$STATE_DIR/env" 0644 || true

elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "slurm ready: node $NODE ($CPUS CPUs, $GPUS GPUs), ssh $SLURM_USER@127.0.0.1:$SSH_PORT, env $STATE_DIR/env (${elapsed}s)"
