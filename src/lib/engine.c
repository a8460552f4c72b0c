/*
 * engine.c: the public API of libanpr (include/anpr.h).
 *
 * An engine owns the two networks, read-only once loaded, and a pool of
 * workspaces. A call takes a workspace from the pool (making one only when
 * every existing one is in use by another thread) and gives it back, so a
 * shared engine serves any number of threads and a warm one allocates
 * nothing per grey frame.
 */
#include "anpr.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "image.h"
#include "nn.h"
#include "nn_ops.h"
#include "recog.h"
#include "refine.h"

#define DEFAULT_MAX_PIXELS 50000000ull
/*
 * A plate found in a photo and read as one or two characters is almost
 * always something else: of the 300 plate-free scenes of
 * ../shared/data/negatives read on 2026-12-07, 63 gave a reading and 13
 * of the 16 read at 0.5 or more were such (IY, 9L, A4, W1 ...), as were 6
 * of the 21 other readings at 0.5 or more in the three photo sets of
 * bench/read.sh. Dropping them by default, as OpenALPR drops readings
 * under its postprocess_min_characters, left 34 of those scenes with a
 * reading and 89 other readings of 216 in the photo sets (15 at 0.5 or
 * more), and read and found every labelled plate as before: none of the
 * measured sets labels a plate under four characters. Four would lose a
 * plate found in those sets. The few real one- and two-character marks
 * (cherished GB ones such as A 1) need min_chars 0 or 1.
 */
#define DEFAULT_MIN_CHARS 3
#define MAX_FILE_BYTES (256u << 20)
/* JPEGs are decoded at reduced scale only while the plates keep enough
 * pixels for the recogniser: the long side stays at least this. */
#define DECODE_MIN_LONG 1280
/* A plate read from the refiner's quad with a confidence in [RETRY_FROM,
 * RETRY_BELOW) is read again from the detector's own, rougher quad, and
 * the reading the two back more kept (see agreement()): the refined
 * corners are better on the whole, but hug some plates tighter than the
 * recogniser likes. With the refiner, photos-dev and the European and GB
 * scenes read 91.7% exactly with the reread, 90.3% without (90.8% when
 * rereading from the detector's whole-frame quad instead). Sure reads gain
 * nothing from it, nor, on photos-dev and the GB scenes, did reads under
 * 0.1: mostly things that are not plates, where it only cost time. Read
 * again only from 0.2 or 0.3 (2026-12-07), the three photo sets of
 * bench/read.sh read as many exactly (int8 and float), with two to four
 * fewer sure false readings, for 1.9% or 2.6% fewer instructions on 30
 * 1280x720 photos; but the held-out crops read as photos lost a plate or
 * two (two close-ups of 70 to 144 pixels were no longer found at 0.3). */
#define RETRY_FROM 0.1f
#define RETRY_BELOW 0.8f
/* A reading of at least RECROP_MIN_CHARS characters whose first and last
 * lie closer than RECROP_BELOW of the quad's width apart came from a quad
 * too wide for its plate (a bumper recess, a plate with its holder: the
 * characters squeezed, the edges read as characters). One whose first or
 * last character's centre lies within RECROP_EDGE pitches of the quad's
 * edge came from a quad that cuts a character off. Either way the plate is
 * read again from the part of the quad that holds the characters,
 * RECROP_MARGIN pitches wider on each side (and a character more past a
 * cut edge), and the reading the two back more kept, with its quad. On
 * photos-dev the first found 3 more plates and read one more exactly, the
 * second read 2 more exactly (an edge of 0.3 to 1 pitch gave 1 to 2); the
 * GB scenes read the same with both. The box reported for such a reading
 * is that part cut back to the quad it came from: a character was only
 * suspected past the edge, and a plate whose characters reach its edges
 * was reported 1.5 times too wide (two photos-dev plates were not counted
 * as found for it). From 3 characters (2026-12-07) a Texas plate boxed
 * with its bumper recess was found and read (three photo sets 93.04% ->
 * 93.20%), but the held-out US crops read as photos lost two plates and
 * one more sure false reading appeared. */
#define RECROP_MIN_CHARS 4
#define RECROP_BELOW 0.6f
#define RECROP_EDGE 0.5f
#define RECROP_MARGIN 0.8f
/*
 * With --whole-plate there is no other quad to read again from: a reading
 * in [RETRY_FROM, RETRY_BELOW) is read again from the crop made larger and
 * smaller by these factors (across, up and down), and the reading whose
 * text the three back most kept (see most_backed()). The held-out crops, the
 * photos-dev plates cut by their boxes and the synthetic GB set read 97.39%
 * -> 97.99% exactly (2492 plates; 1.10 x 1.20 alone 97.63%, 0.94 x 0.90
 * alone 97.59%). In whole photos a reading still unsure after the rereads
 * above was then confirmed so too, from CONFIRM_PHOTO_FROM: on photos-dev and the
 * GB and European scenes (647 photos, 2026-12-06, detector threshold 0.3)
 * 92.27% -> 93.04% exactly with the recogniser in float, 92.58% -> 93.20%
 * in int8 (portable kernels), as many found, for 3.0% more instructions on
 * 30 1280x720 photos (callgrind) and no time visible on 300 plate-free
 * scenes, whose unsure readings are mostly under 0.5. From 0.4 it read
 * as many (float), from 0.6 92.58%, from 0.3 92.74%; from RETRY_FROM
 * 92.89%, a plate fewer found, and plate-free scenes took a fifth longer
 * (it gained 2 plates for 15% more instructions in int8 at the detector
 * threshold of 0.2).
 */
