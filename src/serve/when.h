/*
 * when.h: times as the API writes them (ISO 8601 UTC with milliseconds,
 * "2026-11-24T10:15:30.123Z") and as the store keeps them (milliseconds
 * since 1970 UTC).
 */
#ifndef ANPR_WHEN_H
#define ANPR_WHEN_H

#include <stdint.h>

#define WHEN_DAY_MS (24LL * 3600 * 1000)

/* The wall clock now, in milliseconds since 1970 UTC. */
int64_t when_now_ms(void);

/*
 * Parses "YYYY-MM-DDTHH:MM:SS[.fff]" followed by "Z" or "+00:00", or a
 * plain integer of milliseconds since 1970. Returns 0 on success, -1 for
 * anything else (other offsets, impossible dates, trailing bytes).
 */
int when_parse(const char *s, int64_t *ms);

/* Writes ms as "YYYY-MM-DDTHH:MM:SS.fffZ" into out (at least 25 bytes). */
void when_format(int64_t ms, char out[32]);

#endif
