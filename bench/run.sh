#!/usr/bin/env bash
# bench/run.sh: time immich-render as a whole process, beside the tools a
# user would pick instead, in the same run on the same disk, and write
# BENCHMARKS.md. Run from the repository root (make bench-cli).
#
# Measured, each as the median of several runs:
#   - a cold single-site render (a new process, a new output directory);
#   - fleets of 100, 200, 500 and 1,000 hosts rendered into new directories,
#     a re-render and a --check of the unchanged 1,000-host tree, and
#     `vet` (validation only) of 1,000 hosts; peak memory of each;
#   - `cue export` of an equivalent CUE-only module (immich-render's schema
#     and the same hosts), with the cue CLI at the version immich-render
#     links;
#   - bench/writefiles, a Go program that only writes the same number of
#     files of the same sizes at the same paths: plainly, and crash-safe
#     (temporary file, fsync, rename) as immich-render's writer does;
#   - Ansible's template module rendering the same files for ANSIBLE_HOSTS
#     hosts (bench/ansible), extrapolated to 200 hosts.
#
# Knobs (environment): RUNS (small runs, default 10), RUNS_FLEET (fleet
# runs, default 5), RUNS_BIG (1,000 hosts, default 3), ANSIBLE_HOSTS
# (default "10 20"), ANSIBLE_RUNS (default 2), BENCH_DIR (work directory;
# default a new directory inside the repository, on its disk), OUT
# (default BENCHMARKS.md).
set -euo pipefail

RUNS=${RUNS:-10}
RUNS_FLEET=${RUNS_FLEET:-5}
RUNS_BIG=${RUNS_BIG:-3}
ANSIBLE_HOSTS=${ANSIBLE_HOSTS:-"10 20"}
ANSIBLE_RUNS=${ANSIBLE_RUNS:-2}
OUT=${OUT:-BENCHMARKS.md}
CUE_VERSION=v0.17.1

cd "$(dirname "$0")/.."
repo=$PWD
work=${BENCH_DIR:-$(mktemp -d -p "$repo" .bench.XXXXXX)}
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
bin=$work/bin gen=$work/gen res=$work/results.tsv
mkdir -p "$bin" "$gen"
: >"$res"

say() { printf '%s\n' "$*" >&2; }

# Tools. GNU time for CPU and peak memory; Ansible from Debian.
[ -x /usr/bin/time ] || { say "bench: installing GNU time"; apt-get install -y time >/dev/null; }
command -v ansible-playbook >/dev/null || { say "bench: installing ansible"; apt-get install -y ansible >/dev/null; }
say "bench: building immich-render, bench/writefiles and cue $CUE_VERSION"
go build -o "$bin/immich-render" ./cmd/immich-render
go build -o "$bin/writefiles" ./bench/writefiles
GOBIN=$bin go install "cuelang.org/go/cmd/cue@$CUE_VERSION"
IR=$bin/immich-render WF=$bin/writefiles CUE=$bin/cue

go run ./bench/gen -o "$gen" -fleets 100,200,500,1000 -cue 1,100,1000 -ansible "$(echo $ANSIBLE_HOSTS | tr ' ' ,)"
eval "$(go run ./bench/gen -env)"
export ANSIBLE_HOME=$work/ansible-home ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
export ANSIBLE_STDOUT_CALLBACK=null ANSIBLE_RETRY_FILES_ENABLED=false

# measure NAME CMD...: one timed run, a line "NAME wall user sys maxrss_kb"
# in the results. Wall time from the shell's microsecond clock; CPU time
# and peak resident memory from GNU time.
measure() {
	local name=$1
	shift
	local t0 t1 rc=0
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%U %S %M' -o "$work/time.out" "$@" >/dev/null 2>"$work/stderr" || rc=$?
	t1=$EPOCHREALTIME
	# --check exits 1 on drift: here that would be a broken benchmark.
	if [ "$rc" != 0 ]; then
		say "bench: $name failed (exit $rc): $*"
		cat "$work/stderr" >&2
		exit 1
	fi
	echo "$name $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }') $(tail -n1 "$work/time.out")" >>"$res"
}

# list DIR FILE: the "SIZE PATH" list of a rendered tree, for writefiles.
list() { (cd "$1" && find . -type f -printf '%s %P\n' | sort -k2) >"$2"; }

uptime_before=$(uptime)