static const float CONFIRM_SCALES[][2] = { { 1.05f, 1.1f }, { 0.95f, 0.92f }, { 1.1f, 1.0f } };
#define N_CONFIRM (int)(sizeof CONFIRM_SCALES / sizeof CONFIRM_SCALES[0])
#define CONFIRM_CROP_SCALES 2
#define CONFIRM_PHOTO_FROM 0.5f
/*
 * A photo's reading from CONFIRM_PHOTO_FROM is confirmed however sure it
 * is, and from all three crops: a sure reading can still be one the
 * recogniser gives only to this exact cut (a character dropped at a tight
 * edge, one flipped), and the refiner's quads hug some plates tight, which
 * the third, wider crop undoes. Crops cut by a person are not tight, and
 * the third lost European crops (95.4% -> 93.1%, --whole-plate), so they
 * keep the first two and stay unconfirmed once sure, which keeps a crop
 * under 0.5 ms. Measured 2026-12-07 (int8 / float): the three photo sets
 * of bench/read.sh read 93.82 / 94.13% -> 94.44 / 95.05% exactly, the
 * held-out crops read as photos 89.97 / 89.97% -> 90.60 / 90.28%, as many
 * found, as many other readings. Confirming all with the first two scales
 * only gave 94.44 / 94.74% and 89.66 / 89.66%; with a fourth, 0.9 x 1.0,
 * 94.90 / 95.05% and 90.28 / 89.97%, for a read more per plate. It costs
 * 13.9% more instructions on 30 1280x720 photos (callgrind; 20.2% before
 * confirm() learnt to skip the reads that cannot change its choice) and
 * took the median 1280x720 photo from 7.8-8.7 to 8.6-9.4 ms in four
 * alternating runs (8.3-9.2 to 9.8-10.5 ms in a busier hour).
 */
/*
 * A frame in which no plate narrower than DETECT_WHOLE_WIDTH of it was read
 * at WHOLE_SURE or more may be a close-up, or a plate cut out with a little
 * margin: one plate too big for the detector's first look, found in parts
 * or not at all. The whole frame is then looked at as one plate (see
 * detect_whole()), and the plate found that way replaces those with more
 * than WHOLE_PART of their box inside it when it reads surer than each, or
 * reads surely a longer text that contains theirs, or they lie in its
 * margin (WHOLE_MARGIN): a part reads some of the characters, a sticker or
 * a line of them, and may read them surely.
 * It is dropped when it reads under WHOLE_MIN or is beaten: at that scale
 * a building or the back of a car can pass for a plate, and only its
 * reading tells. The held-out crops read as photos (read_bench without
 * --whole-plate, 2026-12-05) went from 17.2 / 22.7 / 56.3% exact (Brazil,
 * US, Europe) to 91.7 / 88.0 / 93.1%; photos-dev and the GB and European
 * scenes read the same plates with the same other readings, for 2.3% more
 * instructions on 30 1280x720 photos (callgrind); 300 plate-free scenes of
 * ../shared/data/negatives gave a reading in 73 of them, not 69 (with no
 * WHOLE_MIN: in 259, mostly under 0.4; at 0.8: 69, but crops 87 / 83 /
 * 91%). Looking at every frame, not only those without a sure small
 * plate, lost a GB and a European scene plate to a sure reading of a
 * larger box. With the recogniser of 2026-12-07's evening (21 other
 * readings at 0.5 or more in those three photo sets), 0.55 and 0.6 read
 * the same plates there and dropped one and two of the 21, but lost two
 * held-out crops read as photos (0.6 in float: six).
 */
#define WHOLE_SURE RETRY_BELOW
#define WHOLE_PART 0.5f
#define WHOLE_MIN 0.5f
/*
 * A plate inside the whole look's plate whose box centre lies in its top
 * or bottom WHOLE_MARGIN is one of its parts too, however it reads: there
 * a plate carries its stickers, its state's or county's name and its
 * slogan, never its registration. A close-up of a US plate reads those
 * surely as small plates (KNOX, SEPT2003, AUG2), and the registration, too
 * big for the first look, was lost to them. So a frame with a small plate
 * read surely is looked at whole as well, and the plate found kept only
 * when it reads at WHOLE_SURE and every plate inside it lies in that
 * margin: a plate found in the middle of the larger box is the
 * registration itself, and a larger box holding no plate at all is, in a
 * frame that has one, mostly a sign or the back of a car. The held-out
 * crops read as photos (2026-12-07, int8 / float) went from 90.60 /
 * 90.28% to 91.85 / 91.22% exactly with the look in such frames (666CYL,
 * 251RGF, J0518, 194MJM), and to 92.16% in float (93.10% int8, with
 * drop_repeats()'s change) with the margin rule in the others too
 * (FBH476, whose sticker read 0.778 and the plate 0.772); the three photo
 * sets of bench/read.sh and 300 plate-free scenes gave the same readings,
 * plate for plate. Looking so at every frame but keeping the larger plate
 * by part_of() alone read two of the three photo sets' plates wrong and
 * gave 19 more other readings at 0.5 or more. The look costs a second look
 * at the whole frame, and, where the detector's rough quad already has a
 * plate in its middle or none, no reading.
 */
