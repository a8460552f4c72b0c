/*
 * test_nn.c: the nn runtime checked against PyTorch, and its loader against
 * broken and hostile weight files.
 *
 * tests/data/nn_ref_*.bin hold small random networks, inputs of two sizes
 * and PyTorch's outputs for them (train/make_nn_reference.py writes them
 * and documents the container). The hostile files are made here with
 * tests/nn_build.h, each with one defect and a valid CRC so that it reaches
 * the check it is aimed at. The int8 convolution is also checked exactly
 * against its arithmetic spelt out.
 */
#include "nn.h"
#include "nn_build.h"
#include "nn_ops.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* ---- Reference cases ---------------------------------------------------- */

#define MAX_RUNS 4

typedef struct ref {
    uint8_t *file;
    size_t len, pos;
    const uint8_t *nnw;
    uint32_t nnw_len, n_runs;
    nn_tensor in[MAX_RUNS], want[MAX_RUNS];
} ref;

static int take(ref *r, void *dst, size_t n)
{
    if (r->len - r->pos < n)
        return -1;
    memcpy(dst, r->file + r->pos, n);
    r->pos += n;
    return 0;
}

static int take_tensor(ref *r, nn_tensor *t)
{
    uint32_t d[3];
    if (take(r, d, sizeof d) || !d[0] || !d[1] || !d[2])
        return -1;
    size_t n = (size_t)d[0] * d[1] * d[2];
    *t = (nn_tensor){(int)d[0], (int)d[1], (int)d[2], malloc(n * sizeof(float))};
    return t->data ? take(r, t->data, n * sizeof(float)) : -1;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = n > 0 ? malloc((size_t)n) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = p ? (size_t)n : 0;
    return p;
}

/* Parses a container; the test data are little-endian like this host. */
static int ref_open(ref *r, const char *path)
{
    memset(r, 0, sizeof *r);
    if (!(r->file = read_file(path, &r->len)) || r->len < 8 ||
        memcmp(r->file, "NNREF1\0\0", 8))
        return -1;
    r->pos = 8;
    if (take(r, &r->nnw_len, 4) || r->len - r->pos < r->nnw_len)
        return -1;
    r->nnw = r->file + r->pos;
    r->pos += r->nnw_len;
    if (take(r, &r->n_runs, 4) || r->n_runs < 1 || r->n_runs > MAX_RUNS)
        return -1;
    for (uint32_t i = 0; i < r->n_runs; i++)
        if (take_tensor(r, &r->in[i]) || take_tensor(r, &r->want[i]))
            return -1;
    return r->pos == r->len ? 0 : -1;
}

static void ref_close(ref *r)
{
    for (int i = 0; i < MAX_RUNS; i++) {
        free(r->in[i].data);
        free(r->want[i].data);
    }
    free(r->file);
}

/* Largest error relative to the output's scale, or +inf on a wrong shape. */
static double rel_error(const nn_tensor *got, const nn_tensor *want)
{
    if (got->c != want->c || got->h != want->h || got->w != want->w)
        return INFINITY;
    size_t n = (size_t)want->c * want->h * want->w;
    double scale = 1, err = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want->data[i]));
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got->data[i] - want->data[i]);
        err = e > err || isnan(e) ? e : err;
    }
    return err / scale;
}

/* Largest error of an int8 run relative to the output's scale. */
#define INT8_TOLERANCE 0.01

static void check_run(const nn_net *net, nn_work *w, const ref *r, int i,
                      const char *name)
{
    const nn_tensor *out;
    char err[256];
    if (nn_run(net, w, &r->in[i], &out, err, sizeof err)) {
        CHECK(0, "%s run %d: %s", name, i, err);
        return;
    }
    double e = rel_error(out, &r->want[i]);
    CHECK(e <= 1e-4, "%s run %d (%dx%d): got %dx%dx%d, relative error %g",
          name, i, r->in[i].h, r->in[i].w, out->c, out->h, out->w, e);
}

