/*
 * nn_bench.c: speed of the nn runtime on networks shaped like anpr's.
 *
 *   nn_bench [--repeat N] [--only G] [--size HxW] [--layers] [FILE.nnw...]
 *
 * Times three built-in graphs with random weights: the recogniser as the
 * brief sketched it, the recogniser of train/rec_train.py (32x128 grey
 * crop) and the backbone of train/det_model.py (288x512 frame, depthwise
 * blocks). For each it prints the median and fastest microseconds of
 * nn_run, the GFLOP/s they make (2 per multiply-add), and, as the
 * baseline measured in the same run, the same graph by plain direct
 * convolution (see naive_conv), with the speed-up of the medians and the
 * largest difference between the two outputs. Weight files named on the
 * command line are timed too, at their own input shape, in float and in
 * int8 (see nn_set_int8), with uniform inputs in [-1, 1). The core's AVX2
 * FMA peak, measured first, puts the GFLOP/s in proportion. --only G times
 * graph G (0, 1 or 2) alone and skips the baseline, for profiling.
 * --size times the files at an input of H x W instead (the detector's
 * second look is 96x160); --layers adds, per file, each layer's mean time
 * in float over the runs, its shape and the path it takes, and the
 * GFLOP/s of each convolution: where the time of a whole network goes.
 *
 * Build and run from the repository root (bench/CMakeLists.txt):
 *   cmake -B build -DCMAKE_BUILD_TYPE=Release && make -C build nn_bench
 *   build/bench/nn_bench models/recogniser.nnw
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "nn.h"
#include "../tests/nn_build.h"
#include "bench.h"

/* One layer of a benchmark graph: a convolution, or a max pooling if !out_c. */
typedef struct spec {
    int out_c, kh, kw, sh, sw, ph, pw, groups;
} spec;

#define CONV(c, kh, kw, ph, pw) {c, kh, kw, 1, 1, ph, pw, 1}
#define POOL(kh, kw) {0, kh, kw, kh, kw, 0, 0, 1}
#define DWS(cin, cout, s) {cin, 3, 3, s, s, 1, 1, cin}, {cout, 1, 1, 1, 1, 0, 0, 1}

static const spec brief[] = {
    CONV(32, 3, 3, 1, 1), POOL(2, 2), CONV(64, 3, 3, 1, 1), POOL(2, 2),
    CONV(128, 3, 3, 1, 1), CONV(128, 3, 3, 1, 1), POOL(2, 1),
    CONV(256, 3, 3, 1, 1), POOL(2, 1), CONV(256, 2, 1, 0, 0), CONV(37, 1, 1, 0, 0),
};
static const spec recogniser[] = {
    CONV(24, 3, 3, 1, 1), POOL(2, 2), CONV(48, 3, 3, 1, 1), POOL(2, 2),
    CONV(64, 3, 3, 1, 1), POOL(2, 1), CONV(128, 3, 3, 1, 1),
    CONV(160, 4, 1, 0, 0), CONV(160, 1, 3, 0, 1), CONV(160, 1, 3, 0, 1),
    CONV(37, 1, 1, 0, 0),
};
static const spec detector[] = {
    {16, 3, 3, 2, 2, 1, 1, 1}, DWS(16, 32, 2), DWS(32, 32, 1),
    DWS(32, 64, 2), DWS(64, 64, 1), DWS(64, 96, 2), DWS(96, 96, 1),
    DWS(96, 96, 1), DWS(96, 128, 2), DWS(128, 128, 1), DWS(128, 128, 1),
};

static const struct {
    const char *name;
    const spec *layers;
    int n, h, w;
} graphs[] = {
    {"recogniser (brief's sketch) 32x128", brief, sizeof brief / sizeof *brief, 32, 128},
    {"recogniser (rec_train.py) 32x128", recogniser,
     sizeof recogniser / sizeof *recogniser, 32, 128},
    {"detector backbone 288x512", detector, sizeof detector / sizeof *detector, 288, 512},
};

static double now_us(void)
{
    return 1e3 * bench_now_ms();
}

/*
 * The core's AVX2 FMA peak in GFLOP/s, from twelve independent FMA chains
 * (enough to hide the latency), best of many short bursts so that a busy
 * machine's preemptions drop out; 0 where there is no AVX2.
 */
