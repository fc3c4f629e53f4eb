#!/usr/bin/env bash
# rql_file.sh SRC_DIR BUILD_DIR - `telltale rql --file` end to end on a
# hand-made file of state changes of three nodes:
#  1. the version clash (two nodes whose r1 versions differ by more than one)
#     is found in exactly the cut where it holds, with both bindings;
#  2. LINK EACH_NODE with LIMIT 1 prints the first cut where all agree;
#  3. a compaction count (count() over nodes) finds the moment two compact;
#  4. a syntax error names line:col and exits 1; a change out of HLC order
#     is refused with its line; an unknown variable is named.
set -euo pipefail
BUILD=$2
TT="$BUILD/telltale"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() {
  echo "rql_file: $*" >&2
  exit 1
}

cat >"$W/c.jsonl" <<'J'
{"hlc": 65536000, "node": "n1", "log": "kv", "var": "r1", "value": "tst1"}
{"hlc": 65536000, "node": "n2", "log": "kv", "var": "r1", "value": "tst1"}
{"hlc": 65536001, "node": "n3", "log": "kv", "var": "r1", "value": "tst2"}
{"hlc": 65536002, "node": "n1", "log": "db", "var": "compacting", "value": true}
{"hlc": 65536003, "node": "n2", "log": "db", "var": "compacting", "value": false}
{"hlc": 131072000, "node": "n1", "log": "kv", "var": "r1", "value": "tst3"}
{"hlc": 131072000, "node": "n3", "log": "kv", "var": "r1", "value": "tst3"}
{"hlc": 131072005, "node": "n2", "log": "db", "var": "compacting", "value": true}
{"hlc": 196608000, "node": "n2", "log": "kv", "var": "r1", "value": "tst3"}
{"hlc": 196608001, "node": "n1", "log": "db", "var": "compacting", "value": false}
J

out=$("$TT" rql --file "$W/c.jsonl" \
  'SELECT NODE($1), NODE($2) FROM kv WHEN Int(StrReplace(r1, "tst", "")) - Int(StrReplace(r1, "tst", "")) > 1')
[ "$(printf '%s\n' "$out" | wc -l)" = 2 ] || fail "version clash: expected 2 cuts, got: $out"
sed -n 1p <<<"$out" | grep -q '"hlc":131072000,.*"values":\["n1","n2"\].*"values":\["n3","n2"\]' ||
  fail "version clash: wrong first cut: $out"
sed -n '$p' <<<"$out" | grep -q '"hlc":131072005,' || fail "version clash: wrong second cut: $out"

out=$("$TT" rql --file "$W/c.jsonl" 'SELECT r1 FROM kv WHEN r1 = "tst3" LINK EACH_NODE LIMIT 1')
grep -q '^{"hlc":196608000,"hlc_ms":3000,' <<<"$out" || fail "EACH_NODE: $out"
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "LIMIT 1: $out"

out=$("$TT" rql --file "$W/c.jsonl" \
  'SELECT count(db.compacting = TRUE) FROM db WHEN count(db.compacting = TRUE) >= 2')
grep -q '^{"hlc":131072005,.*"values":\[2\]' <<<"$out" || fail "count: $out"
[ "$(printf '%s\n' "$out" | wc -l)" = 2 ] || fail "count: expected 2 cuts: $out"

if "$TT" rql --file "$W/c.jsonl" 'SELECT r1 FROM kv WHEN r1 = = 2' 2>"$W/err"; then
  fail "a syntax error exited 0"
fi
grep -q "1:29: unexpected '=', expected an expression" "$W/err" || fail "syntax error: $(cat "$W/err")"

printf '{"hlc":5,"node":"a","log":"kv","var":"r1","value":1}\n{"hlc":3,"node":"a","log":"kv","var":"r1","value":2}\n' >"$W/bad.jsonl"
if "$TT" rql --file "$W/bad.jsonl" 'SELECT r1 FROM kv' 2>"$W/err"; then
  fail "out of order input exited 0"
fi
grep -q "bad.jsonl:2: hlc 3 is before the previous line's 5" "$W/err" || fail "order: $(cat "$W/err")"

if "$TT" rql --file "$W/c.jsonl" 'SELECT r9 FROM kv' 2>"$W/err"; then
  fail "unknown variable exited 0"
fi
grep -q "unknown variable kv.r9" "$W/err" || fail "unknown variable: $(cat "$W/err")"
echo "rql_file: ok"