static void test_reference(const char *path, const char *name)
{
    ref r;
    char err[256];
    if (ref_open(&r, path)) {
        CHECK(0, "%s: unreadable reference file", path);
        ref_close(&r);
        return;
    }
    nn_net *net = nn_load(r.nnw, r.nnw_len, err, sizeof err);
    CHECK(net, "%s: %s", name, err);
    nn_work *w = nn_work_new();
    if (net && w) {
        CHECK(nn_meta(net, "test") && !strcmp(nn_meta(net, "test"), "yes"),
              "%s: meta key lost", name);
        CHECK(!nn_meta(net, "absent"), "%s: meta key invented", name);
        /* Every size, then again backwards: each run re-plans its buffers. */
        for (uint32_t i = 0; i < r.n_runs; i++)
            check_run(net, w, &r, (int)i, name);
        for (uint32_t i = r.n_runs; i-- > 0;)
            check_run(net, w, &r, (int)i, name);

        /* A warm run at the same size allocates nothing. */
        const nn_tensor *a, *b;
        nn_run(net, w, &r.in[0], &a, err, sizeof err);
        float *first = a->data;
        uint64_t before = nn_work_allocs(w);
        CHECK(before > 0, "%s: no allocation counted", name);
        CHECK(!nn_run(net, w, &r.in[0], &b, err, sizeof err), "%s", err);
        CHECK(nn_work_allocs(w) == before && b->data == first,
              "%s: a warm run allocated", name);

        /* A fresh workspace gives the same answer as a reused one. */
        nn_work *w2 = nn_work_new();
        check_run(net, w2, &r, 0, name);
        nn_work_free(w2);
        printf("%s: %u-byte network, %u runs\n", name, r.nnw_len, r.n_runs);

        /* In int8 the answer moves by the quantisation steps only: 1/255
         * of each input's range and 1/127 of each weight row's, compounded
         * over the layers; then float again is float exactly as before. */
        nn_set_int8(net, 1);
        for (uint32_t i = 0; i < r.n_runs; i++) {
            const nn_tensor *out;
            if (nn_run(net, w, &r.in[i], &out, err, sizeof err)) {
                CHECK(0, "%s int8 run %u: %s", name, i, err);
                continue;
            }
            double e = rel_error(out, &r.want[i]);
            printf("%s: int8 run %u relative error %.4f\n", name, i, e);
            CHECK(e <= INT8_TOLERANCE, "%s int8 run %u: relative error %g", name, i, e);
        }
        nn_set_int8(net, 0);
        check_run(net, w, &r, 0, name);
    }
    nn_work_free(w);
    nn_free(net);
    ref_close(&r);
}

static void test_references(void)
{
    DIR *d = opendir("tests/data");
    int n = 0;
    CHECK(d, "tests/data: cannot open (run from the repository root)");
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "nn_ref_", 7) || len < 4 ||
            strcmp(e->d_name + len - 4, ".bin"))
            continue;
        char path[512];
        snprintf(path, sizeof path, "tests/data/%s", e->d_name);
        test_reference(path, e->d_name);
        n++;
    }
    if (d)
        closedir(d);
    CHECK(n >= 4, "only %d reference files in tests/data", n);
}

/*
 * The 1x1 convolutions of an upsampling concatenated with a skip in
 * nn_ref_skip.bin (train/make_nn_reference.py) run split, as nn.c's
 * split_concat_convs() says: test_references() checks their values, this
 * that the graph was rewritten where it may be and only there.
 */
static void test_split(void)
{
    static const char *const want[][2] = {
        {"3", "conv2d 1x1/1 g1 gemm 12x3x5 -> 7x3x5"},
        {"4", "upsample 7x3x5 -> 7x6x10"},
        {"5", "conv2d 1x1/1 g1 gemm 8x6x10 -> 7x6x10"},
        {"8", "conv2d 1x1/1 g1 gemm 6x12x20 -> 5x12x20"},
        {"10", "concat 7x12x20 -> 13x12x20"},
        {"11", "conv2d 1x1/1 g1 gemm 13x12x20 -> 4x12x20"},
    };
    ref r;
    char err[256], what[128];
    nn_net *net = NULL;
    nn_work *w = nn_work_new();
    const nn_tensor *out;
    if (ref_open(&r, "tests/data/nn_ref_skip.bin") ||
        !(net = nn_load(r.nnw, r.nnw_len, err, sizeof err)) ||
        nn_run(net, w, &r.in[0], &out, err, sizeof err)) {
        CHECK(0, "nn_ref_skip.bin: %s", net ? err : "unreadable or not loaded");
    } else {
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            nn_layer_describe(net, w, atoi(want[i][0]), what, sizeof what);
            CHECK(!strcmp(what, want[i][1]), "layer %s: %s, want %s", want[i][0], what,
                  want[i][1]);
        }
    }
    nn_work_free(w);
    nn_free(net);
    ref_close(&r);
}

/* ---- int8 convolution, exactly ---------------------------------------- */

/*
 * The int8 product of nn_conv_run() against the arithmetic it promises,
 * spelt out: input bytes round(x / sa) clamped to 0..255 with sa = max /
 * 255, weights round(w / s) per output channel with s = max |w| / 127,
 * exact int32 sums, then one acc * (sa * s) + bias (fused or not: the VNNI
 * kernel fuses it) and ReLU. The shapes are odd on purpose: strides 1 to
 * 3, unequal padding, groups, M not a multiple of 6, output rows and N not
 * multiples of 16, K not a multiple of 4 and past 256; an all-zero input.
 * The float product is checked on the same shapes (the 3x3 ones at stride
 * 1 padded by 1 run as Winograd's), and on some direct convolutions.
 */
