#!/usr/bin/env bash
# bench/run.sh: time immich-render as a whole process beside its references,
# each pair side by side in the same run on the same disk, and write
# BENCHMARKS.md with the performance issue's table. Run from the repository
# root (make bench-cli; BENCH_QUICK=1 make bench-cli for a run of a few
# minutes).
#
# Measured, each as the median (with min and max) of several runs:
#   - one site: a render into a new directory, a re-render into the
#     unchanged directory, a --check; beside `cue export` of a compose-only
#     CUE module for the same host (bench/fleetgen ComposeModule), with the
#     cue CLI at the version immich-render links;
#   - 200 hosts: a render into an empty directory, a re-render into the
#     unchanged one, beside `cue export` of the 200 hosts' compose and
#     bench/writefiles (a Go program that writes the same files, of the
#     same sizes, at the same paths, with os.WriteFile);
#   - 1,000 hosts: a render into an empty directory, a --check, beside
#     bench/writefiles; the same render into tmpfs (/dev/shm); peak memory;
#   - Ansible's template module rendering the same files for ANSIBLE_HOSTS
#     hosts (bench/ansible), beside immich-render on the same hosts.
#
# Knobs (environment): BENCH_QUICK=1 (fewer runs, Ansible on 1 host only;
# a few minutes), RUNS (single site, default 11), RUNS_FLEET (200 hosts,
# default 7), RUNS_BIG (1,000 hosts, default 5), ANSIBLE_HOSTS (default
# "1 50 200": Ansible takes seconds per host, so the full run takes most
# of an hour), ANSIBLE_RUNS (default 1), BENCH_DIR (work directory; default
# a new directory inside the repository, on its disk), OUT (default
# BENCHMARKS.md).
set -euo pipefail

if [ -n "${BENCH_QUICK:-}" ]; then
	RUNS=${RUNS:-5} RUNS_FLEET=${RUNS_FLEET:-3} RUNS_BIG=${RUNS_BIG:-3} ANSIBLE_HOSTS=${ANSIBLE_HOSTS:-1}
fi
RUNS=${RUNS:-11}
RUNS_FLEET=${RUNS_FLEET:-7}
RUNS_BIG=${RUNS_BIG:-5}
ANSIBLE_HOSTS=${ANSIBLE_HOSTS:-"1 50 200"}
ANSIBLE_RUNS=${ANSIBLE_RUNS:-1}
OUT=${OUT:-BENCHMARKS.md}
CUE_VERSION=v0.17.1

cd "$(dirname "$0")/../.."
repo=$PWD
work=${BENCH_DIR:-$(mktemp -d -p "$repo" .bench.XXXXXX)}
mkdir -p "$work"
shm=
cleanup() { rm -rf "$work" ${shm:+"$shm"}; }
trap cleanup EXIT
bin=$work/bin gen=$work/gen res=$work/results.tsv
mkdir -p "$bin" "$gen"
: >"$res"

say() { printf '%s\n' "$*" >&2; }

# Tools. GNU time for CPU and peak memory; Ansible from Debian.
[ -x /usr/bin/time ] || { say "bench: installing GNU time"; apt-get install -y time >/dev/null; }
command -v ansible-playbook >/dev/null || { say "bench: installing ansible"; apt-get install -y ansible >/dev/null; }
say "bench: building immich-render, bench/writefiles and cue $CUE_VERSION"
go build -o "$bin/immich-render" ./cmd/immich-render
go build -o "$bin/writefiles" ./internal/bench/writefiles
GOBIN=$bin go install "cuelang.org/go/cmd/cue@$CUE_VERSION"
IR=$bin/immich-render WF=$bin/writefiles CUE=$bin/cue

fleets="50,200,1000"
for h in $ANSIBLE_HOSTS; do [ "$h" = 1 ] || fleets="$fleets,$h"; done
go run ./internal/bench/gen -o "$gen" -fleets "$fleets" -cue "" -compose 1,200 -ansible "$(echo "$ANSIBLE_HOSTS" | tr ' ' ,)"
eval "$(go run ./internal/bench/gen -env)"
export ANSIBLE_HOME=$work/ansible-home ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
export ANSIBLE_STDOUT_CALLBACK=null ANSIBLE_RETRY_FILES_ENABLED=false