say "bench: single site ($RUNS runs each)"
for _ in $(seq "$RUNS"); do
	rm -rf "$work/single"
	measure single_render "$IR" -q -c "$gen/site.cue" -o "$work/single"
	measure single_check "$IR" -q -c "$gen/site.cue" -o "$work/single" --check
	measure cue_export_1 "$CUE" export "$gen"/cue-1/*.cue -e hosts --out json
done
list "$work/single" "$work/single.list"
for _ in $(seq "$RUNS"); do
	rm -rf "$work/wf"
	measure writefiles_1 "$WF" -list "$work/single.list" -o "$work/wf"
	rm -rf "$work/wf"
	measure writefiles_sync_1 "$WF" -list "$work/single.list" -o "$work/wf" -sync file
done

for n in 100 200 500; do
	say "bench: fleet of $n hosts ($RUNS_FLEET runs)"
	for _ in $(seq "$RUNS_FLEET"); do
		rm -rf "$work/f$n"
		measure "fleet_render_$n" "$IR" -q -c "$gen/fleet-$n.cue" -o "$work/f$n"
	done
	list "$work/f$n" "$work/f$n.list"
	for _ in $(seq "$RUNS_FLEET"); do
		rm -rf "$work/wf"
		measure "writefiles_$n" "$WF" -list "$work/f$n.list" -o "$work/wf"
	done
	rm -rf "$work/f$n" "$work/wf"
done
for _ in $(seq "$RUNS_FLEET"); do
	measure cue_export_100 "$CUE" export "$gen"/cue-100/*.cue -e hosts --out json
done

n=1000
say "bench: fleet of $n hosts ($RUNS_BIG runs)"
for _ in $(seq "$RUNS_BIG"); do
	rm -rf "$work/f$n"
	measure "fleet_render_$n" "$IR" -q -c "$gen/fleet-$n.cue" -o "$work/f$n"
	measure "fleet_rerender_$n" "$IR" -q -c "$gen/fleet-$n.cue" -o "$work/f$n"
	measure "fleet_check_$n" "$IR" -q -c "$gen/fleet-$n.cue" -o "$work/f$n" --check
	measure "fleet_vet_$n" "$IR" vet -q -c "$gen/fleet-$n.cue"
	GOGC=100 measure "fleet_vet_gogc100_$n" "$IR" vet -q -c "$gen/fleet-$n.cue"
done
list "$work/f$n" "$work/f$n.list"
for _ in $(seq "$RUNS_BIG"); do
	rm -rf "$work/wf"
	measure "writefiles_$n" "$WF" -list "$work/f$n.list" -o "$work/wf"
	rm -rf "$work/wf"
	measure "writefiles_sync_$n" "$WF" -list "$work/f$n.list" -o "$work/wf" -sync file
	measure cue_export_1000 "$CUE" export "$gen"/cue-1000/*.cue -e hosts --out json
done
rm -rf "$work/wf"
# Where the disk is not the limit: the same renders, and the bare writer,
# into memory. The disk of a shared machine makes ratios of wall times
# (linearity, against Ansible) measure the neighbours as much as us.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	say "bench: the same into tmpfs"
	shm=$(mktemp -d -p /dev/shm immich-render-bench.XXXXXX)
	trap 'rm -rf "$work" "$shm"' EXIT
	for m in 200 500 1000; do
		runs=$RUNS_FLEET
		[ "$m" = 1000 ] && runs=$RUNS_BIG
		for _ in $(seq "$runs"); do
			rm -rf "$shm/f"
			measure "fleet_render_tmpfs_$m" "$IR" -q -c "$gen/fleet-$m.cue" -o "$shm/f"
		done
	done
	for _ in $(seq "$RUNS_BIG"); do
		rm -rf "$shm/wf"
		measure "writefiles_tmpfs_$n" "$WF" -list "$work/f$n.list" -o "$shm/wf"
	done
	rm -rf "$shm"
fi
rm -rf "$work/f$n"

for h in $ANSIBLE_HOSTS; do
	say "bench: Ansible, $h hosts, 2 forks ($ANSIBLE_RUNS runs)"
	for _ in $(seq "$ANSIBLE_RUNS"); do
		rm -rf "$work/ans"
		measure "ansible_$h" ansible-playbook -f 2 -i "$gen/inventory-$h.yml" bench/ansible/render.yml -e "out_dir=$work/ans"
	done
	# The same files as immich-render's per host (the index aside).
	want=$(($(wc -l <"$work/single.list") - 1))
	got=$(find "$work/ans/nas0000" -type f | wc -l)
	[ "$got" = "$want" ] || say "bench: warning: Ansible wrote $got files per host, immich-render $want"
done
rm -rf "$work/ans"

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
	echo "python=$(python3 --version)"
	echo "load_before=${uptime_before##*load average: }"
	echo "load_after=${uptime_after##*load average: }"
	echo "date=$(date -u +%Y-%m-%d)"
	echo "runs=$RUNS/$RUNS_FLEET/$RUNS_BIG/$ANSIBLE_RUNS"
	echo "ansible_hosts=$ANSIBLE_HOSTS"
} >"$work/machine.txt"

go run ./bench/report -results "$res" -machine "$work/machine.txt" -o "$OUT"
cp "$res" "$work/machine.txt" bench/ 2>/dev/null || true
say "bench: wrote $OUT"
