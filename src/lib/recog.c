/*
 * recog.c: rectify a plate, run the recogniser, decode its CTC output.
 *
 * The decoder is a prefix beam search (Graves 2006, as in every CTC
 * reader): it sums the probability of all alignments of a text, which
 * greedy best-path decoding does not, and yields the N best texts the plate
 * syntax needs to choose among. Each surviving text is then force-aligned
 * (Viterbi over the CTC lattice) to find the column where each character
 * was seen; the network's scores there give the syntax its alternatives
 * (an O where a digit must stand: how likely was 0?).
 */
#include "recog.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "syntax.h"

#define MAX_T 64          /* network output columns */
#define SUPER_LEN (32 * 128 * IMAGE_MAX_SUPER * IMAGE_MAX_SUPER) /* supersampling scratch */
#define MAX_C 64          /* network classes, blank included */
#define MAX_L (ANPR_MAX_TEXT - 1)
#define BEAM 16
#define N_READINGS 12     /* readings handed to the syntax */
#define HASH_SLOTS 2048   /* > BEAM * MAX_C, a power of two */
#define PRUNE 1e-3        /* symbols below this at a column start no prefix */
/*
 * A quad squarer than the network's two_line_aspect is read as two lines.
 * One up to TWO_LINE_DOUBT times that wide may be either a two-line plate
 * cut close above and below (a GB motorcycle plate, 9 x 7 inches, with a
 * seventh of its height off each way is 1.8 times as wide as tall) or a
 * short one-line plate; unless its reading as the one is at least
 * TWO_LINE_SURE, it is read as the other too and the surer reading kept.
 */
#define TWO_LINE_DOUBT 1.2f
#define TWO_LINE_SURE 0.8f