static void test_int8_conv(void)
{
    static const struct {
        int in_c, out_c, groups, h, w;
        nn_window win;      /* kh, kw, sh, sw, ph, pw */
    } cases[] = {
        {2, 24, 1, 9, 37, {3, 3, 1, 1, 1, 1}},
        {5, 7, 1, 11, 19, {3, 3, 2, 2, 1, 1}},
        {6, 10, 2, 8, 21, {3, 3, 1, 1, 1, 1}},
        {40, 13, 1, 6, 17, {3, 3, 1, 1, 1, 1}},
        {16, 32, 1, 5, 33, {1, 1, 1, 1, 0, 0}},
        {12, 9, 3, 9, 20, {4, 1, 1, 1, 0, 0}},
        {3, 6, 1, 13, 29, {5, 5, 3, 3, 2, 2}},
        {8, 11, 1, 7, 16, {1, 3, 1, 2, 0, 1}},
        {4, 8, 1, 6, 40, {2, 3, 2, 1, 1, 0}},
        /* Winograd in float (3x3, stride 1, padded by 1): a block of tile
         * rows left over, more input channels than KC (too many for an
         * int8 form), a single pixel. */
        {4, 5, 1, 50, 6, {3, 3, 1, 1, 1, 1}},
        {300, 7, 1, 5, 9, {3, 3, 1, 1, 1, 1}},
        {3, 8, 1, 1, 1, {3, 3, 1, 1, 1, 1}},
        /* Direct convolutions, float only: 3x3 at strides 1 and 2 (own
         * kernels), a channel multiplier, and more than 9 taps. At stride
         * 2 padded by 1 a row kernel reads the input in place: one input
         * channel for 16 outputs (the detector's stem), a multiplier, rows
         * of 8, 16 and more outputs, and of fewer than 8. */
        {6, 6, 6, 11, 29, {3, 3, 1, 1, 1, 1}},
        {3, 3, 3, 9, 40, {3, 3, 2, 2, 1, 1}},
        {2, 6, 2, 7, 21, {3, 3, 2, 1, 1, 1}},
        {1, 5, 1, 9, 23, {5, 4, 1, 2, 2, 1}},
        {1, 16, 1, 13, 37, {3, 3, 2, 2, 1, 1}},
        {2, 6, 2, 8, 32, {3, 3, 2, 2, 1, 1}},
        {4, 4, 4, 6, 15, {3, 3, 2, 2, 1, 1}},
        {1, 3, 1, 5, 3, {3, 3, 2, 2, 1, 1}},
    };
    uint32_t seed = 11;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        nn_window win = cases[t].win;
        int in_c = cases[t].in_c, out_c = cases[t].out_c, groups = cases[t].groups;
        int h = cases[t].h, w = cases[t].w, cpg = in_c / groups, per = out_c / groups;
        int oh = (int)nn_window_out(h, win.kh, win.sh, win.ph);
        int ow = (int)nn_window_out(w, win.kw, win.sw, win.pw);
        size_t k = (size_t)cpg * win.kh * win.kw, n_in = (size_t)in_c * h * w;
        size_t n_out = (size_t)out_c * oh * ow;
        float *wt = malloc(sizeof(float) * out_c * k), *b = malloc(sizeof(float) * out_c);
        float *in = malloc(sizeof(float) * n_in), *out = malloc(sizeof(float) * n_out);
        float *ws = malloc(sizeof(float) * out_c);
        int *wq = malloc(sizeof(int) * out_c * k);
        uint8_t *q = malloc(n_in);
        for (size_t i = 0; i < (size_t)out_c * k; i++)
            wt[i] = nnb_rand(&seed);
        for (int o = 0; o < out_c; o++)
            b[o] = nnb_rand(&seed);
        nn_conv cv = {.in_c = in_c, .out_c = out_c, .groups = groups, .act = NN_ACT_RELU,
                      .win = win};
        CHECK(!nn_conv_prepare(&cv, wt, b) && (cv.w8 || cv.direct || k > NN_INT8_MAX_K),
              "case %zu: no int8 form", t);
        CHECK(!cv.wino == (cv.direct || groups > 1 || win.kh != 3 || win.kw != 3 || win.sh != 1 ||
                           win.sw != 1 || win.ph != 1 || win.pw != 1),
              "case %zu: Winograd form %s", t, cv.wino ? "made" : "missing");
        cv.use_int8 = 1;
        float *scratch = nn_alloc_aligned(sizeof(float) * nn_conv_scratch(&cv, h, w));
        for (int o = 0; o < out_c; o++) {
            float big = 0;
            for (size_t i = 0; i < k; i++)
                big = fmaxf(big, fabsf(wt[o * k + i]));
            ws[o] = big > 0 ? big / 127 : 1;
            for (size_t i = 0; i < k; i++)
                wq[o * k + i] = (int)lrintf(wt[o * k + i] / ws[o]);
        }
        /* A random input with a quarter zeros, then t == 0's all zero. */
        for (int zero = 0; cv.w8 && zero < (t ? 1 : 2); zero++) {
            float big = 0;
            for (size_t i = 0; i < n_in; i++) {
                float x = nnb_rand(&seed) * 3;
                in[i] = zero || x < -1.5f ? 0 : x + 1.5f;
                big = fmaxf(big, in[i]);
            }
            in[n_in / 2] = -0.0f; /* as a ReLU passes it on: not negative */
            float sa = big > 0 ? big / 255 : 1, inv = 1 / sa;
            for (size_t i = 0; i < n_in; i++) {
                float x = rintf(in[i] * inv);
                q[i] = (uint8_t)(x > 255 ? 255 : x);
            }
            nn_conv_run(&cv, in, h, w, out, oh, ow, scratch);
            int bad = 0;
            for (int o = 0; o < out_c; o++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++) {
                        int32_t acc = 0;
                        for (int c = 0; c < cpg; c++)
                            for (int ky = 0; ky < win.kh; ky++)
                                for (int kx = 0; kx < win.kw; kx++) {
                                    int y = oy * win.sh - win.ph + ky;
                                    int x = ox * win.sw - win.pw + kx;
                                    if (y < 0 || y >= h || x < 0 || x >= w)
                                        continue;
                                    int ci = o / per * cpg + c;
                                    acc += q[((size_t)ci * h + y) * w + x] *
                                           wq[o * k + ((size_t)c * win.kh + ky) * win.kw + kx];
                                }
                        /* Each operation rounded to float once, through
                         * double (exact for a float + or x), or fused. */
                        float s = sa * ws[o];
                        float y1 = (float)((double)(float)((double)acc * s) + b[o]);
                        float y2 = fmaf((float)acc, s, b[o]);
                        float got = out[((size_t)o * oh + oy) * ow + ox];
                        bad += got != (y1 < 0 ? 0 : y1) && got != (y2 < 0 ? 0 : y2);
                    }
            CHECK(!bad, "int8 case %zu%s: %d of %zu outputs differ", t,
                  zero ? " (zero input)" : "", bad, n_out);
        }
        /* The float product on the same shapes, whose B panels are packed
         * the same ways: against sums in double. */
        cv.use_int8 = 0;
        for (size_t i = 0; i < n_in; i++)
            in[i] = nnb_rand(&seed);
        nn_conv_run(&cv, in, h, w, out, oh, ow, scratch);
        double worst = 0;
        for (int o = 0; o < out_c; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = b[o];
                    for (int c = 0; c < cpg; c++)
                        for (int ky = 0; ky < win.kh; ky++)
                            for (int kx = 0; kx < win.kw; kx++) {
                                int y = oy * win.sh - win.ph + ky;
                                int x = ox * win.sw - win.pw + kx;
                                if (y >= 0 && y < h && x >= 0 && x < w)
                                    acc += (double)in[((size_t)(o / per * cpg + c) * h + y) * w + x] *
                                           wt[o * k + ((size_t)c * win.kh + ky) * win.kw + kx];
                            }
                    double e = fabs(out[((size_t)o * oh + oy) * ow + ox] - (acc < 0 ? 0 : acc));
                    worst = e > worst || isnan(e) ? e : worst;
                }
        CHECK(worst <= 1e-4, "float case %zu: error %g", t, worst);
        nn_conv_release(&cv);
        free(scratch);
        free(wt);
        free(b);
        free(in);
        free(out);
        free(ws);
        free(wq);
        free(q);
    }
}