# measure NAME CMD...: one timed run, a line "NAME wall user sys maxrss_kb"
# in the results. Wall time from the shell's microsecond clock; CPU time
# from the shell's time (getrusage, to the millisecond: GNU time rounds to
# 10 ms, the size of a single render); peak resident memory from GNU time.
# The CPU includes GNU time's own (well under a millisecond), for
# immich-render and its references alike.
measure() {
	local name=$1
	shift
	local t0 t1 rc=0 TIMEFORMAT='%3U %3S'
	t0=$EPOCHREALTIME
	{ time /usr/bin/time -f '%M' -o "$work/time.out" "$@" >/dev/null 2>"$work/stderr"; } 2>"$work/cpu.out" || rc=$?
	t1=$EPOCHREALTIME
	# --check exits 1 on drift: here that would be a broken benchmark.
	if [ "$rc" != 0 ]; then
		say "bench: $name failed (exit $rc): $*"
		cat "$work/stderr" >&2
		exit 1
	fi
	echo "$name $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }') $(tail -n1 "$work/cpu.out") $(tail -n1 "$work/time.out")" >>"$res"
}

# discard DIR...: each DIR, if it exists, is moved aside into the work
# directory's trash, which is removed when the bench ends. No tree is
# removed between timed runs on disk: ext4 without a journal (this
# machine's disk) skips every inode freed in the last minute (six while
# its inode-table block is dirty) when it allocates one, checking each in
# turn (recently_deleted() in fs/ext4/ialloc.c). A render right after the
# removal of the 1,000-host tree's 37,000 inodes spent 10-25 s of kernel
# CPU there (perf), quadratic in the inodes freed: that timed the
# previous run's rm, not the render, and the Go writer's rows alike.
trash=0
discard() {
	local d
	for d in "$@"; do
		[ -e "$d" ] || continue
		trash=$((trash + 1))
		mkdir -p "$work/trash"
		mv "$d" "$work/trash/$trash"
	done
}

# list DIR FILE: the "SIZE PATH" list of a rendered tree, for writefiles.
list() { (cd "$1" && find . -type f -printf '%s %P\n' | sort -k2) >"$2"; }

uptime_before=$(uptime)

say "bench: one site ($RUNS runs)"
"$IR" -q -c "$gen/site.cue" -o "$work/single"
list "$work/single" "$work/single.list"
for _ in $(seq "$RUNS"); do
	discard "$work/single"
	measure single_render "$IR" -q -c "$gen/site.cue" -o "$work/single"
	measure single_rerender "$IR" -q -c "$gen/site.cue" -o "$work/single"
	measure cue_compose_1 "$CUE" export "$gen/compose-1.cue" -e compose --out yaml
	measure single_check "$IR" -q -c "$gen/site.cue" -o "$work/single" --check
	discard "$work/wf"
	measure writefiles_1 "$WF" -list "$work/single.list" -o "$work/wf"
done

n=200
say "bench: $n hosts ($RUNS_FLEET runs)"
"$IR" -q -c "$gen/fleet-$n.cue" -o "$work/f$n"
list "$work/f$n" "$work/f$n.list"
for _ in $(seq "$RUNS_FLEET"); do
	discard "$work/f$n"
	measure "fleet_render_$n" "$IR" -q -c "$gen/fleet-$n.cue" -o "$work/f$n"
	discard "$work/wf"
	measure "writefiles_$n" "$WF" -list "$work/f$n.list" -o "$work/wf"
	measure "fleet_rerender_$n" "$IR" -q -c "$gen/fleet-$n.cue" -o "$work/f$n"
	measure "cue_compose_$n" "$CUE" export "$gen/compose-$n.cue" -e compose --out yaml
	discard "$work/f50"
	measure fleet_render_50 "$IR" -q -c "$gen/fleet-50.cue" -o "$work/f50"
done
discard "$work/f$n" "$work/f50" "$work/wf"