#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static double fma_peak(void)
{
    /* Distinct starting values, or the compiler would fold the chains. */
    __m256 x = _mm256_set1_ps(0.9999f), y = _mm256_set1_ps(1e-4f);
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2);
    __m256 a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5);
    __m256 a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7), a8 = _mm256_set1_ps(8);
    __m256 a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
    double best = 0;
    for (int rep = 0; rep < 300; rep++) {
        double t0 = now_us();
        for (int n = 0; n < 50000; n++) {
#define FMA3(p, q, r) p = _mm256_fmadd_ps(p, x, y); q = _mm256_fmadd_ps(q, x, y); \
                      r = _mm256_fmadd_ps(r, x, y)
            FMA3(a0, a1, a2);
            FMA3(a3, a4, a5);
            FMA3(a6, a7, a8);
            FMA3(a9, a10, a11);
#undef FMA3
            /* Keep every chain live so none is optimised away. */
            __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4),
                             "+x"(a5), "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9),
                             "+x"(a10), "+x"(a11));
        }
        double g = 50000.0 * 12 * 16 / (now_us() - t0) / 1e3;
        best = g > best ? g : best;
    }
    return best;
}
#endif

static double peak_gflops(void)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return fma_peak();
#endif
    return 0;
}

/* ---- The baseline: the graph by textbook loops ------------------------- */

typedef struct tensor {
    int c, h, w;
    float *d;
} tensor;

static int out_len(int in, int k, int s, int p)
{
    return (in + 2 * p - k) / s + 1;
}

/*
 * Direct convolution with ReLU as one would first write it: a loop order
 * that walks output rows contiguously (so the compiler vectorises the
 * stride-1 case), no blocking, no packing, no intrinsics.
 */
static void naive_conv(const tensor *x, const spec *s, const float *wt,
                       const float *b, tensor *y)
{
    int cpg = x->c / s->groups, opg = s->out_c / s->groups;
    *y = (tensor){s->out_c, out_len(x->h, s->kh, s->sh, s->ph),
                  out_len(x->w, s->kw, s->sw, s->pw), NULL};
    y->d = malloc(sizeof(float) * (size_t)y->c * y->h * y->w);
    for (int o = 0; o < y->c; o++) {
        float *out = y->d + (size_t)o * y->h * y->w;
        for (int i = 0; i < y->h * y->w; i++)
            out[i] = b[o];
        for (int ci = 0; ci < cpg; ci++) {
            const float *in = x->d + (size_t)(o / opg * cpg + ci) * x->h * x->w;
            for (int ky = 0; ky < s->kh; ky++)
                for (int kx = 0; kx < s->kw; kx++) {
                    float wv = wt[((size_t)(o * cpg + ci) * s->kh + ky) * s->kw + kx];
                    for (int oy = 0; oy < y->h; oy++) {
                        int iy = oy * s->sh - s->ph + ky;
                        if (iy < 0 || iy >= x->h)
                            continue;
                        for (int ox = 0; ox < y->w; ox++) {
                            int ix = ox * s->sw - s->pw + kx;
                            if (ix >= 0 && ix < x->w)
                                out[oy * y->w + ox] += wv * in[iy * x->w + ix];
                        }
                    }
                }
        }
        for (int i = 0; i < y->h * y->w; i++)
            out[i] = out[i] > 0 ? out[i] : 0;
    }
}

static void naive_pool(const tensor *x, const spec *s, tensor *y)
{
    *y = (tensor){x->c, x->h / s->kh, x->w / s->kw, NULL};
    y->d = malloc(sizeof(float) * (size_t)y->c * y->h * y->w);
    for (int c = 0; c < y->c; c++)
        for (int oy = 0; oy < y->h; oy++)
            for (int ox = 0; ox < y->w; ox++) {
                float m = -INFINITY;
                for (int ky = 0; ky < s->kh; ky++)
                    for (int kx = 0; kx < s->kw; kx++) {
                        float v = x->d[((size_t)c * x->h + oy * s->kh + ky) * x->w +
                                       ox * s->kw + kx];
                        m = v > m ? v : m;
                    }
                y->d[((size_t)c * y->h + oy) * y->w + ox] = m;
            }
}

/* Runs the graph naively; weights[i]/biases[i] are conv i's, in order. */
static tensor naive_run(const spec *L, int n, float **weights, float **biases,
                        const tensor *in)
{
    tensor x = *in, y;
    for (int i = 0, k = 0; i < n; i++) {
        if (L[i].out_c) {
            naive_conv(&x, &L[i], weights[k], biases[k], &y);
            k++;
        } else {
            naive_pool(&x, &L[i], &y);
        }
        if (x.d != in->d)
            free(x.d);
        x = y;
    }
    return x;
}

/* ---- Timing ------------------------------------------------------------ */

/*
 * Median microseconds of `repeat` runs after one warm-up run, and the
 * fastest in *best: on a shared machine the median drifts with the load,
 * the fastest run much less.
 */
