/*
 * syntax.h: number plate formats by country, and choosing the reading that
 * fits one.
 *
 * The recogniser hands over several readings, each with the probability of
 * every symbol at every character. A format (GB current "LLDDLLL", Brazil
 * Mercosur "LLLDLDD", ...) says which positions hold letters and which
 * digits, so a 0 read where a letter must stand becomes the likeliest
 * letter there by the network's own probabilities (O, D or Q), at the cost
 * of that probability. The best-scoring distinct texts come back.
 */
#ifndef ANPR_SYNTAX_H
#define ANPR_SYNTAX_H

#include "anpr.h"

#define SYNTAX_NSYM 36 /* "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" */

/* One reading of the network. */
typedef struct plate_reading {
    int len;
    char text[ANPR_MAX_TEXT];
    float logp;                              /* of the whole sequence */
    float prob[ANPR_MAX_TEXT][SYNTAX_NSYM];  /* per character, sums to <= 1 */
} plate_reading;

/* One ranked answer. */
typedef struct syntax_result {
    char text[ANPR_MAX_TEXT];
    float confidence;                        /* 0..1 */
    float char_confidence[ANPR_MAX_TEXT];
    char country[4];                         /* "" when no format fits */
    char format[24];                         /* "other" when none fits */
} syntax_result;

/*
 * Ranks readings r[0..n) under `country` (ANPR_COUNTRY_AUTO tries every
 * format). Writes up to max_out distinct answers, best first, and returns
 * how many. A reading that fits no format is still returned, as "other",
 * behind any that fit.
 */
int syntax_rank(const plate_reading *r, int n, anpr_country country,
                syntax_result *out, int max_out);

/*
 * Names the format a finished text follows ("gb-current", ...) and its
 * country, or "other" and "" when none fits. For validating stored VRMs.
 */
void syntax_classify(const char *text, anpr_country country,
                     char country_out[4], char format_out[24]);

#endif