static const char SYMBOLS[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

typedef struct beam {
    double pb, pnb;               /* ending in blank / in its last symbol */
    uint64_t hash;
    int len;
    uint8_t s[MAX_L];             /* class indices, 1-based */
} beam;

struct recog_work {
    nn_work *nn;
    float input[32 * 128 * 4];    /* the network input; sized for up to 4x the default */
    float super[SUPER_LEN];
    double prob[MAX_T][MAX_C];    /* softmax of the output, [t][class] */
    double logprob[MAX_T][MAX_C]; /* log(prob + 1e-30), once for every alignment */
    beam a[BEAM * MAX_C], b[BEAM * MAX_C];
    int slot[HASH_SLOTS];
    plate_reading readings[N_READINGS];
    syntax_result results[ANPR_MAX_CANDIDATES];
    double vit[MAX_T][2 * MAX_L + 1];
    uint8_t back[MAX_T][2 * MAX_L + 1];
};

int recog_check(const nn_net *net, char *err, size_t errlen)
{
    int c, h, w;
    const char *alpha = nn_meta(net, "alphabet");
    nn_input_shape(net, &c, &h, &w);
    if (nn_kind(net) != NN_KIND_RECOGNISER) {
        snprintf(err, errlen, "the model is not a recogniser");
        return -1;
    }
    if (!alpha || strlen(alpha) + 1 > MAX_C) {
        snprintf(err, errlen, "the recogniser's alphabet is missing or too long");
        return -1;
    }
    for (const char *p = alpha; *p; p++)
        if (!strchr(SYMBOLS, *p)) {
            snprintf(err, errlen, "the recogniser's alphabet has '%c', not a plate symbol", *p);
            return -1;
        }
    if (c != 1 || h * w > (int)(sizeof ((recog_work *)0)->input / sizeof(float)) || h < 8 || w < 16) {
        snprintf(err, errlen, "the recogniser wants a %dx%dx%d input this code cannot make", c, h, w);
        return -1;
    }
    return 0;
}

recog_work *recog_work_new(void)
{
    recog_work *w = calloc(1, sizeof *w);
    if (w && !(w->nn = nn_work_new())) {
        free(w);
        return NULL;
    }
    return w;
}

void recog_work_free(recog_work *w)
{
    if (!w)
        return;
    nn_work_free(w->nn);
    free(w);
}

static float dist(const float a[2], const float b[2])
{
    return hypotf(a[0] - b[0], a[1] - b[1]);
}

/* How quad q is to be read: 0 as one line, 1 as two lines, 2 both ways
 * (see TWO_LINE_DOUBT). */
static int lines(const nn_net *net, const float q[4][2])
{
    const char *two = nn_meta(net, "two_line_aspect");
    float aspect_limit = two ? strtof(two, NULL) : 0;
    float qw = (dist(q[0], q[1]) + dist(q[3], q[2])) / 2;
    float qh = (dist(q[0], q[3]) + dist(q[1], q[2])) / 2;
    return qw < aspect_limit * qh ? 1 : qw < TWO_LINE_DOUBT * aspect_limit * qh ? 2 : 0;
}

/* Fills the network input from the plate, as rec_data.prepare() does: as
 * one line, or as two lines laid side by side. */
static void prepare(recog_work *w, const uint8_t *g, int gw, int gh, int gs,
                    const float q[4][2], int ih, int iw, int two_line)
{
    if (two_line) {
        float ml[2] = {(q[0][0] + q[3][0]) / 2, (q[0][1] + q[3][1]) / 2};
        float mr[2] = {(q[1][0] + q[2][0]) / 2, (q[1][1] + q[2][1]) / 2};
        float top[4][2] = {{q[0][0], q[0][1]}, {q[1][0], q[1][1]}, {mr[0], mr[1]}, {ml[0], ml[1]}};
        float bot[4][2] = {{ml[0], ml[1]}, {mr[0], mr[1]}, {q[2][0], q[2][1]}, {q[3][0], q[3][1]}};
        image_warp_quad_area(g, gw, gh, gs, top, w->super, SUPER_LEN, w->input, iw, iw / 2, ih);
        image_warp_quad_area(g, gw, gh, gs, bot, w->super, SUPER_LEN, w->input + iw / 2, iw, iw / 2, ih);
    } else {
        image_warp_quad_area(g, gw, gh, gs, q, w->super, SUPER_LEN, w->input, iw, iw, ih);
    }
    image_standardise(w->input, ih * iw);
}

static uint64_t hash_push(uint64_t h, int sym)
{
    return (h ^ (uint64_t)sym) * 0x100000001b3ull;
}

/* Finds prefix (parent + sym, or parent alone when sym < 0) in the next
 * beam set, adding it if absent. */
static beam *lookup(recog_work *w, int *n, const beam *parent, int sym)
{
    uint64_t h = sym < 0 ? parent->hash : hash_push(parent->hash, sym);
    int len = parent->len + (sym >= 0);
    for (unsigned i = (unsigned)h & (HASH_SLOTS - 1);; i = (i + 1) & (HASH_SLOTS - 1)) {
        int k = w->slot[i];
        if (k < 0) {
            beam *e = &w->b[*n];
            w->slot[i] = (*n)++;
            *e = *parent;
            e->pb = e->pnb = 0;
            e->hash = h;
            if (sym >= 0)
                e->s[e->len++] = (uint8_t)sym;
            return e;
        }
        beam *e = &w->b[k];
        if (e->hash == h && e->len == len &&
            memcmp(e->s, parent->s, (size_t)parent->len) == 0 &&
            (sym < 0 || e->s[len - 1] == sym))
            return e;
    }
}

static double mass_of(const beam *b)
{
    return b->pb + b->pnb;
}

/* Copies the k likeliest of src[0..n) into dst, best first; returns how
 * many. Insertion into a short sorted list beats sorting all n. */
static int top_k(const beam *src, int n, beam *dst, int k)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        double p = mass_of(&src[i]);
        if (m == k && p <= mass_of(&dst[m - 1]))
            continue;
        int j = m < k ? m++ : k - 1;
        for (; j > 0 && mass_of(&dst[j - 1]) < p; j--)
            dst[j] = dst[j - 1];
        dst[j] = src[i];
    }
    return m;
}