n=1000
say "bench: $n hosts ($RUNS_BIG runs)"
"$IR" -q -c "$gen/fleet-$n.cue" -o "$work/f$n"
list "$work/f$n" "$work/f$n.list"
for _ in $(seq "$RUNS_BIG"); do
	discard "$work/f$n"
	measure "fleet_render_$n" "$IR" -q -c "$gen/fleet-$n.cue" -o "$work/f$n"
	discard "$work/wf"
	measure "writefiles_$n" "$WF" -list "$work/f$n.list" -o "$work/wf"
	measure "fleet_check_$n" "$IR" -q -c "$gen/fleet-$n.cue" -o "$work/f$n" --check
done
discard "$work/wf"
# The same into memory, where the disk (and its neighbours) are out of
# the picture.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	say "bench: $n hosts into tmpfs ($RUNS_BIG runs)"
	shm=$(mktemp -d -p /dev/shm immich-render-bench.XXXXXX)
	for _ in $(seq "$RUNS_BIG"); do
		rm -rf "$shm/f"
		measure "fleet_render_tmpfs_$n" "$IR" -q -c "$gen/fleet-$n.cue" -o "$shm/f"
		rm -rf "$shm/wf"
		measure "writefiles_tmpfs_$n" "$WF" -list "$work/f$n.list" -o "$shm/wf"
		measure "fleet_check_tmpfs_$n" "$IR" -q -c "$gen/fleet-$n.cue" -o "$shm/f" --check
		# 200 hosts too, for the growth without the disk.
		rm -rf "$shm/f200" "$shm/wf200"
		measure fleet_render_tmpfs_200 "$IR" -q -c "$gen/fleet-200.cue" -o "$shm/f200"
		measure writefiles_tmpfs_200 "$WF" -list "$work/f200.list" -o "$shm/wf200"
	done
	rm -rf "$shm"
fi
discard "$work/f$n"

for h in $ANSIBLE_HOSTS; do
	say "bench: Ansible, $h hosts, $(nproc) forks ($ANSIBLE_RUNS runs)"
	for _ in $(seq "$ANSIBLE_RUNS"); do
		discard "$work/ans"
		measure "ansible_$h" ansible-playbook -f "$(nproc)" -i "$gen/inventory-$h.yml" internal/bench/ansible/render.yml -e "out_dir=$work/ans"
		case $h in 1 | 50 | 200) ;; *)
			discard "$work/fa"
			measure "fleet_render_$h" "$IR" -q -c "$gen/fleet-$h.cue" -o "$work/fa"
			;;
		esac
	done
	# The same files as immich-render's per host (index and cloud-init aside).
	got=$(find "$work/ans/nas0000" -type f | wc -l)
	want=$(grep -vc -e '^[0-9]* \.immich-render\.json$' -e 'cloud-init' "$work/single.list" || true)
	[ "$got" = "$want" ] || say "bench: warning: Ansible wrote $got files per host, immich-render $want"
done
discard "$work/ans" "$work/fa"

uptime_after=$(uptime)

# Machine description for the report.
{
	echo "nproc=$(nproc)"
	echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "disk=$(df -hT "$work" | awk 'NR == 2 { print $1 " (" $2 ", " $3 ")" }')"
	echo "kernel=$(uname -sr)"
	echo "go=$(go version | cut -d' ' -f3)"
	echo "cue=$("$CUE" version | head -n1)"
	echo "ansible=$(ansible --version | head -n1)"
	echo "commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!BENCHMARKS.md' ':!internal/bench/results.tsv' ':!internal/bench/machine.txt' ':!internal/bench/analysis.md' || echo ' (with uncommitted changes)')"
	echo "load_before=${uptime_before##*load average: }"
	echo "load_after=${uptime_after##*load average: }"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "runs=$RUNS/$RUNS_FLEET/$RUNS_BIG/$ANSIBLE_RUNS"
	echo "quick=${BENCH_QUICK:-}"
	echo "ansible_hosts=$ANSIBLE_HOSTS"
} >"$work/machine.txt"

cp "$res" "$work/machine.txt" internal/bench/
go run ./internal/bench/report -o "$OUT"
say "bench: wrote $OUT"
