#!/usr/bin/python3
"""Integration scripts that go around tests/lab/daemon_lib.sh.

Usage: testlib_check.py SCRIPT...
Prints "FILE:LINE: what" for each place and exits 1 if there is any.

What goes around the library:
 - a pass/fail/skip of its own (a function of that name), or a result line
   printed directly (echo/printf "PASS ..."): tests/run.sh counts those
   lines, and the library counts the failures for the script's exit status;
 - a failure or pass counter of its own: DL_FAILS written (dl_failed counts a
   FAIL line a tool printed), or a variable named *pass*/*fail* incremented;
 - `tcpprobe daemon` started other than by dl_start, dl_spawn or dl_run:
   through lab_tcpprobe(_bg) or a binary in a variable ("$BIN" daemon ...).
   `daemon -n` (a config check) and `daemon -h` start nothing and are fine;
 - a wait_until whose condition holds a $(...) or `...` outside single
   quotes: the shell expands it once, before the wait, so the wait polls a
   constant (wrap the condition in a function, or eval '...').
Comments are passed over, and so are strings that only name a daemon
(grep 'ExecStart=/usr/sbin/tcpprobe daemon ...'): only the command word
before `daemon` makes a start.
"""
import re
import sys

RULES = [
    (re.compile(r'(^|[\s;{(&|])(function\s+)?(pass|fail|skip)\s*\(\)'),
     "defines its own pass/fail/skip (daemon_lib.sh's count)"),
    (re.compile(r'\b(echo|printf)\s+(-\w+\s+)*["\']?(PASS|FAIL|SKIP)[ :]'),
     "prints a result line itself (use pass/fail/skip)"),
    (re.compile(r'(^|[^\w])DL_FAILS='),
     "writes DL_FAILS (use fail, or dl_failed after a tool's FAIL line)"),
    (re.compile(r'(^|[^\w$])(?P<v>\w*(pass|fail)\w*)=\$\(\(\s*\$?\{?(?P=v)\}?\s*\+', re.I),
     "counts passes or failures itself (use pass/fail)"),
    (re.compile(r'(\(\(|\blet\s+)\s*\w*(pass|fail)\w*\s*(\+\+|\+=)', re.I),
     "counts passes or failures itself (use pass/fail)"),
]
# Read where strings are blanked but for a lone "$VAR": a message naming
# "$BIN daemon" is no start.
STARTS = re.compile(r'(\blab_tcpprobe(_bg)?|"?\$\{?\w+\}?"?)\s+daemon(?!\s+(-n|-h|--help)\b)(\s|$)')
STARTS_WHAT = "starts tcpprobe daemon itself (use dl_start, dl_spawn or dl_run)"
LONE_VAR = re.compile(r'^\$\{?\w+\}?$')
SINGLE_QUOTED = re.compile(r"'[^']*'")
WAIT_EXPANDS = re.compile(r'\bwait_until\b[^|;&]*(\$\((?!\()|`)')
WAIT_WHAT = "wait_until's condition holds a $(...) expanded once, before the wait (use a function)"


def code(line):
    """The line without a comment (a # after white space, outside quotes),
    and the same with every quoted string emptied but for a lone "$VAR"."""
    out, bare, quote, inside = [], [], None, []
    for i, c in enumerate(line):
        if quote:
            out.append(c)
            if c == quote:
                quote = None
                text = ''.join(inside)
                bare.append((text if LONE_VAR.match(text) else '') + c)
            else:
                inside.append(c)
            continue
        if c in '"\'':
            quote, inside = c, []
        elif c == '#' and (i == 0 or line[i - 1] in ' \t'):
            break
        out.append(c)
        bare.append(c)
    return ''.join(out), ''.join(bare)


def check(path):
    found = []
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            text, bare = code(line.rstrip('\n'))
            for rx, what in RULES:
                if rx.search(text):
                    found.append('%s:%d: %s' % (path, n, what))
            if STARTS.search(bare):
                found.append('%s:%d: %s' % (path, n, STARTS_WHAT))
            if WAIT_EXPANDS.search(SINGLE_QUOTED.sub("''", text)):
                found.append('%s:%d: %s' % (path, n, WAIT_WHAT))
    return found


def main():
    found = [x for p in sys.argv[1:] for x in check(p)]
    print('\n'.join(found) if found else '', end='\n' if found else '')
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