/* Prefix beam search over w->prob; leaves the best beams in w->a. */
static int beam_search(recog_work *w, int T, int C)
{
    int na = 1;
    memset(&w->a[0], 0, sizeof w->a[0]);
    w->a[0].pb = 1;
    w->a[0].hash = 0xcbf29ce484222325ull;
    for (int t = 0; t < T; t++) {
        const double *p = w->prob[t];
        int nb = 0;
        memset(w->slot, 0xff, sizeof w->slot);
        for (int i = 0; i < na; i++) {
            const beam *o = &w->a[i];
            double tot = o->pb + o->pnb;
            beam *e = lookup(w, &nb, o, -1);
            e->pb += tot * p[0];
            if (o->len)
                e->pnb += o->pnb * p[o->s[o->len - 1]];
            if (o->len == MAX_L)
                continue;
            for (int c = 1; c < C; c++) {
                if (p[c] < PRUNE)
                    continue;
                int repeat = o->len && o->s[o->len - 1] == c;
                e = lookup(w, &nb, o, c);
                e->pnb += (repeat ? o->pb : tot) * p[c];
            }
        }
        na = top_k(w->b, nb, w->a, BEAM);
        /* Rescale so long plates cannot underflow; ratios are all we use. */
        double top = mass_of(&w->a[0]);
        for (int i = 0; i < na && top > 0; i++) {
            w->a[i].pb /= top;
            w->a[i].pnb /= top;
        }
    }
    return na;
}

/*
 * Viterbi alignment of a reading's symbols s[0..L) to the columns; for each
 * symbol, copies the scores of the column where it is strongest.
 */
static void align(recog_work *w, int T, const char *alpha, const uint8_t *s, int L,
                  plate_reading *r)
{
    int S = 2 * L + 1;
    for (int t = 0; t < T; t++)
        for (int k = 0; k < S; k++) {
            int lab = k & 1 ? s[k / 2] : 0;
            double emit = w->logprob[t][lab], best = -INFINITY;
            int from = k;
            if (t == 0) {
                best = k < 2 ? 0 : -INFINITY;
            } else {
                for (int d = 0; d <= 2 && d <= k; d++) {
                    if (d == 2 && (!(k & 1) || (k >= 2 && s[k / 2 - 1] == lab)))
                        continue;
                    if (w->vit[t - 1][k - d] > best) {
                        best = w->vit[t - 1][k - d];
                        from = k - d;
                    }
                }
            }
            w->vit[t][k] = best + emit;
            w->back[t][k] = (uint8_t)from;
        }
    int k = S > 1 && w->vit[T - 1][S - 2] > w->vit[T - 1][S - 1] ? S - 2 : S - 1;
    int best_t[MAX_L];
    double best_p[MAX_L];
    for (int i = 0; i < L; i++)
        best_t[i] = -1, best_p[i] = -1;
    for (int t = T - 1; t >= 0; t--) {
        if (k & 1) {
            int i = k / 2;
            if (w->prob[t][s[i]] > best_p[i])
                best_p[i] = w->prob[t][s[i]], best_t[i] = t;
        }
        k = w->back[t][k];
    }
    memset(r->prob, 0, sizeof r->prob);
    for (int i = 0; i < L; i++) {
        int t = best_t[i] < 0 ? 0 : best_t[i];
        for (int c = 0; alpha[c]; c++) {
            const char *sym = strchr(SYMBOLS, alpha[c]);
            r->prob[i][sym - SYMBOLS] += (float)w->prob[t][c + 1];
        }
    }
}