#define WHOLE_MARGIN 0.3f
/*
 * In such a frame (no small plate read at WHOLE_SURE) the best
 * DETECT_FAINT_MAX peaks the first look scored from DETECT_FAINT up to
 * DETECT_THRESHOLD are looked at again (detect_faint()), and a plate found
 * there is kept when it reads at FAINT_MIN or more. A small plate in a
 * large frame spans a few input pixels of the first look, which scores
 * some of them low although the second look is sure of them.
 */
#define FAINT_MIN WHOLE_MIN

extern const unsigned char anpr_model_recogniser[], anpr_model_recogniser_end[];
extern const unsigned char anpr_model_detector[], anpr_model_detector_end[];
extern const unsigned char anpr_model_refiner[], anpr_model_refiner_end[];

typedef struct workspace {
    struct workspace *next;
    recog_work *rw;
    detect_work *dw;
    refine_work *fw;
    detect_box boxes[ANPR_MAX_PLATES];
} workspace;

struct anpr_engine {
    anpr_options opt;
    nn_net *rec, *det, *ref;
    pthread_mutex_t lock;
    workspace *idle;      /* free workspaces */
    workspace **owned;
    int n_owned, cap_owned;
};

const char *anpr_strerror(anpr_code code)
{
    switch (code) {
    case ANPR_OK: return "no error";
    case ANPR_ERR_ARG: return "bad argument";
    case ANPR_ERR_NOMEM: return "out of memory";
    case ANPR_ERR_IO: return "input/output error";
    case ANPR_ERR_IMAGE: return "not a readable JPEG or PNG image";
    case ANPR_ERR_TOO_LARGE: return "image too large";
    case ANPR_ERR_MODEL: return "bad or missing model";
    case ANPR_ERR_UNSUPPORTED: return "unsupported input";
    }
    return "unknown error";
}

int anpr_country_parse(const char *name)
{
    static const char *names[] = {"auto", "gb", "br", "us", "eu"};
    for (int i = 0; name && i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void anpr_options_default(anpr_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->country = ANPR_COUNTRY_AUTO;
    opt->max_pixels = DEFAULT_MAX_PIXELS;
    opt->max_candidates = ANPR_MAX_CANDIDATES;
    opt->min_chars = DEFAULT_MIN_CHARS;
}

/* Loads a network from a file, or else from the bytes built into the
 * library; `what` names it in messages. */
static nn_net *load_net(const char *path, const unsigned char *begin,
                        const unsigned char *end, const char *what, char *err,
                        size_t errlen)
{
    char why[200];
    nn_net *net;
    if (path) {
        uint8_t *data;
        size_t len;
        if (image_read_file(path, MAX_FILE_BYTES, &data, &len, why, sizeof why) != ANPR_OK) {
            snprintf(err, errlen, "%s model: %s", what, why);
            return NULL;
        }
        net = nn_load(data, len, why, sizeof why);
        free(data);
    } else if (end > begin) {
        net = nn_load(begin, (size_t)(end - begin), why, sizeof why);
    } else {
        snprintf(err, errlen, "this build has no built-in %s model; give one with --model", what);
        return NULL;
    }
    if (!net)
        snprintf(err, errlen, "%s model %s: %s", what, path ? path : "(built in)", why);
    return net;
}

anpr_code anpr_engine_new(const anpr_options *opt, anpr_engine **out, char *err,
                          size_t errlen)
{
    char dummy[8];
    if (!err)
        err = dummy, errlen = sizeof dummy;
    *err = 0;
    if (!out) {
        snprintf(err, errlen, "no place to put the engine");
        return ANPR_ERR_ARG;
    }
    *out = NULL;
    anpr_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return ANPR_ERR_NOMEM;
    }
    if (opt)
        e->opt = *opt;
    else
        anpr_options_default(&e->opt);
    anpr_options *o = &e->opt;
    if (!o->max_pixels)
        o->max_pixels = DEFAULT_MAX_PIXELS;
    if (o->max_candidates < 1 || o->max_candidates > ANPR_MAX_CANDIDATES)
        o->max_candidates = ANPR_MAX_CANDIDATES;
    if (o->min_chars < 0)
        o->min_chars = 0;
    /* The caller's strings need not outlive this call. */
    o->recogniser_path = o->detector_path = o->refiner_path = NULL;
    pthread_mutex_init(&e->lock, NULL);
    anpr_code rc = ANPR_ERR_MODEL;
    e->rec = load_net(opt ? opt->recogniser_path : NULL, anpr_model_recogniser,
                      anpr_model_recogniser_end, "recogniser", err, errlen);
    if (!e->rec || recog_check(e->rec, err, errlen) != 0)
        goto fail;
    if (!o->whole_plate) {
        e->det = load_net(opt ? opt->detector_path : NULL, anpr_model_detector,
                          anpr_model_detector_end, "detector", err, errlen);
        if (!e->det || detect_check(e->det, err, errlen) != 0)
            goto fail;
        e->ref = load_net(opt ? opt->refiner_path : NULL, anpr_model_refiner,
                          anpr_model_refiner_end, "refiner", err, errlen);
        if (!e->ref || refine_check(e->ref, err, errlen) != 0)
            goto fail;
    }
    /* int8 reads crops and photos as well as float does (photos-dev, held-out
     * crops, GB sets, within a plate either way) in two thirds of the time.
     * So does the corner refiner's: the three photo sets of bench/read.sh
     * read the same share exactly (a GB plate more, a European one fewer)
     * and find the same plates, and a 1280x720 photo takes about 5% less.
     * The detector stays in float: in int8 it read 2-3 points fewer
     * photos-dev plates exactly. */
    if (o->precision == ANPR_PRECISION_AUTO && nn_int8_fast()) {
        nn_set_int8(e->rec, 1);
        if (e->ref)
            nn_set_int8(e->ref, 1);
    }
    *out = e;
    return ANPR_OK;
fail:
    anpr_engine_free(e);
    return rc;
}

void anpr_engine_free(anpr_engine *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->n_owned; i++) {
        recog_work_free(e->owned[i]->rw);
        detect_work_free(e->owned[i]->dw);
        refine_work_free(e->owned[i]->fw);
        free(e->owned[i]);
    }
    free(e->owned);
    nn_free(e->rec);
    nn_free(e->det);
    nn_free(e->ref);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

static workspace *borrow(anpr_engine *e)
{
    pthread_mutex_lock(&e->lock);
    workspace *w = e->idle;
    if (w) {
        e->idle = w->next;
        pthread_mutex_unlock(&e->lock);
        return w;
    }
    if (e->n_owned == e->cap_owned) {
        int cap = e->cap_owned ? 2 * e->cap_owned : 4;
        workspace **p = realloc(e->owned, (size_t)cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&e->lock);
            return NULL;
        }
        e->owned = p;
        e->cap_owned = cap;
    }
    w = calloc(1, sizeof *w);
    if (w && (!(w->rw = recog_work_new()) || (e->det && !(w->dw = detect_work_new()))
              || (e->ref && !(w->fw = refine_work_new())))) {
        recog_work_free(w->rw);
        detect_work_free(w->dw);
        free(w);
        w = NULL;
    }
    if (w)
        e->owned[e->n_owned++] = w;
    pthread_mutex_unlock(&e->lock);
    return w;
}

