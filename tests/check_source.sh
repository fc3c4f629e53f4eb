#!/usr/bin/env bash
# check_source.sh - checks the house rules of ../shared/STYLE.md that a
# formatter cannot express, over the tracked-or-new source files:
#   every .c/.h opens with a comment block saying what the module is;
#   no tabs, no trailing whitespace, a final newline (C, shell, CMake);
#   no file over 2000 lines;
#   lib/ and src/core never print, exit or abort (printf, fprintf, puts,
#   perror, abort, exit, ...) outside comments and strings, unless the line
#   says "checksrc: allow" in a comment (say why there);
#   lib/ depends on libc and pthreads only (no zstd.h, lz4.h, cmocka.h).
# Prints FILE:LINE: problem for each violation; exits 1 if there is any.
# Usage: tests/check_source.sh [FILE...]
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
exec python3 - "$@" <<'PY'
import os
import re
import sys

MAX_LINES = 2000
DIRS = ["include", "lib", "src", "tests", "bench", "examples", "scripts", "cmake", ".ci"]
TOP = ["CMakeLists.txt"]
NO_EXIT_DIRS = ("lib/", "src/core/")
BANNED_CALL = re.compile(
    r"(?<![\w.>])(printf|fprintf|vprintf|vfprintf|dprintf|puts|fputs|putchar|perror|"
    r"abort|exit|_exit|_Exit|quick_exit|errx|warnx|verrx)\s*\(")
LIB_INCLUDE = re.compile(r'#\s*include\s*[<"](zstd\.h|lz4\.h|lz4frame\.h|cmocka\.h|core/compress\.h)[>"]')
ALLOW = "checksrc: allow"


def wanted(path):
    base = os.path.basename(path)
    return (path.endswith((".c", ".h", ".sh", ".cmake", ".py")) or base == "CMakeLists.txt"
            or path == ".ci/run")


def collect(args):
    if args:
        return sorted(a for a in args if os.path.isfile(a))
    out = [t for t in TOP if os.path.isfile(t)]
    for d in DIRS:
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames[:] = [x for x in dirnames if not (dirpath == "tests/fuzz" and x in ("corpus", "artifacts"))]
            for f in filenames:
                p = os.path.join(dirpath, f)
                if wanted(p):
                    out.append(p)
    return sorted(out)


def strip_c(text):
    """Blank out comments, string and character literals, keeping newlines
    and columns, so only code is searched."""
    out = []
    i, n = 0, len(text)
    state = None
    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if state is None:
            if ch == "/" and nxt == "*":
                state = "block"
                out.append("  ")
                i += 2
                continue
            if ch == "/" and nxt == "/":
                state = "line"
                out.append("  ")
                i += 2
                continue
            if ch in "\"'":
                state = ch
                out.append(ch)
                i += 1
                continue
            out.append(ch)
        elif state == "block":
            if ch == "*" and nxt == "/":
                state = None
                out.append("  ")
                i += 2
                continue
            out.append("\n" if ch == "\n" else " ")
        elif state == "line":
            if ch == "\n":
                state = None
                out.append("\n")
            else:
                out.append(" ")
        else:  # inside a string or character literal
            if ch == "\\" and nxt:
                out.append("  " if nxt != "\n" else " \n")
                i += 2
                continue
            if ch == state or ch == "\n":
                state = None
                out.append(ch)
            else:
                out.append(" ")
        i += 1
    return "".join(out)


problems = []


def report(path, line, msg):
    problems.append(f"{path}:{line}: {msg}")


def check(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        report(path, 0, "not valid UTF-8")
        return
    lines = text.split("\n")
    if text and not text.endswith("\n"):
        report(path, len(lines), "no newline at end of file")
    nlines = text.count("\n")
    if nlines > MAX_LINES:
        report(path, nlines, f"{nlines} lines; split the module (limit {MAX_LINES})")
    for no, line in enumerate(lines, 1):
        if "\t" in line:
            report(path, no, "tab character")
        if line != line.rstrip():
            report(path, no, "trailing whitespace")
    is_c = path.endswith((".c", ".h"))
    if not is_c:
        return
    if not text.lstrip("\n").startswith("/*"):
        report(path, 1, "file does not open with a /* comment */ saying what the module is")
    if path.startswith(NO_EXIT_DIRS):
        code = strip_c(text).split("\n")
        for no, (raw, line) in enumerate(zip(lines, code), 1):
            m = BANNED_CALL.search(line)
            if m and ALLOW not in raw:
                report(path, no, f"{m.group(1)}() in library/core code (the library never "
                       f"prints, exits or aborts; mark a deliberate use with '{ALLOW}')")
    if path.startswith("lib/"):
        for no, line in enumerate(lines, 1):
            m = LIB_INCLUDE.search(line)
            if m:
                report(path, no, f"lib/ includes {m.group(1)}: libtelltale depends on libc "
                       "and pthreads only")


files = collect(sys.argv[1:])
for p in files:
    check(p)
for p in problems:
    print(p)
if problems:
    print(f"check_source: {len(problems)} problems in {len(files)} files")
    sys.exit(1)
print(f"check_source: {len(files)} files ok")
PY