/* recog_read() with the number of lines settled. */
static int read_as(const nn_net *net, recog_work *w, const uint8_t *gray, int width,
                   int height, int stride, const float q[4][2], int two_line,
                   anpr_country country, int max_cand, anpr_plate *out, float span[2],
                   char *err, size_t errlen)
{
    int ic, ih, iw;
    nn_input_shape(net, &ic, &ih, &iw);
    prepare(w, gray, width, height, stride, q, ih, iw, two_line);
    nn_tensor in = {1, ih, iw, w->input};
    const nn_tensor *o;
    if (nn_run(net, w->nn, &in, &o, err, errlen) != 0)
        return ANPR_ERR_NOMEM;
    const char *alpha = nn_meta(net, "alphabet");
    int C = o->c, T = o->h * o->w;
    if (C != (int)strlen(alpha) + 1 || C > MAX_C || T > MAX_T || T < 1) {
        snprintf(err, errlen, "the recogniser's output (%d x %d) does not fit its alphabet", C, T);
        return ANPR_ERR_MODEL;
    }
    for (int t = 0; t < T; t++) {
        float mx = -INFINITY;
        for (int c = 0; c < C; c++)
            mx = fmaxf(mx, o->data[c * T + t]);
        double sum = 0;
        for (int c = 0; c < C; c++)
            sum += w->prob[t][c] = exp(o->data[c * T + t] - mx);
        for (int c = 0; c < C; c++) {
            w->prob[t][c] /= sum;
            w->logprob[t][c] = log(w->prob[t][c] + 1e-30);
        }
    }
    span[0] = 0, span[1] = 1;
    for (int t = 0, first = -1; t < T && !two_line; t++)
        if (w->prob[t][0] < 0.5) {
            first = first < 0 ? t : first;
            span[0] = (first + 0.5f) / T, span[1] = (t + 0.5f) / T;
        }
    int nb = beam_search(w, T, C);
    /* The beam's probabilities were rescaled each column; the true one of
     * the best path is recovered from the first beam's share of the mass. */
    double mass = 0;
    for (int i = 0; i < nb; i++)
        mass += w->a[i].pb + w->a[i].pnb;
    int nr = 0;
    for (int i = 0; i < nb && nr < N_READINGS; i++) {
        const beam *b = &w->a[i];
        if (!b->len)
            continue;
        plate_reading *r = &w->readings[nr++];
        int len = b->len < MAX_L ? b->len : MAX_L;
        memset(r->text, 0, sizeof r->text);
        for (int j = 0; j < len; j++)
            r->text[j] = alpha[b->s[j] - 1];
        r->len = len;
        r->logp = (float)log((b->pb + b->pnb) / mass + 1e-30);
        align(w, T, alpha, b->s, b->len, r);
    }
    memset(out, 0, sizeof *out);
    int n = syntax_rank(w->readings, nr, country, w->results,
                        max_cand < ANPR_MAX_CANDIDATES ? max_cand : ANPR_MAX_CANDIDATES);
    for (int i = 0; i < n; i++) {
        memcpy(out->candidates[i].text, w->results[i].text, ANPR_MAX_TEXT);
        out->candidates[i].confidence = w->results[i].confidence;
    }
    out->n_candidates = n;
    if (n > 0) {
        memcpy(out->text, w->results[0].text, ANPR_MAX_TEXT);
        out->confidence = w->results[0].confidence;
        memcpy(out->char_confidence, w->results[0].char_confidence, sizeof out->char_confidence);
        memcpy(out->country, w->results[0].country, sizeof out->country);
        memcpy(out->format, w->results[0].format, sizeof out->format);
    }
    return ANPR_OK;
}

int recog_read(const nn_net *net, recog_work *w, const uint8_t *gray, int width,
               int height, int stride, const float q[4][2], anpr_country country,
               int max_cand, anpr_plate *out, float span[2], char *err, size_t errlen)
{
    int how = lines(net, q);
    int rc = read_as(net, w, gray, width, height, stride, q, how == 1, country, max_cand, out,
                     span, err, errlen);
    if (rc != ANPR_OK || how != 2 || out->confidence >= TWO_LINE_SURE)
        return rc;
    anpr_plate two;
    float two_span[2];
    rc = read_as(net, w, gray, width, height, stride, q, 1, country, max_cand, &two, two_span,
                 err, errlen);
    if (rc == ANPR_OK && two.confidence > out->confidence) {
        *out = two;
        memcpy(span, two_span, sizeof two_span);
    }
    return rc;
}