static void give_back(anpr_engine *e, workspace *w)
{
    pthread_mutex_lock(&e->lock);
    w->next = e->idle;
    e->idle = w;
    pthread_mutex_unlock(&e->lock);
}

static anpr_code fail(anpr_result *res, anpr_code rc, const char *msg)
{
    res->n_plates = 0;
    snprintf(res->error, sizeof res->error, "%s", msg && *msg ? msg : anpr_strerror(rc));
    return rc;
}

static int by_confidence(const void *a, const void *b)
{
    float x = ((const anpr_plate *)a)->confidence, y = ((const anpr_plate *)b)->confidence;
    return (x < y) - (x > y);
}

/* The confidence a reading gives text among its candidates (0 if absent). */
static float confidence_in(const anpr_plate *p, const char *text)
{
    for (int k = 0; k < p->n_candidates; k++)
        if (!strcmp(p->candidates[k].text, text))
            return p->candidates[k].confidence;
    return 0;
}

/* How much n readings back text: its confidence summed over their
 * candidates. */
static float backing(const anpr_plate *const r[], int n, const char *text)
{
    float sum = 0;
    for (int j = 0; j < n; j++)
        sum += confidence_in(r[j], text);
    return sum;
}

/* Which of n (at most N_CONFIRM + 1) readings of one plate to keep: the
 * one whose text they all back most (its confidence summed over their
 * candidates), the first on a tie. Rereads keep it, which measured 1
 * point better on photos-dev than keeping the surer alone. If lead is not
 * NULL it gets how much more that text is backed than any other their
 * candidates hold: more readings, each backing a text by at most 1,
 * cannot change the choice while they are fewer than that. */
static int most_backed(const anpr_plate *const r[], int n, float *lead)
{
    float sum[N_CONFIRM + 1];
    int best = 0;
    for (int i = 0; i < n; i++) {
        sum[i] = backing(r, n, r[i]->text);
        if (sum[i] > sum[best])
            best = i;
    }
    if (lead) {
        /* Any text among their candidates may become a reading's own. */
        float other = 0;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < r[i]->n_candidates; k++)
                if (strcmp(r[i]->candidates[k].text, r[best]->text) != 0)
                    other = fmaxf(other, backing(r, n, r[i]->candidates[k].text));
        *lead = sum[best] - other;
    }
    return best;
}

/* Reads the plate again from quad b and keeps that reading (with its box
 * in q, and its span) if the text the two readings back more is its. */
static anpr_code read_again(anpr_engine *e, workspace *ws, const uint8_t *px, int w, int h,
                            int stride, const float b[4][2], const float box[4][2],
                            anpr_plate *r, float q[4][2], float span[2], char *err,
                            size_t errlen)
{
    anpr_plate alt;
    float alt_span[2];
    anpr_code rc = recog_read(e->rec, ws->rw, px, w, h, stride, b, e->opt.country,
                              e->opt.max_candidates, &alt, alt_span, err, errlen);
    const anpr_plate *both[] = { r, &alt };
    if (rc == ANPR_OK && most_backed(both, 2, NULL) == 1) {
        *r = alt;
        memcpy(q, box, sizeof(float[4][2]));
        memcpy(span, alt_span, sizeof alt_span);
    }
    return rc;
}

