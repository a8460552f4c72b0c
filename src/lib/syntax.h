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
 *
 * Formats, by the name they report (country in brackets):
 *   gb-current  (gb)  AB12CDE: area letters (the first never I, Q or Z, the
 *                     second never I or Q), a two-digit age identifier,
 *                     three letters other than I and Q.
 *   gb-prefix   (gb)  A123BCD: year letter (never I, O, Q, U, Z), 1 to 3
 *                     digits, three letters other than I and Q.
 *   gb-suffix   (gb)  ABC123D: three letters other than I and Q, 1 to 3
 *                     digits, year letter as for prefix.
 *   gb-ni       (gb)  ABZ1234: three letters, the second or third I or Z,
 *                     then 1 to 4 digits (Northern Ireland).
 *   gb-dateless (gb)  AB1234, 1234AB: 1 to 3 letters and 1 to 4 digits,
 *                     either order.
 *   br-mercosur (br)  ABC1D23.
 *   br-old      (br)  ABC1234.
 *   eu          (eu)  any 4 to 10 letters and digits.
 *   us          (us)  any 2 to 8 letters and digits.
 *                     In these two a letter O costs 0.3 nats (rare on such
 *                     plates, and the likeliest misreading of 0).
 *   other       ("")  anything else.
 * A text that fits several takes the one with the highest prior (below),
 * so the permissive eu and us label only what no strict format explains.
 *
 * Scoring. A candidate text t made from reading r scores
 *     net(t)   = r.logp + sum over rewritten positions i of
 *                log(p_i(new) / p_i(read))
 *     score(t) = net(t) + prior(format of t)
 * where p_i is the reading's distribution at i. A strict format's prior is
 * a bonus (gb-current 3.0 nats, gb-prefix and gb-suffix 2.5, br-mercosur,
 * br-old and gb-ni 2.0, gb-dateless 1.0; gb-current 0.5 less when the
 * age identifier is outside 02-29 and 51-79, those issued since 2001 and
 * a few years to come), eu 0, us -0.1 (on UK roads a European
 * vehicle is likelier than an American one), "other" 0. So a format wins
 * only where the network itself gives the rewrite a fair chance: with the
 * 3.0 bonus, a rewritten symbol needs about a twentieth of the probability
 * of the one read. A rewritten position takes the most probable symbol the
 * format allows there, where a lookalike of the symbol read (0 O D Q,
 * 1 I L, 2 Z, 5 S, 8 B, 6 G, 4 A, 7 T) counts as at least
 * SYNTAX_LOOKALIKE_P (SYNTAX_ZERO_O_P between 0 and O) and wins ties,
 * earlier in that list first: so the module also works from a one-hot
 * distribution, or none at all. A symbol below SYNTAX_MIN_P is never
 * written.
 */
#ifndef ANPR_SYNTAX_H
#define ANPR_SYNTAX_H

#include "anpr.h"

#define SYNTAX_NSYM 36 /* "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" */

/* Probability given to a lookalike the network itself thinks impossible.
 * Raised to 0.05, GB synth read 99.05% instead of 98.95% but the European
 * crops 85.1% instead of 88.5% and the European scenes 83.3% instead of
 * 89.1%: their zeros were bent into GB letters (2026-12-05). */
#define SYNTAX_LOOKALIKE_P 0.01
/* The same between 0 and O alone, and high enough that, with gb-current's
 * 3.0 nats, one 0 where that format needs a letter (its age identifier
 * plausible) becomes an O however sure the network is of the 0 (log 0.05
 * = -2.996). In the UK typeface the two differ by a hair, and the network,
 * taught on plates where 0 is far the commoner, gives O next to nothing
 * wherever it reads 0; a text like E059CLU is a GB mark misread far more
 * often than a plate of another format. Two such zeros, or a weaker
 * format, still need the network's own odds. Chosen on the synthetic GB
 * validation set (seed 4242: 98.70% -> 98.85%) and the European training
 * crops (98.50% -> 98.38%); 0.06 and 0.07 measure the same, 0.1 lost more
 * European plates (97.69%). */
#define SYNTAX_ZERO_O_P 0.05
/* A rewrite to a symbol less probable than this is no rewrite at all. */
#define SYNTAX_MIN_P 0.005

/*
 * One reading of the network. text[0..len) holds the symbols (lower case
 * letters are taken as upper case); it need not be NUL-terminated. logp is
 * clamped to at most 0. A position whose prob row is all zero is taken as
 * certain of the symbol read (one-hot). Negative or NaN entries count as 0.
 */
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
 * format; a value outside the enum tries none). Writes up to max_out
 * distinct answers, best first, and returns how many. Answers that fit a
 * format come first, by score; a reading that fits none is still returned,
 * as "other", behind them. A reading with len outside 1..ANPR_MAX_TEXT-1,
 * a symbol outside the alphabet, or a NaN logp is ignored.
 *
 * Confidence: with net and score as above, over the K distinct candidate
 * texts considered (every reading as read and as rewritten into each
 * format, up to an internal cap of the best),
 *     mass         = min(1, sum_k exp(net_k))
 *     confidence_k = mass * exp(score_k) / sum_j exp(score_j)
 * i.e. the softmax of the scores, scaled by how much of the network's
 * probability the candidates cover. A lone reading with probability p and
 * no rewrites gets confidence p. char_confidence[i] is the probability of
 * the symbol chosen at i (the lookalike probability where that decided).
 */
int syntax_rank(const plate_reading *r, int n, anpr_country country,
                syntax_result *out, int max_out);

/*
 * Names the format a finished text follows ("gb-current", ...) and its
 * country under `country`, or "other" and "" when none fits (also for
 * NULL, empty, over-long or non-alphanumeric text; spaces are not
 * skipped). Letters may be either case. Either output may be NULL. For
 * validating stored VRMs.
 */
void syntax_classify(const char *text, anpr_country country,
                     char country_out[4], char format_out[24]);

/*
 * OCR equivalence, as back offices match misreads: nonzero if a and b have
 * the same length and differ, ignoring case, only by at most max_subst
 * substitutions within the lookalike classes 0 O D Q, 1 I L, 2 Z, 5 S,
 * 8 B, 6 G. NULL or a negative max_subst gives 0.
 */
int syntax_equivalent(const char *a, const char *b, int max_subst);

/*
 * Writes in's canonical form to out (room for strlen(in) + 1; out may be
 * in): upper case, each lookalike replaced by its class's digit (O D Q ->
 * 0, I L -> 1, Z -> 2, S -> 5, B -> 8, G -> 6), other bytes as they are.
 * Two texts are equivalent with any number of substitutions exactly when
 * their canonical forms are equal, so the form serves as a fuzzy index key.
 */
void syntax_canonical(const char *in, char *out);

#endif