/*
 * Max pooling folds each window from minus infinity in (ky, kx) order,
 * keeping the old value unless the new one is larger: a NaN never wins and
 * of two zeros the first stays. The 2x2 and 2x1 windows have their own
 * loop, the others the general one; both must do exactly that.
 */
static void test_maxpool(void)
{
    static const nn_window wins[] = {
        {2, 2, 2, 2, 0, 0}, {2, 1, 2, 1, 0, 0}, {3, 3, 2, 2, 1, 1}, {2, 2, 1, 1, 0, 0},
    };
    const float special[] = {0.0f, -0.0f, NAN, -INFINITY, INFINITY};
    enum { C = 3, H = 7, W = 37 };
    float in[C * H * W], out[C * H * W], want;
    uint32_t seed = 17;
    for (int i = 0; i < C * H * W; i++) {
        float x = nnb_rand(&seed);
        in[i] = x > 0.5f ? special[i % 5] : x;
    }
    for (size_t t = 0; t < sizeof wins / sizeof wins[0]; t++) {
        const nn_window *p = &wins[t];
        int oh = (int)nn_window_out(H, p->kh, p->sh, p->ph);
        int ow = (int)nn_window_out(W, p->kw, p->sw, p->pw), bad = 0;
        nn_maxpool(in, C, H, W, p, out, oh, ow);
        for (int c = 0; c < C; c++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    want = -INFINITY;
                    for (int ky = 0; ky < p->kh; ky++)
                        for (int kx = 0; kx < p->kw; kx++) {
                            int y = oy * p->sh - p->ph + ky, x = ox * p->sw - p->pw + kx;
                            float v = y < 0 || y >= H || x < 0 || x >= W
                                          ? -INFINITY : in[(c * H + y) * W + x];
                            want = v > want ? v : want;
                        }
                    bad += memcmp(&want, &out[(c * oh + oy) * ow + ox], sizeof want) != 0;
                }
        CHECK(!bad, "max pool %dx%d stride %dx%d: %d outputs differ", p->kh, p->kw, p->sh,
              p->sw, bad);
    }
}