/* Reads a reading p of quad q in [from, below) again from q's own map
 * extended (or shrunk) about its centre by each of the first n
 * CONFIRM_SCALES, and keeps the most_backed() of them all, with its quad
 * in q. */
static anpr_code confirm(anpr_engine *e, workspace *ws, const uint8_t *px, int w, int h,
                         int stride, float from, float below, int n, anpr_plate *p,
                         float q[4][2], char *err, size_t errlen)
{
    if (p->confidence < from || p->confidence >= below)
        return ANPR_OK;
    anpr_plate alt[N_CONFIRM];
    float alt_q[N_CONFIRM][4][2], span[2];
    const anpr_plate *all[N_CONFIRM + 1] = { p };
    int best = 0;
    for (int i = 0; i < n; i++) {
        float sx = CONFIRM_SCALES[i][0], sy = CONFIRM_SCALES[i][1];
        image_quad_part((const float(*)[2])q, -(sx - 1) / 2, (sx + 1) / 2, -(sy - 1) / 2,
                        (sy + 1) / 2, alt_q[i]);
        anpr_code rc = recog_read(e->rec, ws->rw, px, w, h, stride, (const float(*)[2])alt_q[i],
                                  e->opt.country, e->opt.max_candidates, &alt[i], span, err,
                                  errlen);
        if (rc != ANPR_OK)
            return rc;
        all[i + 1] = &alt[i];
        /* Once the reads left cannot change the choice, they are skipped:
         * a sure plate read alike from the first two crops is not read
         * from the third. */
        float lead;
        best = most_backed(all, i + 2, &lead);
        if (lead > (float)(n - 1 - i))
            break;
    }
    if (best > 0) {
        *p = alt[best - 1];
        memcpy(q, alt_q[best - 1], sizeof alt_q[0]);
    }
    return ANPR_OK;
}

/* Reads one plate the detector found in a photo into p, and the quad its
 * reading came from into q (which holds b->q on entry, and keeps it when
 * no reread wins), from the refined quad b->q and, where that
 * reading is unsure or its characters do not fit the quad, from the
 * detector's quad `found` and the part of the quad that holds them (see
 * RETRY_* and RECROP_*). */
static anpr_code reread(anpr_engine *e, workspace *ws, const uint8_t *px, int w, int h,
                        int stride, const detect_box *b, const float found[4][2],
                        anpr_plate *p, float q[4][2], char *err, size_t errlen)
{
    const anpr_options *o = &e->opt;
    float span[2], from[4][2];  /* where p's characters lie, in the quad p was read from */
    memcpy(from, b->q, sizeof b->q);
    anpr_code rc = recog_read(e->rec, ws->rw, px, w, h, stride, b->q, o->country,
                              o->max_candidates, p, span, err, errlen);
    if (rc != ANPR_OK)
        return rc;
    if (p->confidence >= RETRY_FROM && p->confidence < RETRY_BELOW
        && memcmp(found, b->q, sizeof b->q) != 0)
        rc = read_again(e, ws, px, w, h, stride, found, found, p, from, span, err, errlen);
    size_t len = strlen(p->text);
    if (rc != ANPR_OK || len < RECROP_MIN_CHARS)
        return rc;
    float pitch = (span[1] - span[0]) / (float)(len - 1);
    int cut0 = span[0] < RECROP_EDGE * pitch, cut1 = 1 - span[1] < RECROP_EDGE * pitch;
    if (span[1] - span[0] >= RECROP_BELOW && !cut0 && !cut1)
        return rc;
    /* Past a cut edge the quad is extended, possibly beyond the image:
     * image_warp_quad() reads there the nearest edge pixel. */
    float a = cut0 ? span[0] - (1 + RECROP_MARGIN) * pitch : fmaxf(0, span[0] - RECROP_MARGIN * pitch);
    float z = cut1 ? span[1] + (1 + RECROP_MARGIN) * pitch : fminf(1, span[1] + RECROP_MARGIN * pitch);
    float part[4][2], box[4][2];
    image_quad_part((const float(*)[2])from, a, z, 0, 1, part);
    image_quad_part((const float(*)[2])from, fmaxf(a, 0), fminf(z, 1), 0, 1, box);
    return read_again(e, ws, px, w, h, stride, part, (const float(*)[2])box, p, q, span, err,
                      errlen);
}

/* Reads one plate the detector found into p, and the quad its reading
 * came from into q: a plate crop (--whole-plate) from its quad alone, a
 * photo's plate by reread(); either confirmed (see CONFIRM_SCALES). */
static anpr_code read_box(anpr_engine *e, workspace *ws, const uint8_t *px, int w, int h,
                          int stride, const detect_box *b, const float found[4][2],
                          anpr_plate *p, float q[4][2], char *err, size_t errlen)
{
    const anpr_options *o = &e->opt;
    float span[2];
    memcpy(q, b->q, sizeof b->q);
    anpr_code rc;
    if (o->whole_plate)
        rc = recog_read(e->rec, ws->rw, px, w, h, stride, b->q, o->country, o->max_candidates,
                        p, span, err, errlen);
    else
        rc = reread(e, ws, px, w, h, stride, b, found, p, q, err, errlen);
    if (rc != ANPR_OK)
        return rc;
    if (o->whole_plate)
        return confirm(e, ws, px, w, h, stride, RETRY_FROM, RETRY_BELOW, CONFIRM_CROP_SCALES, p,
                       q, err, errlen);
    return confirm(e, ws, px, w, h, stride, CONFIRM_PHOTO_FROM, INFINITY, N_CONFIRM, p, q, err,
                   errlen);
}

