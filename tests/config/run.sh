#!/usr/bin/env bash
# Config golden files, after bgpd's regress/: each NAME.conf here is loaded by
# $B/tests/config_check (what `tcpprobe daemon -n` prints), and its stdout,
# stderr and exit code must equal NAME.out exactly. Also etc/tcpprobe.conf
# (sample.out), a missing file and a directory.
#
#   tests/config/run.sh            check; prints PASS config-NAME / FAIL config-NAME
#   tests/config/run.sh --update   rewrite every .out from the current output
#                                  (review the diff before committing it)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$root/$B ;; esac
bin=$B/tests/config_check
update=0
[ "${1:-}" = --update ] && update=1

if [ ! -x "$bin" ]; then
	echo "FAIL config-golden: $bin not built (make $B/tests/config_check)"
	exit 1
fi

pass=0 fail=0
# name file: run config_check on file from inside tests/config, so that
# error messages carry the short relative name.
check() {
	local name=$1 file=$2 out rc
	out=$(cd "$here" && "$bin" "$file" 2>&1; echo "exit $?")
	if [ "$update" = 1 ]; then
		printf '%s\n' "$out" >"$here/$name.out"
		echo "updated $name.out"
		return
	fi
	if [ ! -f "$here/$name.out" ]; then
		echo "FAIL config-$name: no $name.out (run tests/config/run.sh --update and review)"
		fail=$((fail + 1))
		return
	fi
	if diff=$(printf '%s\n' "$out" | diff -u --label "$name.out" --label "got" "$here/$name.out" -); then
		echo "PASS config-$name"
		pass=$((pass + 1))
	else
		echo "FAIL config-$name: output differs from $name.out"
		printf '%s\n' "$diff" | sed 's/^/    /'
		fail=$((fail + 1))
	fi
}

for f in "$here"/*.conf; do
	n=$(basename "$f" .conf)
	check "$n" "$n.conf"
done
check sample ../../etc/tcpprobe.conf
check missing-file does-not-exist.conf
check directory .

# Every .out must belong to a case (a renamed .conf leaves an orphan).
for o in "$here"/*.out; do
	n=$(basename "$o" .out)
	case $n in sample | missing-file | directory) continue ;; esac
	if [ ! -f "$here/$n.conf" ]; then
		echo "FAIL config-$n: $n.out has no $n.conf"
		fail=$((fail + 1))
	fi
done

[ "$update" = 1 ] && exit 0
echo "config goldens: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