/* ---- Hostile files ----------------------------------------------------- */

/* A valid 2x8x8 network using every op, 8 layers, under 1 KiB. */
static void build_small(nnb *b)
{
    uint32_t seed = 7;
    nnb_header(b, NN_KIND_DETECTOR, 2, 8, 8, "name=small\nstride=4\n", 8);
    nnb_conv(b, 0, 2, 4, 3, 3, 1, 1, 1, 1, 1, 1, &seed);           /* 1 */
    nnb_layer(b, 2, 1, (int[]){1}, 6, (int[]){3, 3, 2, 2, 1, 1}, 0); /* 2 */
    nnb_layer(b, 4, 1, (int[]){2}, 1, (int[]){2}, 0);              /* 3 */
    nnb_layer(b, 5, 2, (int[]){3, 1}, 0, NULL, 0);                 /* 4 */
    nnb_conv(b, 4, 8, 8, 3, 3, 1, 1, 1, 1, 8, 0, &seed);           /* 5 */
    nnb_layer(b, 6, 2, (int[]){5, 4}, 1, (int[]){1}, 0);           /* 6 */
    nnb_layer(b, 3, 1, (int[]){6}, 4, (int[]){2, 2, 2, 2}, 0);     /* 7 */
    nnb_layer(b, 7, 1, (int[]){7}, 1, (int[]){2}, 0);              /* 8 */
    nnb_finish(b);
}

static nn_net *load_quiet(const uint8_t *p, size_t len, char *err, size_t n)
{
    err[0] = '\0';
    return nn_load(p, len, err, n);
}

static void test_small_valid(void)
{
    nnb b = {0};
    char err[256];
    build_small(&b);
    nn_net *net = load_quiet(b.p, b.len, err, sizeof err);
    CHECK(net, "small network: %s", err);
    if (!net) {
        free(b.p);
        return;
    }
    int c, h, w;
    nn_input_shape(net, &c, &h, &w);
    CHECK(c == 2 && h == 8 && w == 8, "input shape %dx%dx%d", c, h, w);
    CHECK(nn_kind(net) == NN_KIND_DETECTOR, "kind %d", nn_kind(net));
    CHECK(nn_meta(net, "stride") && !strcmp(nn_meta(net, "stride"), "4"),
          "meta stride");

    float in[2 * 8 * 8];
    for (int i = 0; i < 2 * 8 * 8; i++)
        in[i] = (float)(i % 7) - 3;
    nn_work *work = nn_work_new();
    const nn_tensor *out;
    nn_tensor t = {2, 8, 8, in};
    char what[128];
    CHECK(nn_layer_describe(net, work, 1, what, sizeof what) < 0, "described before a run");
    CHECK(!nn_run(net, work, &t, &out, err, sizeof err), "%s", err);
    CHECK(out->c == 8 && out->h == 4 && out->w == 4, "output %dx%dx%d",
          out->c, out->h, out->w);
    for (int i = 0; i < 8 * 4 * 4; i++)
        CHECK(out->data[i] >= 0.5f && out->data[i] <= 1, "sigmoid of a ReLU");

    /* What nn_bench --layers prints, and the per-layer timing it sums. */
    CHECK(nn_layers(net) == 8, "%d layers", nn_layers(net));
    CHECK(nn_layer_describe(net, work, 1, what, sizeof what) == 4 * 8 * 8 * 2 * 9 &&
          !strcmp(what, "conv2d 3x3/1 g1 winograd 2x8x8 -> 4x8x8"), "layer 1: %s", what);
    CHECK(nn_layer_describe(net, work, 5, what, sizeof what) == 8 * 8 * 8 * 9 &&
          !strcmp(what, "conv2d 3x3/1 g8 direct 8x8x8 -> 8x8x8"), "layer 5: %s", what);
    CHECK(nn_layer_describe(net, work, 4, what, sizeof what) == 0 &&
          !strcmp(what, "concat 4x8x8 -> 8x8x8"), "layer 4: %s", what);
    CHECK(nn_layer_describe(net, work, 0, what, sizeof what) < 0 &&
          nn_layer_describe(net, work, 9, what, sizeof what) < 0, "layers out of range");
    double ms[8] = {0}, sum = 0;
    nn_work_profile(work, ms);
    CHECK(!nn_run(net, work, &t, &out, err, sizeof err), "profiled: %s", err);
    nn_work_profile(work, NULL);
    for (int i = 0; i < 8; i++) {
        CHECK(ms[i] >= 0, "layer %d took %g ms", i + 1, ms[i]);
        sum += ms[i];
    }
    CHECK(sum > 0, "no time profiled");
    CHECK(!nn_run(net, work, &t, &out, err, sizeof err), "%s", err);
    double again = 0;
    for (int i = 0; i < 8; i++)
        again += ms[i];
    CHECK(again == sum, "profiled after nn_work_profile(NULL)");

    /* Refusals at run time leave the workspace usable. */
    t = (nn_tensor){3, 8, 8, in};
    CHECK(nn_run(net, work, &t, &out, err, sizeof err) && strstr(err, "channels"),
          "wrong channel count: %s", err);
    t = (nn_tensor){2, 1, 1, in};
    CHECK(nn_run(net, work, &t, &out, err, sizeof err) && strstr(err, "inputs of"),
          "1x1 input: %s", err);
    t = (nn_tensor){2, 8, 8, in};
    nn_work_set_max_bytes(work, 1000);
    CHECK(nn_run(net, work, &t, &out, err, sizeof err) && strstr(err, "limit"),
          "byte cap: %s", err);
    CHECK(nn_layer_describe(net, work, 1, what, sizeof what) < 0, "described a failed run");
    nn_work_set_max_bytes(work, NN_MAX_BYTES_DEFAULT);
    CHECK(!nn_run(net, work, &t, &out, err, sizeof err), "after errors: %s", err);
    CHECK(nn_run(net, work, NULL, &out, err, sizeof err), "NULL input accepted");

    nn_work_free(work);
    nn_free(net);
    free(b.p);
}