/* Places the corners of a plate the detector found, reads it into p and
 * sets p's box, in the pixels of the image the caller knows. */
static anpr_code read_found(anpr_engine *e, workspace *ws, const uint8_t *px, int w, int h,
                            int stride, float scale, detect_box *b, anpr_plate *p, char *err,
                            size_t errlen)
{
    float q[4][2], found[4][2];
    /* The detector's corners are rough; the refiner's are the ones read
     * and reported (see docs/design.md, "Corners from a network of their
     * own"). */
    memcpy(found, b->q, sizeof found);
    if (e->ref && refine_quad(e->ref, ws->fw, px, w, h, stride, b->q, err, errlen) != 0)
        return ANPR_ERR_NOMEM;
    anpr_code rc = read_box(e, ws, px, w, h, stride, b, (const float(*)[2])found, p, q, err,
                            errlen);
    if (rc != ANPR_OK)
        return rc;
    p->detection_score = b->score;
    /* A quad widened past a cut edge may leave the image; the box
     * reported stays inside it. */
    for (int k = 0; k < 4; k++) {
        p->box[k][0] = fminf(fmaxf(q[k][0], 0), (float)w) * scale;
        p->box[k][1] = fminf(fmaxf(q[k][1], 0), (float)h) * scale;
    }
    return ANPR_OK;
}

/* The share of plate a's bounding box that lies inside box b's. */
static float inside(const anpr_plate *a, const float b[4][2])
{
    float ab[4], bb[4];
    detect_bounds(a->box, ab);
    detect_bounds(b, bb);
    float area = (ab[2] - ab[0]) * (ab[3] - ab[1]);
    return area > 0 ? detect_overlap(ab, bb) / area : 0;
}

/* Is plate a one of whole's parts, which whole replaces? See WHOLE_*. */
static int part_of(const anpr_plate *a, const anpr_plate *whole)
{
    return whole->confidence > a->confidence
           || (whole->confidence >= WHOLE_SURE && strlen(whole->text) > strlen(a->text)
               && strstr(whole->text, a->text));
}

/* Is a plate narrower than DETECT_WHOLE_WIDTH of the frame read surely?
 * If not, the frame may hold a plate the first look scored too low, or
 * one too big for it: see FAINT_* and WHOLE_*. */
static int sure_small(const anpr_result *res, int w, float scale)
{
    for (int i = 0; i < res->n_plates; i++) {
        float b[4];
        detect_bounds(res->plates[i].box, b);
        if (res->plates[i].confidence >= WHOLE_SURE && b[2] - b[0] < DETECT_WHOLE_WIDTH * w * scale)
            return 1;
    }
    return 0;
}

/* Reads the n plates found in ws->boxes (n < 0: finding them failed) and
 * adds to res each that reads at `least` and the caller's min_confidence. */
static anpr_code read_boxes(anpr_engine *e, workspace *ws, const uint8_t *px, int w, int h,
                            int stride, float scale, int n, float least, anpr_result *res,
                            char *err, size_t errlen)
{
    if (n < 0)
        return ANPR_ERR_NOMEM;
    for (int i = 0; i < n && res->n_plates < ANPR_MAX_PLATES; i++) {
        anpr_plate *p = &res->plates[res->n_plates];
        anpr_code rc = read_found(e, ws, px, w, h, stride, scale, &ws->boxes[i], p, err, errlen);
        if (rc != ANPR_OK)
            return rc;
        if (p->text[0] && p->confidence >= least && p->confidence >= e->opt.min_confidence)
            res->n_plates++;
    }
    return ANPR_OK;
}

/* Reads the plates the first look scored too low to trust; see FAINT_*. */
static anpr_code read_faint(anpr_engine *e, workspace *ws, const uint8_t *px, int w, int h,
                            int stride, float scale, anpr_result *res, char *err, size_t errlen)
{
    int n = detect_faint(e->det, ws->dw, px, w, h, stride, ws->boxes, ANPR_MAX_PLATES, err, errlen);
    return read_boxes(e, ws, px, w, h, stride, scale, n, FAINT_MIN, res, err, errlen);
}

/* Where the centre of bounds ab lies down bounds wb: 0 at their top, 1
 * at their bottom. */
static float depth_in(const float ab[4], const float wb[4])
{
    return ((ab[1] + ab[3]) / 2 - wb[1]) / (wb[3] - wb[1]);
}

/* Does plate a's box centre lie in the top or bottom WHOLE_MARGIN of box? */
static int in_margin(const anpr_plate *a, const float box[4][2])
{
    float ab[4], wb[4];
    detect_bounds(a->box, ab);
    detect_bounds(box, wb);
    float depth = depth_in(ab, wb);
    return depth < WHOLE_MARGIN || depth > 1 - WHOLE_MARGIN;
}

/*
 * How many of res's plates lie inside box (caller's pixels), each in its
 * top or bottom WHOLE_MARGIN, as a plate's stickers do, or, where whole is
 * given, one of its parts by their readings (part_of()); -1 if one is
 * neither, as a plate's registration would be.
 */
