/*
 * fileparse.h - the parse checks of the agent's file sanity collector
 * (file_check.c): is this buffer valid JSON (jansson), YAML (libyaml), INI
 * or key=value text, and where are the invisible characters in it.
 *
 * Every checker reads a buffer (not NUL-terminated, may hold NUL bytes) and
 * never allocates what it returns; a problem is described by a line and a
 * column (1-based; the column counts UTF-8 characters, not bytes) and a
 * one-line message. Nothing here touches files.
 */
#ifndef TT_AGENT_FILEPARSE_H
#define TT_AGENT_FILEPARSE_H

#include <stddef.h>
#include <stdint.h>

enum fileparse_type {
    FILEPARSE_AUTO = 0, /* by the file name's extension (fileparse_type_for_path) */
    FILEPARSE_TEXT,     /* no syntax: only the digest and the invisible characters */
    FILEPARSE_JSON,
    FILEPARSE_YAML,
    FILEPARSE_INI,
    FILEPARSE_KV,
};

/* The first problem a parser found. */
struct fileparse_error {
    uint32_t line, col; /* 1-based; 0 when the parser gave no position */
    char msg[256];
};

/* fileparse_type_name: "auto", "text", "json", "yaml", "ini", "kv". */
const char *fileparse_type_name(enum fileparse_type t);

/* fileparse_type_parse reads a type name into *out. Returns 0 or -1 (unknown). */
int fileparse_type_parse(const char *s, enum fileparse_type *out);

/* fileparse_type_for_path: the type of a file by its extension: .json;
 * .yaml/.yml; .ini/.cfg; .env/.properties/.conf (key=value); otherwise text. */
enum fileparse_type fileparse_type_for_path(const char *path);

/* fileparse_check parses p[0..n) as type t (not AUTO). Returns 1 when it is
 * valid, 0 when it is not (e filled), -1 on memory exhaustion (e filled). */
int fileparse_check(enum fileparse_type t, const uint8_t *p, size_t n, struct fileparse_error *e);

/* The INI and key=value checkers on their own (fileparse_check calls them).
 * INI: blank lines, comments (';' or '#' first on the line), "[section]"
 * (non-empty name, nothing after the ']' but a comment), "key = value" or
 * "key: value" (non-empty key), indented lines continuing a value; a key
 * twice in one section is an error. key=value: blank lines, '#' comments,
 * "[export ]KEY=VALUE" with KEY of letters, digits, '_', '.', '-'; a value
 * opened with a quote must close it on the line, with only a comment after. */
int fileparse_ini(const uint8_t *p, size_t n, struct fileparse_error *e);
int fileparse_kv(const uint8_t *p, size_t n, struct fileparse_error *e);

/* One invisible or control character. */
struct fileparse_finding {
    uint32_t line, col;
    uint32_t cp;      /* the code point (the byte for invalid UTF-8) */
    const char *what; /* static: "NUL", "control character", "byte order mark", ... */
};

/* fileparse_scan_controls finds the characters a person cannot see in an
 * editor: NUL, C0 controls other than tab, LF and CR, DEL, C1 controls, a
 * byte order mark anywhere but at the start, zero-width characters (U+200B..
 * U+200F, U+2060, U+FEFF), bidirectional overrides and isolates (U+202A..
 * U+202E, U+2066..U+2069) and bytes that are not valid UTF-8. The first max
 * findings go to out (may be NULL when max is 0); returns how many there are
 * in all. */
size_t fileparse_scan_controls(const uint8_t *p, size_t n, struct fileparse_finding *out,
                               size_t max);

#endif