/*
 * 30 chained layers plus a skip from the first to the last need three
 * live tensors, not 31: outputs are handed back once their last reader
 * has run. One workspace also serves two networks in turn.
 */
static void test_liveness(void)
{
    nnb b = {0}, small = {0};
    char err[256];
    uint32_t seed = 5;
    nnb_header(&b, NN_KIND_DETECTOR, 4, 16, 16, "", 31);
    for (int i = 0; i < 30; i++)
        nnb_conv(&b, i, 4, 4, 1, 1, 1, 1, 0, 0, 4, 1, &seed);
    nnb_layer(&b, 6, 2, (int[]){30, 1}, 1, (int[]){0}, 0);
    nnb_finish(&b);
    build_small(&small);
    nn_net *net = load_quiet(b.p, b.len, err, sizeof err);
    CHECK(net, "chain: %s", err);
    nn_net *other = load_quiet(small.p, small.len, err, sizeof err);
    CHECK(other, "small: %s", err);
    nn_work *w = nn_work_new();
    float in[4 * 16 * 16] = {0};
    nn_tensor t = {4, 16, 16, in}, t2 = {2, 8, 8, in};
    const nn_tensor *out;
    if (net && other && w) {
        CHECK(!nn_run(net, w, &t, &out, err, sizeof err), "chain: %s", err);
        CHECK(nn_work_bytes(w) == 3 * sizeof in, "chain holds %zu bytes, "
              "expected %zu", nn_work_bytes(w), 3 * sizeof in);
        CHECK(!nn_run(other, w, &t2, &out, err, sizeof err), "small: %s", err);
        CHECK(out->c == 8 && out->h == 4 && out->w == 4, "small after chain");
        CHECK(!nn_run(net, w, &t, &out, err, sizeof err), "chain again: %s", err);
        CHECK(out->c == 4 && out->h == 16 && out->w == 16, "chain after small");
    }
    nn_work_free(w);
    nn_free(net);
    nn_free(other);
    free(b.p);
    free(small.p);
}

static void test_truncations(void)
{
    nnb b = {0};
    char err[256];
    build_small(&b);
    uint8_t *p = malloc(b.len);
    for (size_t n = 0; n < b.len; n++) {
        /* The prefix as it is (the CRC catches it), then with a fresh CRC
         * so that the parser's own bounds checks must catch it. */
        memcpy(p, b.p, n);
        nn_net *net = load_quiet(p, n, err, sizeof err);
        CHECK(!net && err[0], "truncation to %zu bytes accepted", n);
        nn_free(net);
        if (n < 8)
            continue;
        uint32_t crc = nn_crc32(p, n - 4);
        for (int i = 0; i < 4; i++)
            p[n - 4 + i] = (uint8_t)(crc >> 8 * i);
        net = load_quiet(p, n, err, sizeof err);
        CHECK(!net && err[0], "truncation to %zu bytes with its CRC accepted", n);
        nn_free(net);
    }
    free(p);
    free(b.p);
}