static int parts_inside(const anpr_result *res, const float box[4][2], const anpr_plate *whole)
{
    int n = 0;
    for (int i = 0; i < res->n_plates; i++) {
        const anpr_plate *a = &res->plates[i];
        if (inside(a, box) <= WHOLE_PART)
            continue;
        if (!in_margin(a, box) && !(whole && part_of(a, whole)))
            return -1;
        n++;
    }
    return n;
}

/* Looks at the frame as one plate when it may be a close-up, and, where a
 * small plate was read surely (`sure`), for a plate whose stickers those
 * were; see WHOLE_*. */
static anpr_code read_whole(anpr_engine *e, workspace *ws, const uint8_t *px, int w, int h,
                            int stride, float scale, int sure, anpr_result *res, char *err,
                            size_t errlen)
{
    detect_box b;
    int found = detect_whole(e->det, ws->dw, px, w, h, stride, &b, err, errlen);
    if (found <= 0)
        return found < 0 ? ANPR_ERR_NOMEM : ANPR_OK;
    /* Most frames with a sure plate have no such larger plate: the
     * detector's rough quad tells most of them before any reading. */
    float rough[4][2];
    for (int k = 0; k < 8; k++)
        rough[k / 2][k % 2] = b.q[k / 2][k % 2] * scale;
    if (sure && parts_inside(res, (const float(*)[2])rough, NULL) <= 0)
        return ANPR_OK;
    anpr_plate whole;
    anpr_code rc = read_found(e, ws, px, w, h, stride, scale, &b, &whole, err, errlen);
    if (rc != ANPR_OK || !whole.text[0] || whole.confidence < (sure ? WHOLE_SURE : WHOLE_MIN)
        || whole.confidence < e->opt.min_confidence)
        return rc;
    const float(*wq)[2] = (const float(*)[2])whole.box;
    int parts = parts_inside(res, wq, sure ? NULL : &whole);
    if (parts < 0 || (sure && parts == 0))
        return ANPR_OK;
    int n = 0;
    for (int i = 0; i < res->n_plates; i++)
        if (inside(&res->plates[i], wq) <= WHOLE_PART)
            res->plates[n++] = res->plates[i];
    res->n_plates = n;
    if (n < ANPR_MAX_PLATES)
        res->plates[res->n_plates++] = whole;
    return ANPR_OK;
}

/*
 * Drops each plate whose box overlaps a surer one's at IoU above
 * DETECT_NMS_IOU: the detector suppresses overlaps among its own quads,
 * but two of them can become one plate once the refiner has placed their
 * corners (photos-dev: SL7C6S and CJ1P5G were each reported twice). Where
 * the surer one is a part of the other (part_of(): the other reads surely
 * a longer text that holds its), the other takes its place: the faint and
 * whole looks find a close-up both whole and in parts, and the part read
 * a hair surer (LKH2 at 0.9999 against 29LKH2 at 0.9997) had won.
 * res's plates are in order of confidence, and stay so.
 */
static void drop_repeats(anpr_result *res)
{
    int n = 0, moved = 0;
    for (int i = 0; i < res->n_plates; i++) {
        float b[4], k[4];
        detect_bounds(res->plates[i].box, b);
        int seen = -1;
        for (int j = 0; j < n && seen < 0; j++) {
            detect_bounds(res->plates[j].box, k);
            if (detect_iou(b, k) > DETECT_NMS_IOU)
                seen = j;
        }
        if (seen < 0)
            res->plates[n++] = res->plates[i];
        else if (part_of(&res->plates[seen], &res->plates[i]))
            res->plates[seen] = res->plates[i], moved = 1;
    }
    res->n_plates = n;
    if (moved)
        qsort(res->plates, (size_t)n, sizeof res->plates[0], by_confidence);
}

/*
 * Drops each plate that is another's lettering, and each that reads
 * fewer than min_chars characters (see DEFAULT_MIN_CHARS). Lettering is
 * less than LETTERING_HEIGHT of the height of a plate read at WHOLE_SURE
 * or more, its box centre within that plate's width and within
 * WHOLE_MARGIN of its height of its top or bottom edge, inside or out. A
 * close-up of a US plate read whole still reported its state's name above
 * it (PENNSYLVAN at 0.96, HAVVAI1 for Hawaii) and its month sticker in its
 * bottom corner (SEP at 0.91) where the registration, read in the middle,
 * kept the whole look's parts rule from running. On the held-out crops
 * read as photos (2026-12-07) the other readings went from 7 to 2 in int8
 * and 9 to 4 in float, those at 0.5 or more from 4 to 0; the three photo
 * sets lost one other reading, under 0.5, and read and found every plate
 * as before, and the plate-free scenes gave the same. A half or 0.4 to 0.8
 * of the height, or a band of 0.2 to 0.4, measured the same. Every plate
 * is judged against all the others, short ones too, before any is
 * dropped, so that their order does not matter; this comes last, so that
 * short readings still count as parts and stickers in the looks above.
 */
#define LETTERING_HEIGHT 0.5f

