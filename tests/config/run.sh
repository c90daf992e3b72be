#!/usr/bin/env bash
# Config golden files, after bgpd's regress/: each NAME.conf here is loaded by
# $B/tests/config_check (what `tcpprobe daemon -n` prints), and its stdout,
# stderr and exit code must equal NAME.out exactly. Also etc/tcpprobe.conf
# (sample.out), a missing file and a directory.
#
# A probe key at its built-in default is left out of every .out but
# empty.out (whose [defaults] lists them all, the built-in defaults), so that
# a new probe key changes empty.out and the goldens that set it, not every
# one: in [defaults], [target NAME] and [discovery NAME] a line that equals
# empty.out's is dropped from the output before the comparison. That every
# such section still prints every probe key, in the table's order, is
# checked on the whole output: a section that does not gets a line
# "!! [SECTION] prints probe keys ..." that no .out holds.
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
# The built-in probe defaults: "key = value" lines, in table order.
defaults=$(cd "$here" && "$bin" empty.conf 2>/dev/null | sed -n '/^\[defaults\]$/,/^$/p' | sed '1d;/^$/d')
if [ -z "$defaults" ]; then
	echo "FAIL config-golden: $bin empty.conf prints no [defaults]"
	exit 1
fi
# stdin: config_check's output; drops the probe-key lines at their default,
# and flags a probe section that does not print every key in order.
drop_defaults() {
	awk -v defaults="$defaults" '
	BEGIN {
		n = split(defaults, d, "\n")
		for (i = 1; i <= n; i++) {
			isdef[d[i]] = 1
			k = d[i]; sub(/ = .*/, "", k)
			iskey[k] = 1; want = want " " k
		}
	}
	function done() {
		if (probe && seen != want)
			print "!! " sect " prints probe keys" seen ", not" want
	}
	/^\[/ { done(); sect = $0; seen = ""
		probe = $0 == "[defaults]" || $0 ~ /^\[(target|discovery) /; print; next }
	probe { k = $0; sub(/ = .*/, "", k); if (k in iskey) seen = seen " " k
		if ($0 in isdef) next }
	{ print }
	END { done() }'
}
# name file: run config_check on file from inside tests/config, so that
# error messages carry the short relative name.
check() {
	local name=$1 file=$2 out rc
	out=$(cd "$here" && "$bin" "$file" 2>&1; echo "exit $?")
	[ "$name" = empty ] || out=$(printf '%s\n' "$out" | drop_defaults)
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