static void test_flips(void)
{
    nnb b = {0};
    char err[256];
    build_small(&b);
    for (size_t i = 0; i < b.len; i++)
        for (int bit = 0; bit < 8; bit++) {
            b.p[i] ^= (uint8_t)(1 << bit);
            nn_net *net = load_quiet(b.p, b.len, err, sizeof err);
            CHECK(!net, "bit %d of byte %zu flipped: accepted", bit, i);
            CHECK(i < 12 || strstr(err, "CRC"),
                  "byte %zu flipped: \"%s\" does not blame the CRC", i, err);
            nn_free(net);
            b.p[i] ^= (uint8_t)(1 << bit);
        }
    free(b.p);
}

/* Small files with one defect each, and words their refusal must contain. */
static const struct {
    const char *defect, *expect;
} bad[] = {
    {"unknown op", "unknown op"},
    {"conv with 8 parameters", "parameters"},
    {"weight for 3 input channels", "dimension 1"},
    {"bias of the wrong length", "dimension 0"},
    {"absurd layer count", "layer count"},
    {"no layers", "layer count"},
    {"weight with 1000 dimensions", "dimensions"},
    {"input from a later layer", "earlier"},
    {"negative input", "earlier"},
    {"groups not dividing channels", "bad parameters"},
    {"stride 0", "bad parameters"},
    {"kernel 0", "bad parameters"},
    {"max pooling padded over half a window", "bad parameters"},
    {"upsample by 0", "bad parameters"},
    {"upsample by 1000", "bad parameters"},
    {"concat of one input", "inputs"},
    {"concat of 2^31 inputs", "truncated"},
    {"add of different channel counts", "bad parameters"},
    {"concat of different sizes", "inputs of"},
    {"activation 7", "bad parameters"},
    {"kernel larger than the input", "too small"},
    {"4 GiB of activations", "limit"},
    {"kind 4", "kind"},
    {"version 2", "version"},
    {"bad magic", "magic"},
    {"meta line without '='", "meta"},
    {"input of 0 channels", "input shape"},
    {"stray bytes after the layers", "stray"},
    {"weights on a pooling layer", "weight tensors"},
    {"conv without its bias", "weight tensors"},
    {"conv of 2^16 x 2^16 channels", "truncated"},
    {"2^32-1 parameters", "parameters"},
    {"meta longer than the file", "meta"},
};

