/*
 * valid.h: the rules client input must meet before it reaches the store,
 * and the VRM helpers matching shares (lookalike key, substitutions,
 * patterns). Each check returns 1 when the value is acceptable.
 */
#ifndef ANPR_VALID_H
#define ANPR_VALID_H

#include <stddef.h>

#define VALID_VRM_MAX 10      /* characters in a VRM */
#define VALID_PATTERN_MAX 15  /* characters in a pattern */

/* 1..10 characters of A-Z and 0-9. */
int valid_vrm(const char *s);

/* 1..15 characters of A-Z, 0-9, '*' and '?', with at least one wildcard. */
int valid_pattern(const char *s);

/* A read or camera ID: 1..64 of A-Z a-z 0-9 . _ : - (safe in URLs). */
int valid_id(const char *s);

/* A hotlist or token name: 1..64 of A-Z a-z 0-9 . _ - */
int valid_name(const char *s);

/* Free text: printable, no control characters (UTF-8 allowed), at most
 * max bytes. */
int valid_text(const char *s, size_t max);

/* The lookalike key of a VRM or pattern (see syntax_canonical): reads
 * that differ only by OCR lookalikes share it. out has room for 16. */
void valid_key(const char *vrm, char out[16]);

/* How many positions differ between two VRMs of one key (same length). */
int valid_substitutions(const char *a, const char *b);

/* Whether vrm matches pattern ('*' any run, '?' one character). */
int valid_glob(const char *pattern, const char *vrm);

#endif