static void drop_lettering_and_short(anpr_result *res, int min_chars)
{
    unsigned char drop[ANPR_MAX_PLATES] = {0};
    for (int i = 0; i < res->n_plates; i++) {
        const anpr_plate *p = &res->plates[i];
        float b[4];
        detect_bounds(p->box, b);
        float cx = (b[0] + b[2]) / 2;
        drop[i] = strlen(p->text) < (size_t)min_chars;
        for (int j = 0; j < res->n_plates && !drop[i]; j++) {
            const anpr_plate *q = &res->plates[j];
            float a[4];
            detect_bounds(q->box, a);
            float depth = depth_in(b, a);
            drop[i] = j != i && q->confidence >= WHOLE_SURE && cx > a[0] && cx < a[2]
                      && b[3] - b[1] < LETTERING_HEIGHT * (a[3] - a[1])
                      && (fabsf(depth) < WHOLE_MARGIN || fabsf(depth - 1) < WHOLE_MARGIN);
        }
    }
    int n = 0;
    for (int i = 0; i < res->n_plates; i++)
        if (!drop[i])
            res->plates[n++] = res->plates[i];
    res->n_plates = n;
}

/* Finds and reads every plate of a grey plane; `scale` maps its pixels
 * back to those of the image the caller knows. */
static anpr_code read_plane(anpr_engine *e, const uint8_t *px, int w, int h,
                            int stride, float scale, anpr_result *res)
{
    const anpr_options *o = &e->opt;
    char err[200] = "";
    workspace *ws = borrow(e);
    if (!ws)
        return fail(res, ANPR_ERR_NOMEM, "out of memory");
    int n;
    if (o->whole_plate) {
        detect_box *b = &ws->boxes[0];
        float q[4][2] = {{0, 0}, {(float)w, 0}, {(float)w, (float)h}, {0, (float)h}};
        memcpy(b->q, q, sizeof q);
        b->score = 1;
        n = 1;
    } else {
        n = detect_run(e->det, ws->dw, px, w, h, stride, ws->boxes, ANPR_MAX_PLATES, err, sizeof err);
    }
    res->n_plates = 0;
    anpr_code rc = read_boxes(e, ws, px, w, h, stride, scale, n, 0, res, err, sizeof err);
    if (rc == ANPR_OK && !o->whole_plate) {
        int sure = sure_small(res, w, scale);
        if (!sure) {
            rc = read_faint(e, ws, px, w, h, stride, scale, res, err, sizeof err);
            sure = rc == ANPR_OK && sure_small(res, w, scale);
        }
        if (rc == ANPR_OK)
            rc = read_whole(e, ws, px, w, h, stride, scale, sure, res, err, sizeof err);
    }
    give_back(e, ws);
    if (rc != ANPR_OK)
        return fail(res, rc, err);
    qsort(res->plates, (size_t)res->n_plates, sizeof res->plates[0], by_confidence);
    drop_repeats(res);
    if (!o->whole_plate)
        drop_lettering_and_short(res, o->min_chars);
    return ANPR_OK;
}

static int valid(anpr_engine *e, anpr_result *res)
{
    if (!res)
        return 0;
    memset(res, 0, sizeof *res);
    if (!e) {
        fail(res, ANPR_ERR_ARG, "no engine");
        return 0;
    }
    return 1;
}

anpr_code anpr_read_gray(anpr_engine *e, const uint8_t *pixels, int width, int height,
                         int stride, anpr_result *res)
{
    if (!valid(e, res))
        return ANPR_ERR_ARG;
    double t0 = nn_now_ms();
    if (!pixels || width < 1 || height < 1 || stride < width)
        return fail(res, ANPR_ERR_ARG, "bad pixel plane");
    if ((uint64_t)width * (uint64_t)height > e->opt.max_pixels)
        return fail(res, ANPR_ERR_TOO_LARGE, "frame has more pixels than the limit");
    res->width = width;
    res->height = height;
    anpr_code rc = read_plane(e, pixels, width, height, stride, 1.0f, res);
    res->ms = nn_now_ms() - t0;
    return rc;
}

anpr_code anpr_read_memory(anpr_engine *e, const void *data, size_t len, anpr_result *res)
{
    if (!valid(e, res))
        return ANPR_ERR_ARG;
    double t0 = nn_now_ms();
    if (!data && len)
        return fail(res, ANPR_ERR_ARG, "no data");
    image im;
    int scale = 1;
    char err[200];
    int reduce = e->opt.whole_plate ? 1 : 8;
    int rc = image_decode(data, len, 1, e->opt.max_pixels, reduce, DECODE_MIN_LONG,
                          DECODE_MIN_LONG * 9 / 16, &scale, &im, err, sizeof err);
    if (rc != ANPR_OK)
        return fail(res, (anpr_code)rc, err);
    res->width = im.w * scale;
    res->height = im.h * scale;
    rc = read_plane(e, im.px, im.w, im.h, im.w, (float)scale, res);
    image_free(&im);
    res->ms = nn_now_ms() - t0;
    return (anpr_code)rc;
}

anpr_code anpr_read_file(anpr_engine *e, const char *path, anpr_result *res)
{
    if (!valid(e, res))
        return ANPR_ERR_ARG;
    double t0 = nn_now_ms();
    uint8_t *data;
    size_t len;
    char err[200];
    int rc = image_read_file(path, MAX_FILE_BYTES, &data, &len, err, sizeof err);
    if (rc != ANPR_OK)
        return fail(res, (anpr_code)rc, err);
    rc = anpr_read_memory(e, data, len, res);
    free(data);
    res->ms = nn_now_ms() - t0;
    return (anpr_code)rc;
}