static double time_nn(const nn_net *net, nn_work *w, const nn_tensor *in,
                      int repeat, const nn_tensor **out, double *best)
{
    char err[256];
    double *t = malloc(sizeof(double) * (size_t)repeat);
    if (nn_run(net, w, in, out, err, sizeof err)) {
        fprintf(stderr, "nn_run: %s\n", err);
        exit(1);
    }
    for (int i = 0; i < repeat; i++) {
        double t0 = now_us();
        nn_run(net, w, in, out, err, sizeof err);
        t[i] = now_us() - t0;
    }
    double m = bench_median(t, repeat);
    *best = t[0];
    free(t);
    return m;
}

static void bench_graph(int g, int repeat, int baseline, double peak)
{
    const spec *L = graphs[g].layers;
    int n = graphs[g].n, c = 1, h = graphs[g].h, w = graphs[g].w, n_conv = 0;
    double macs = 0;
    uint32_t seed = 12345;
    nnb b = {0};
    float *wts[64], *bias[64];

    nnb_header(&b, NN_KIND_RECOGNISER, 1, h, w, "name=bench\n", (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const spec *s = &L[i];
        if (!s->out_c) {
            int p[] = {s->kh, s->kw, s->sh, s->sw, 0, 0};
            nnb_layer(&b, 2, 1, (int[]){i}, 6, p, 0);
            h /= s->kh;
            w /= s->kw;
            continue;
        }
        /* Write the layer, then read its weights back for the baseline. */
        size_t at = b.len;
        nnb_conv(&b, i, c, s->out_c, s->kh, s->kw, s->sh, s->sw, s->ph, s->pw,
                 s->groups, 1, &seed);
        size_t nw = (size_t)s->out_c * (c / s->groups) * s->kh * s->kw;
        const uint8_t *p = b.p + at + 4 * (2 + 1 + 1 + 9 + 1 + 1 + 4);
        wts[n_conv] = malloc(sizeof(float) * nw);
        bias[n_conv] = malloc(sizeof(float) * (size_t)s->out_c);
        memcpy(wts[n_conv], p, sizeof(float) * nw);
        memcpy(bias[n_conv], p + 4 * nw + 8, sizeof(float) * (size_t)s->out_c);
        n_conv++;
        h = out_len(h, s->kh, s->sh, s->ph);
        w = out_len(w, s->kw, s->sw, s->pw);
        macs += (double)s->out_c * (c / s->groups) * s->kh * s->kw * h * w;
        c = s->out_c;
    }
    nnb_finish(&b);

    char err[256];
    nn_net *net = nn_load(b.p, b.len, err, sizeof err);
    if (!net) {
        fprintf(stderr, "%s: %s\n", graphs[g].name, err);
        exit(1);
    }
    size_t n_in = (size_t)graphs[g].h * graphs[g].w;
    nn_tensor in = {1, graphs[g].h, graphs[g].w, malloc(sizeof(float) * n_in)};
    for (size_t i = 0; i < n_in; i++)
        in.data[i] = nnb_rand(&seed);
    nn_work *work = nn_work_new();
    const nn_tensor *out;
    double best, t_nn = time_nn(net, work, &in, repeat, &out, &best);

    int naive_repeat = repeat < 3 ? repeat : 3;
    double *t = malloc(sizeof(double) * (size_t)naive_repeat), diff = 0;
    tensor x = {1, in.h, in.w, in.data}, y = {0};
    for (int i = 0; baseline && i < naive_repeat; i++) {
        free(y.d);
        double t0 = now_us();
        y = naive_run(L, n, wts, bias, &x);
        t[i] = now_us() - t0;
    }
    for (size_t i = 0; baseline && i < (size_t)y.c * y.h * y.w; i++)
        diff = fmax(diff, fabs(y.d[i] - out->data[i]));

    printf("%-36s %6.2f M MACs | nn median %7.1f us %5.1f GFLOP/s, best %7.1f us "
           "%5.1f GFLOP/s", graphs[g].name, macs / 1e6, t_nn, 2 * macs / t_nn / 1e3,
           best, 2 * macs / best / 1e3);
    if (peak > 0)
        printf(" (%.0f%% of peak)", 100 * 2 * macs / best / 1e3 / peak);
    if (baseline) {
        double t_naive = bench_median(t, naive_repeat);
        printf(" | naive median %8.0f us %4.2f GFLOP/s | x%.0f, max diff %.1g",
               t_naive, 2 * macs / t_naive / 1e3, t_naive / t_nn, diff);
    }
    putchar('\n');

    free(y.d);
    free(t);
    for (int i = 0; i < n_conv; i++) {
        free(wts[i]);
        free(bias[i]);
    }
    free(in.data);
    nn_work_free(work);
    nn_free(net);
    free(b.p);
}

/* Each layer's mean time in float over `repeat` runs (see nn_work_profile). */
static void profile_layers(nn_net *net, nn_work *work, const nn_tensor *in, int repeat)
{
    int n = nn_layers(net);
    double *ms = calloc((size_t)n, sizeof *ms), total = 0;
    const nn_tensor *out;
    char err[256], what[160];
    nn_set_int8(net, 0);
    nn_work_profile(work, ms);
    for (int r = 0; r < repeat; r++)
        if (nn_run(net, work, in, &out, err, sizeof err)) {
            fprintf(stderr, "nn_run: %s\n", err);
            exit(1);
        }
    nn_work_profile(work, NULL);
    for (int i = 0; i < n; i++)
        total += ms[i] / repeat;
    for (int i = 1; i <= n; i++) {
        double t = ms[i - 1] / repeat, macs = nn_layer_describe(net, work, i, what, sizeof what);
        printf("  %3d %-52s %8.1f us %5.1f%%", i, what, 1e3 * t, 100 * t / total);
        if (macs > 0)
            printf(" %6.2f M MACs %5.1f GFLOP/s", macs / 1e6, 2 * macs / t / 1e6);
        putchar('\n');
    }
    printf("  layers' total %.1f us (mean)\n", 1e3 * total);
    free(ms);
}

static void bench_file(const char *path, int repeat, int size_h, int size_w, int layers)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(len > 0 ? (size_t)len : 1);
    size_t got = fread(data, 1, len > 0 ? (size_t)len : 0, f);
    fclose(f);
    char err[256];
    nn_net *net = nn_load(data, got, err, sizeof err);
    free(data);
    if (!net) {
        fprintf(stderr, "%s: %s\n", path, err);
        return;
    }
    int c, h, w;
    nn_input_shape(net, &c, &h, &w);
    if (size_h > 0)
        h = size_h, w = size_w;
    size_t n = (size_t)c * h * w;
    nn_tensor in = {c, h, w, malloc(sizeof(float) * n)};
    if (!in.data) {
        fprintf(stderr, "%s: no memory for a %dx%d input\n", path, h, w);
        nn_free(net);
        return;
    }
    uint32_t seed = 99;
    for (size_t i = 0; i < n; i++)
        in.data[i] = nnb_rand(&seed);
    nn_work *work = nn_work_new();
    const nn_tensor *out;
    double best, t = time_nn(net, work, &in, repeat, &out, &best);
    printf("%-36s input %dx%dx%d | nn median %7.1f us, best %7.1f us", path, c, h, w,
           t, best);
    /* The int8 form too: the engine runs the recogniser in it on VNNI CPUs. */
    nn_set_int8(net, 1);
    t = time_nn(net, work, &in, repeat, &out, &best);
    printf(" | int8 median %7.1f us, best %7.1f us | output %dx%dx%d\n", t, best,
           out->c, out->h, out->w);
    if (layers)
        profile_layers(net, work, &in, repeat);
    nn_work_free(work);
    nn_free(net);
    free(in.data);
}