static void build_bad(nnb *b, int which)
{
    uint32_t seed = 3;
    int conv[] = {4, 3, 3, 1, 1, 1, 1, 1, 1};
    int wd[] = {4, 2, 3, 3};
    int one[] = {0};
    nnb_header(b, NN_KIND_DETECTOR, 2, 8, 8, "name=bad\n", 1);
    switch (which) {
    case 0: nnb_layer(b, 99, 1, one, 0, NULL, 0); break;
    case 1: nnb_layer(b, 1, 1, one, 8, conv, 2); break;
    case 2:
        wd[1] = 3;
        nnb_layer(b, 1, 1, one, 9, conv, 2);
        nnb_tensor(b, 4, wd, 1, &seed);
        nnb_tensor(b, 1, wd, 1, &seed);
        break;
    case 3:
        nnb_layer(b, 1, 1, one, 9, conv, 2);
        nnb_tensor(b, 4, wd, 1, &seed);
        nnb_tensor(b, 1, (int[]){5}, 1, &seed);
        break;
    case 4: b->len -= 4; nnb_u32(b, 0xFFFFFFFFu); nnb_layer(b, 7, 1, one, 1, one, 0); break;
    case 5: b->len -= 4; nnb_u32(b, 0); nnb_layer(b, 7, 1, one, 1, one, 0); break;
    case 6:
        nnb_layer(b, 1, 1, one, 9, conv, 2);
        nnb_u32(b, 1000);
        for (int i = 0; i < 1000; i++)
            nnb_u32(b, 4);
        break;
    case 7: nnb_layer(b, 7, 1, (int[]){1}, 1, one, 0); break;
    case 8: nnb_layer(b, 7, 1, (int[]){-1}, 1, one, 0); break;
    case 9: conv[7] = 3; nnb_layer(b, 1, 1, one, 9, conv, 2); break;
    case 10: conv[3] = 0; nnb_layer(b, 1, 1, one, 9, conv, 2); break;
    case 11: conv[1] = 0; nnb_layer(b, 1, 1, one, 9, conv, 2); break;
    case 12: nnb_layer(b, 2, 1, one, 6, (int[]){2, 2, 2, 2, 2, 0}, 0); break;
    case 13: nnb_layer(b, 4, 1, one, 1, (int[]){0}, 0); break;
    case 14: nnb_layer(b, 4, 1, one, 1, (int[]){1000}, 0); break;
    case 15: nnb_layer(b, 5, 1, one, 0, NULL, 0); break;
    case 16:
        nnb_u32(b, 5);
        nnb_u32(b, 0x7FFFFFFFu);
        nnb_u32(b, 0);
        nnb_u32(b, 0);
        break;
    case 17:
        b->len -= 4;
        nnb_u32(b, 2);
        nnb_conv(b, 0, 2, 4, 3, 3, 1, 1, 1, 1, 1, 1, &seed);
        nnb_layer(b, 6, 2, (int[]){1, 0}, 1, one, 0);
        break;
    case 18:
        b->len -= 4;
        nnb_u32(b, 2);
        nnb_layer(b, 2, 1, one, 6, (int[]){2, 2, 2, 2, 0, 0}, 0);
        nnb_layer(b, 5, 2, (int[]){1, 0}, 0, NULL, 0);
        break;
    case 19: nnb_layer(b, 7, 1, one, 1, (int[]){7}, 0); break;
    case 20:
        conv[1] = conv[2] = 9;
        conv[5] = conv[6] = 0;
        wd[2] = wd[3] = 9;
        nnb_layer(b, 1, 1, one, 9, conv, 2);
        nnb_tensor(b, 4, wd, 1, &seed);
        nnb_tensor(b, 1, wd, 1, &seed);
        break;
    case 21:
        b->len = 0;
        nnb_header(b, NN_KIND_DETECTOR, 1, 4096, 4096, "", 1);
        nnb_layer(b, 4, 1, one, 1, (int[]){8}, 0);
        break;
    case 22: b->p[12] = 4; nnb_layer(b, 7, 1, one, 1, one, 0); break;
    case 23: b->p[8] = 2; nnb_layer(b, 7, 1, one, 1, one, 0); break;
    case 24: b->p[0] = 'B'; nnb_layer(b, 7, 1, one, 1, one, 0); break;
    case 25:
        b->len = 0;
        nnb_header(b, NN_KIND_DETECTOR, 2, 8, 8, "name\n", 1);
        nnb_layer(b, 7, 1, one, 1, one, 0);
        break;
    case 26: b->p[16] = 0; nnb_layer(b, 7, 1, one, 1, one, 0); break;
    case 27: nnb_layer(b, 7, 1, one, 1, one, 0); nnb_u32(b, 0); break;
    case 28:
        nnb_layer(b, 2, 1, one, 6, (int[]){2, 2, 2, 2, 0, 0}, 1);
        nnb_tensor(b, 1, (int[]){1}, 1, &seed);
        break;
    case 29:
        nnb_layer(b, 1, 1, one, 9, conv, 1);
        nnb_tensor(b, 4, wd, 1, &seed);
        break;
    case 30:
        b->len = 0;
        nnb_header(b, NN_KIND_DETECTOR, 65536, 8, 8, "", 1);
        conv[0] = 65536;
        nnb_layer(b, 1, 1, one, 9, conv, 2);
        nnb_u32(b, 4);
        for (int i = 0; i < 4; i++)
            nnb_u32(b, (uint32_t)(i < 2 ? 65536 : 3));
        break;
    case 31: nnb_u32(b, 7); nnb_u32(b, 1); nnb_u32(b, 0); nnb_u32(b, 0xFFFFFFFFu); break;
    case 32: b->p[28] = 200; nnb_layer(b, 7, 1, one, 1, one, 0); break;
    }
    nnb_finish(b);
}

static void test_bad_files(void)
{
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nnb b = {0};
        build_bad(&b, (int)i);
        nn_net *net = load_quiet(b.p, b.len, err, sizeof err);
        CHECK(!net, "%s: accepted", bad[i].defect);
        CHECK(strstr(err, bad[i].expect), "%s: refused with \"%s\", wanted \"%s\"",
              bad[i].defect, err, bad[i].expect);
        nn_free(net);
        free(b.p);
    }
    CHECK(!nn_load(NULL, 100, err, sizeof err), "NULL data accepted");
    CHECK(nn_crc32("123456789", 9) == 0xCBF43926u, "CRC-32 check value");
}

int main(void)
{
    test_references();
    test_split();
    test_int8_conv();
    test_maxpool();
    test_small_valid();
    test_liveness();
    test_truncations();
    test_flips();
    test_bad_files();
    if (failures) {
        fprintf(stderr, "test_nn: %d failures\n", failures);
        return 1;
    }
    puts("test_nn: ok");
    return 0;
}