int main(int argc, char **argv)
{
    int repeat = 50, only = -1, i = 1, n_graphs = sizeof graphs / sizeof graphs[0];
    int size_h = 0, size_w = 0, layers = 0, bad = 0;
    for (; i < argc && argv[i][0] == '-'; i++)
        if (!strcmp(argv[i], "--layers"))
            layers = 1;
        else if (i + 1 == argc)
            bad = 1;
        else if (!strcmp(argv[i], "--repeat"))
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only"))
            only = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size"))
            bad |= sscanf(argv[++i], "%dx%d", &size_h, &size_w) != 2 || size_h < 1 || size_w < 1;
        else
            bad = 1;
    if (bad || repeat < 1 || only >= n_graphs) {
        fprintf(stderr, "usage: nn_bench [--repeat N] [--only G] [--size HxW] [--layers] "
                "[FILE.nnw...]\n");
        return 2;
    }
    double peak = peak_gflops();
    if (peak > 0)
        printf("AVX2 FMA peak of this core: %.1f GFLOP/s\n", peak);
    for (int g = 0; g < n_graphs; g++)
        if (only < 0 || g == only)
            bench_graph(g, repeat, only < 0, peak);
    for (; i < argc; i++)
        bench_file(argv[i], repeat, size_h, size_w, layers);
    return 0;
}
