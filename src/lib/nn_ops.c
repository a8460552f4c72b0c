/*
 * nn_ops.c: the operators of the nn runtime (see nn_ops.h).
 *
 * Almost all the time goes into convolutions. Each first copies its input
 * zero-padded and split by column phase (see phase_input) unless it needs
 * neither padding nor stride, so that every kernel tap reads a contiguous
 * run of pixels. A convolution whose outputs each read one input channel
 * (depthwise, or a single input channel) then runs directly, one output row
 * at a time with every tap in one pass (a 3x3 window at stride 2 reads its
 * input in place, deinterleaving columns in registers, for every output
 * channel of a row at once). Every other one becomes, per group, a
 * matrix product C[out_c][oh*ow] = W[out_c][K] x B[K][oh*ow], where B is
 * the im2col expansion of the input. W is packed into panels of MR rows
 * when the network is loaded; B is never built whole: each panel of NR
 * columns by KC steps of K is packed just before the micro-kernel runs it
 * against every W panel, so it stays in L1 while W streams from L2, and
 * both are read strictly sequentially. The int8 form quantises the input
 * to bytes as it makes the phased copy, once per input value, and gathers
 * each B panel from those bytes for the whole of K at once. In float, an
 * ungrouped 3x3 convolution at stride 1 padded by 1 runs as Winograd's
 * F(2x2, 3x3) instead, whose 16 matrix products the same GEMM runs (see
 * wino_run).
 *
 * The micro-kernel and the row kernel come in a portable version and, on
 * x86-64, an AVX2+FMA one chosen at run time (the int8 kernels an AVX-512
 * VNNI one), so one binary runs on any x86-64 and at full speed where it
 * can.
 */
#include "nn_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define MR 6    /* rows of a W panel and of a micro-kernel tile */
#define NR 16   /* columns of a B panel and of a micro-kernel tile */
#define KC 256  /* K block: an NR x KC block of B is 16 KiB */
/* Tiles per Winograd block: a block of each of the recogniser's 3x3
 * layers then holds its V and M in 300 to 400 KiB, inside a core's L2. */
#define WINO_TILES 64

/*
 * c[MR][NR] (row stride ldc) = (bias ? bias[row] : c) + a x b over k steps,
 * a being MR floats per step and b NR floats per step; then clamped at 0
 * if relu.
 */
typedef void (*tile_fn)(int k, const float *a, const float *b, float *c,
                        size_t ldc, const float *bias, int relu);
/*
 * One output channel of a direct convolution with window p, `rows` rows of
 * n outputs: out[r * n + x] = bias + the sum over taps (ky, kx), in that
 * order, of w[ky * kw + kx] times the input at row r * sh + ky, phase
 * kx % sw, column x + kx / sw; then clamped at 0 if relu. Input row i,
 * phase j is at in + (i * sw + j) * len (see phased).
 */
typedef void (*taps_fn)(int n, int rows, const nn_window *p, const float *in, size_t len,
                        const float *w, float *out, float bias, int relu);
/*
 * One output row of m output channels of a direct 3x3 convolution padded
 * by 1 at stride 2 that read the same input channel, in place:
 * out[o * ostride + x] = bias[o] + the sum over taps (ky, kx) of
 * w[o * 9 + ky * 3 + kx] times rows[ky][x * 2 + kx - 1], a NULL row and a
 * column outside [0, n) being zero; then clamped at 0 if relu. ow outputs
 * each; rows hold n floats.
 */
typedef void (*row3_fn)(const float *const rows[3], int n, int m, const float *w,
                        const float *bias, float *out, size_t ostride, int ow, int relu);

/*
 * c[MR][NR] (row stride ldc) = scale[row] * (a x b) + bias[row], then
 * clamped at 0 if relu; a x b runs over k4 steps of 4, a being MR rows of 4
 * signed bytes per step and b NR columns of 4 unsigned bytes per step, and
 * is exact in int32.
 */
typedef void (*tile8_fn)(int k4, const int8_t *a, const uint8_t *b, float *c, size_t ldc,
                         const float *scale, const float *bias, int relu);
/*
 * dst[x] = src[x * stride] for x < n, a row of a phased copy: as floats,
 * or with inv > 0 as bytes, round(v * inv) clamped to 0..255.
 */
typedef void (*row_fn)(const float *src, int n, int stride, float inv, void *dst);
/*
 * One NR-column panel of B for tile8 from quantised input: row kk < k of
 * B is the NR bytes at in + koff[kk], the rows from k to the next multiple
 * of 4 are zero, and each 4 rows are interleaved per column:
 * dst[(kk / 4 * NR + col) * 4 + kk % 4].
 */
typedef void (*pack8_fn)(int k, const uint8_t *in, const size_t *koff, uint8_t *dst);
/* The largest of n floats, or -1 if any is negative or not finite. */
typedef float (*scan_fn)(const float *x, size_t n);
/*
 * Winograd input transform of one channel over one row of tw tiles:
 * rows[i] (i < 4) is input row 2 * ty - 1 + i (w floats), or NULL where
 * that row is padding. Writes B^T d B of tile tx's 4x4 input d (columns
 * 2 * tx - 1 .. 2 * tx + 2, zero outside the row) to v[x * vs + tx],
 * x = 4 * row + column. tmp holds wino_tmp(tw) floats.
 */
typedef void (*wino_in_fn)(const float *const rows[4], int w, int tw, float *v, size_t vs,
                           float *tmp);
/*
 * Winograd output transform of one channel over one row of tw tiles: the
 * 2x2 outputs A^T m A + bias of tile tx, m[x * ms + tx] being its 16
 * products, clamped at 0 if relu, to out0[2 * tx ..] and, unless out1 is
 * NULL, out1[2 * tx ..]; ow floats of each. tmp as for wino_in_fn.
 */
typedef void (*wino_out_fn)(const float *m, size_t ms, int tw, int ow, float bias, int relu,
                            float *out0, float *out1, float *tmp);

typedef struct kernels {
    tile_fn tile;
    taps_fn taps;
    row3_fn row3;       /* NULL: 3x3 windows at stride 2 go through taps too */
    tile8_fn tile8;
    row_fn row;
    pack8_fn pack8;
    scan_fn scan;
    wino_in_fn wino_in;
    wino_out_fn wino_out;
} kernels;

static void tile_generic(int k, const float *a, const float *b, float *c,
                         size_t ldc, const float *bias, int relu)
{
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            acc[r][j] = bias ? bias[r] : c[r * ldc + j];
    for (int p = 0; p < k; p++, a += MR, b += NR)
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++)
                acc[r][j] += a[r] * b[j];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            c[r * ldc + j] = relu && acc[r][j] < 0 ? 0 : acc[r][j];
}

static void taps_generic(int n, int rows, const nn_window *p, const float *in, size_t len,
                         const float *w, float *out, float bias, int relu)
{
    for (int r = 0; r < rows; r++, out += n)
        for (int x = 0; x < n; x++) {
            float acc = bias;
            for (int ky = 0; ky < p->kh; ky++)
                for (int kx = 0; kx < p->kw; kx++)
                    acc += w[ky * p->kw + kx] *
                           in[((size_t)(r * p->sh + ky) * p->sw + kx % p->sw) * len +
                              (size_t)(kx / p->sw + x)];
            out[x] = relu && acc < 0 ? 0 : acc;
        }
}

static void tile8_generic(int k4, const int8_t *a, const uint8_t *b, float *c, size_t ldc,
                          const float *scale, const float *bias, int relu)
{
    int32_t acc[MR][NR] = {{0}};
    for (int p = 0; p < k4; p++, a += 4 * MR, b += 4 * NR)
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++)
                for (int q = 0; q < 4; q++)
                    acc[r][j] += (int32_t)a[4 * r + q] * b[4 * j + q];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) {
            float y = (float)acc[r][j] * scale[r] + bias[r];
            c[r * ldc + j] = relu && y < 0 ? 0 : y;
        }
}

/* dst[k] = src[k * stride] for k < n; called with constant strides so that
 * each common one compiles to its own vectorised loop. */
static inline void gather(float *dst, const float *src, int n, int stride)
{
    for (int k = 0; k < n; k++)
        dst[k] = src[(size_t)k * stride];
}

/* Inline, so that row_avx2 and row_avx512 compile it for their targets. */
static inline void row_generic(const float *src, int n, int stride, float inv, void *dst)
{
    uint8_t *bytes = dst;
    if (!inv && stride == 1)
        gather(dst, src, n, 1);
    else if (!inv && stride == 2)
        gather(dst, src, n, 2);
    else if (!inv)
        gather(dst, src, n, stride);
    else
        for (int x = 0; x < n; x++) {
            float v = rintf(src[(size_t)x * stride] * inv);
            bytes[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

/*
 * The largest value of x[0..n), or -1 if any is negative (-0 is not) or
 * not finite: such an input has no byte scale, and stays in float. Worked
 * on the bits as int32, in whose order the non-negative floats are, so
 * that it vectorises as integer max and or, as float compares do not.
 * Inline, so that nonneg_max_avx2 compiles it for its target.
 */
static inline float nonneg_max(const float *x, size_t n)
{
    int32_t big = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t u;
        memcpy(&u, x + i, sizeof u);
        int32_t mag = u & INT32_MAX;
        big = u > big ? u : big;
        bad |= (mag > 0x7F7FFFFF) | ((u < 0) & (mag != 0));
    }
    float f;
    memcpy(&f, &big, sizeof f);
    return bad ? -1 : f;
}

/* Floats of tmp the Winograd transforms take for a row of tw tiles. */
static size_t wino_tmp(int tw)
{
    return 2 * ((size_t)tw + 1) + 16 * (size_t)tw;
}

/* The transforms' steps, each one run over a row of tiles: out does not
 * overlap the inputs, so each loop vectorises without checks. */
static inline void run_add(float *restrict out, const float *a, const float *b, int n)
{
    for (int t = 0; t < n; t++)
        out[t] = a[t] + b[t];
}

static inline void run_sub(float *restrict out, const float *a, const float *b, int n)
{
    for (int t = 0; t < n; t++)
        out[t] = a[t] - b[t];
}

/* out = a + b + c, and with neg set a - b - c. */
static inline void run_sum3(float *restrict out, const float *a, const float *b,
                            const float *c, int neg, int n)
{
    if (neg)
        for (int t = 0; t < n; t++)
            out[t] = a[t] - b[t] - c[t];
    else
        for (int t = 0; t < n; t++)
            out[t] = a[t] + b[t] + c[t];
}

/* out[2t] = e[t] + bias and out[2t + 1] = o[t] + bias, over n outputs,
 * clamped at 0 if relu as tile_generic does. */
static inline void run_interleave(float *restrict out, const float *e, const float *o,
                                  float bias, int relu, int n)
{
    for (int t = 0; t < n / 2; t++) {
        float x = e[t] + bias, y = o[t] + bias;
        out[2 * t] = relu && x < 0 ? 0 : x;
        out[2 * t + 1] = relu && y < 0 ? 0 : y;
    }
    if (n % 2) {
        float x = e[n / 2] + bias;
        out[n - 1] = relu && x < 0 ? 0 : x;
    }
}

/*
 * Each input row is split into its even and odd columns first, so that
 * every step reads whole runs of tiles: tile tx's four columns are
 * odd[tx - 1], even[tx], odd[tx], even[tx + 1]. Inline, so that
 * wino_in_avx2 compiles it for its target.
 */
static inline void wino_in_generic(const float *const rows[4], int w, int tw, float *v,
                                   size_t vs, float *tmp)
{
    float *ev = tmp, *od = tmp + tw + 1, *h = tmp + 2 * (tw + 1);
    for (int i = 0; i < 4; i++) {
        float *h0 = h + 4 * i * tw, *h1 = h0 + tw, *h2 = h1 + tw, *h3 = h2 + tw;
        const float *d = rows[i];
        if (!d) {
            memset(h0, 0, sizeof(float) * 4 * (size_t)tw);
            continue;
        }
        /* od[tx + 1] is column 2 * tx + 1; od[0] and ev[tw] are padding,
         * as is every column from w on. */
        od[0] = 0;
        for (int t = 0; t < w / 2; t++) {
            ev[t] = d[2 * t];
            od[t + 1] = d[2 * t + 1];
        }
        for (int t = w / 2; t <= tw; t++)
            ev[t] = 2 * t < w ? d[2 * t] : 0;
        for (int t = w / 2; t < tw; t++)
            od[t + 1] = 0;
        run_sub(h0, od, od + 1, tw);
        run_add(h1, ev, od + 1, tw);
        run_sub(h2, od + 1, ev, tw);
        run_sub(h3, ev, ev + 1, tw);
    }
    for (int k = 0; k < 4; k++) {
        const float *r0 = h + k * tw, *r1 = r0 + 4 * tw, *r2 = r1 + 4 * tw, *r3 = r2 + 4 * tw;
        run_sub(v + k * vs, r0, r2, tw);
        run_add(v + (4 + k) * vs, r1, r2, tw);
        run_sub(v + (8 + k) * vs, r2, r1, tw);
        run_sub(v + (12 + k) * vs, r1, r3, tw);
    }
}

/* A^T m in tmp, row by row of m's 4x4; then A^T m A, added to the bias,
 * interleaved into the two output rows. */
static inline void wino_out_generic(const float *m, size_t ms, int tw, int ow, float bias,
                                    int relu, float *out0, float *out1, float *tmp)
{
    float *s = tmp, *y = tmp + 8 * (size_t)tw;
    for (int k = 0; k < 4; k++) {
        const float *a = m + k * ms, *b = a + 4 * ms, *c = b + 4 * ms, *d = c + 4 * ms;
        run_sum3(s + k * tw, a, b, c, 0, tw);
        run_sum3(s + (4 + k) * tw, b, c, d, 1, tw);
    }
    for (int r = 0; r < 2; r++) {
        const float *s0 = s + 4 * r * tw, *s1 = s0 + tw, *s2 = s1 + tw, *s3 = s2 + tw;
        float *e = y + 2 * r * tw, *o = e + tw;
        run_sum3(e, s0, s1, s2, 0, tw);
        run_sum3(o, s1, s2, s3, 1, tw);
    }
    run_interleave(out0, y, y + tw, bias, relu, ow);
    if (out1)
        run_interleave(out1, y + 2 * tw, y + 3 * tw, bias, relu, ow);
}

/* pack8_fn for any panel: column j of the panel reads in + koff[kk] +
 * col[j], and the columns from nc on are zero. */
static void pack8_cols(int k, const uint8_t *in, const size_t *koff, const size_t *col,
                       int nc, uint8_t *dst)
{
    for (int kk = 0; kk < (k + 3) / 4 * 4; kk++)
        for (int j = 0; j < NR; j++)
            dst[(kk / 4 * NR + j) * 4 + kk % 4] = kk < k && j < nc ? in[koff[kk] + col[j]] : 0;
}

static void pack8_generic(int k, const uint8_t *in, const size_t *koff, uint8_t *dst)
{
    size_t col[NR];
    for (int j = 0; j < NR; j++)
        col[j] = (size_t)j;
    pack8_cols(k, in, koff, col, NR, dst);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static void tile_avx2(int k, const float *a, const float *b, float *c,
                      size_t ldc, const float *bias, int relu)
{
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (bias) {
        c00 = c01 = _mm256_set1_ps(bias[0]);
        c10 = c11 = _mm256_set1_ps(bias[1]);
        c20 = c21 = _mm256_set1_ps(bias[2]);
        c30 = c31 = _mm256_set1_ps(bias[3]);
        c40 = c41 = _mm256_set1_ps(bias[4]);
        c50 = c51 = _mm256_set1_ps(bias[5]);
    } else {
        c00 = _mm256_loadu_ps(c + 0 * ldc); c01 = _mm256_loadu_ps(c + 0 * ldc + 8);
        c10 = _mm256_loadu_ps(c + 1 * ldc); c11 = _mm256_loadu_ps(c + 1 * ldc + 8);
        c20 = _mm256_loadu_ps(c + 2 * ldc); c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(c + 3 * ldc); c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
        c40 = _mm256_loadu_ps(c + 4 * ldc); c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
        c50 = _mm256_loadu_ps(c + 5 * ldc); c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
    }
    for (int p = 0; p < k; p++, a += MR, b += NR) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), ar;
        ar = _mm256_broadcast_ss(a + 0);
        c00 = _mm256_fmadd_ps(ar, b0, c00); c01 = _mm256_fmadd_ps(ar, b1, c01);
        ar = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(ar, b0, c10); c11 = _mm256_fmadd_ps(ar, b1, c11);
        ar = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(ar, b0, c20); c21 = _mm256_fmadd_ps(ar, b1, c21);
        ar = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(ar, b0, c30); c31 = _mm256_fmadd_ps(ar, b1, c31);
        ar = _mm256_broadcast_ss(a + 4);
        c40 = _mm256_fmadd_ps(ar, b0, c40); c41 = _mm256_fmadd_ps(ar, b1, c41);
        ar = _mm256_broadcast_ss(a + 5);
        c50 = _mm256_fmadd_ps(ar, b0, c50); c51 = _mm256_fmadd_ps(ar, b1, c51);
    }
    if (relu) {
        __m256 z = _mm256_setzero_ps();
        c00 = _mm256_max_ps(c00, z); c01 = _mm256_max_ps(c01, z);
        c10 = _mm256_max_ps(c10, z); c11 = _mm256_max_ps(c11, z);
        c20 = _mm256_max_ps(c20, z); c21 = _mm256_max_ps(c21, z);
        c30 = _mm256_max_ps(c30, z); c31 = _mm256_max_ps(c31, z);
        c40 = _mm256_max_ps(c40, z); c41 = _mm256_max_ps(c41, z);
        c50 = _mm256_max_ps(c50, z); c51 = _mm256_max_ps(c51, z);
    }
    _mm256_storeu_ps(c + 0 * ldc, c00); _mm256_storeu_ps(c + 0 * ldc + 8, c01);
    _mm256_storeu_ps(c + 1 * ldc, c10); _mm256_storeu_ps(c + 1 * ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20); _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30); _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * ldc, c40); _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * ldc, c50); _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

/*
 * Outputs x.. of output rows 0 and, if nr is 2, 1 of in's window (see
 * taps_fn): nv vectors of each, with part set the last one only the lanes
 * of mask (the others neither read nor written) and computed as
 * taps_generic does, which this code's tail always was: each product
 * rounded before its add, and a clamp that keeps -0 and NaN. Each input
 * vector is loaded once for both rows; every row still adds its taps in
 * order. wv holds the first 9 weights broadcast.
 */
__attribute__((target("avx2,fma"), always_inline))
static inline void taps_block_avx2(int kh, int kw, int sh, int sw, int nr, int nv, int part,
                                   __m256i mask, const float *in, size_t len, const __m256 *wv,
                                   const float *w, float *out, size_t ldo, float bias, int relu)
{
    __m256 acc[2][2], z = _mm256_setzero_ps();
    int full = nv - part;
    for (int r = 0; r < nr; r++)
        for (int v = 0; v < nv; v++)
            acc[r][v] = _mm256_set1_ps(bias);
    for (int i = 0; i < (nr - 1) * sh + kh; i++)
        for (int kx = 0; kx < kw; kx++) {
            const float *q = in + ((size_t)i * sw + kx % sw) * len + kx / sw;
            __m256 b[2];
            for (int v = 0; v < full; v++)
                b[v] = _mm256_loadu_ps(q + 8 * v);
            if (part)
                b[full] = _mm256_maskload_ps(q + 8 * full, mask);
            for (int r = 0; r < nr; r++) {
                int t = (i - r * sh) * kw + kx;
                if (i < r * sh || i - r * sh >= kh)
                    continue;
                __m256 wt = kh * kw <= 9 ? wv[t] : _mm256_broadcast_ss(w + t);
                for (int v = 0; v < full; v++)
                    acc[r][v] = _mm256_fmadd_ps(wt, b[v], acc[r][v]);
                if (part)
                    acc[r][full] = _mm256_add_ps(acc[r][full], _mm256_mul_ps(wt, b[full]));
            }
        }
    for (int r = 0; r < nr; r++) {
        for (int v = 0; v < full; v++)
            _mm256_storeu_ps(out + r * ldo + 8 * v, relu ? _mm256_max_ps(acc[r][v], z) : acc[r][v]);
        if (part)
            _mm256_maskstore_ps(out + r * ldo + 8 * full, mask,
                                relu ? _mm256_max_ps(z, acc[r][full]) : acc[r][full]);
    }
}

/*
 * nr output rows of in's window (see taps_fn) in blocks of 16 outputs,
 * the rest of the rows as one block. Every block has constant shape, so
 * that its sums stay in registers.
 */
__attribute__((target("avx2,fma"), always_inline))
static inline void taps_span_avx2(int kh, int kw, int sh, int sw, int nr, int n, const float *in,
                                  size_t len, const __m256 *wv, const float *w, float *out,
                                  float bias, int relu)
{
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n % 8), lane);
    int x = 0;
    for (; x + 16 <= n; x += 16)
        taps_block_avx2(kh, kw, sh, sw, nr, 2, 0, mask, in + x, len, wv, w, out + x, n, bias,
                        relu);
    if (n - x == 8)
        taps_block_avx2(kh, kw, sh, sw, nr, 1, 0, mask, in + x, len, wv, w, out + x, n, bias,
                        relu);
    else if (n - x > 8)
        taps_block_avx2(kh, kw, sh, sw, nr, 2, 1, mask, in + x, len, wv, w, out + x, n, bias,
                        relu);
    else if (n > x)
        taps_block_avx2(kh, kw, sh, sw, nr, 1, 1, mask, in + x, len, wv, w, out + x, n, bias,
                        relu);
}

/* taps_fn two output rows at a time. */
__attribute__((target("avx2,fma"), always_inline))
static inline void taps_rows_avx2(int kh, int kw, int sh, int sw, int n, int rows,
                                  const float *in, size_t len, const float *w, float *out,
                                  float bias, int relu)
{
    __m256 wv[9];
    for (int t = 0; t < 9 && t < kh * kw; t++)
        wv[t] = _mm256_broadcast_ss(w + t);
    for (int r = 0; r < rows; r += 2) {
        const float *src = in + (size_t)r * sh * sw * len;
        if (rows - r >= 2)
            taps_span_avx2(kh, kw, sh, sw, 2, n, src, len, wv, w, out + (size_t)r * n, bias, relu);
        else
            taps_span_avx2(kh, kw, sh, sw, 1, n, src, len, wv, w, out + (size_t)r * n, bias, relu);
    }
}

/* The networks' 3x3 windows get loops of constant length and their nine
 * weights in registers; other windows the same code, less unrolled. */
__attribute__((target("avx2,fma")))
static void taps_avx2(int n, int rows, const nn_window *p, const float *in, size_t len,
                      const float *w, float *out, float bias, int relu)
{
    if (p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1)
        taps_rows_avx2(3, 3, 1, 1, n, rows, in, len, w, out, bias, relu);
    else if (p->kh == 3 && p->kw == 3 && p->sh == 2 && p->sw == 2)
        taps_rows_avx2(3, 3, 2, 2, n, rows, in, len, w, out, bias, relu);
    else
        taps_rows_avx2(p->kh, p->kw, p->sh, p->sw, n, rows, in, len, w, out, bias, relu);
}

/* Columns i0 (at least -1) to i0 + 7 of a row of n floats, zero outside
 * it: masked where the row ends, moved on a lane where it starts. */
__attribute__((target("avx2,fma"), always_inline))
static inline __m256 cols8(const float *row, int n, int i0)
{
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int at = i0 < 0 ? 0 : i0;
    if (at >= n)
        return _mm256_setzero_ps();
    __m256 v = at + 8 <= n ? _mm256_loadu_ps(row + at)
             : _mm256_maskload_ps(row + at, _mm256_cmpgt_epi32(_mm256_set1_epi32(n - at), lane));
    if (i0 < 0)
        v = _mm256_blend_ps(_mm256_permutevar8x32_ps(v, _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6)),
                            _mm256_setzero_ps(), 0x01);
    return v;
}

/* The nine tap vectors v[ky * 3 + kx] of 8 outputs at stride 2 whose
 * windows start at column i0, zero for a NULL row: the even and odd lanes
 * of columns i0 .. i0 + 15 (a permute of halves and a shuffle), and the
 * evens moved on one with column i0 + 16 last. */
__attribute__((target("avx2,fma"), always_inline))
static inline void taps9(const float *const rows[3], int n, int i0, __m256 v[9])
{
    for (int ky = 0; ky < 3; ky++) {
        const float *row = rows[ky];
        __m256 *t = v + 3 * ky;
        if (!row) {
            t[0] = t[1] = t[2] = _mm256_setzero_ps();
            continue;
        }
        __m256 a = cols8(row, n, i0), b = cols8(row, n, i0 + 8);
        __m256 lo = _mm256_permute2f128_ps(a, b, 0x20), hi = _mm256_permute2f128_ps(a, b, 0x31);
        __m256 last = _mm256_set1_ps(i0 + 16 < n ? row[i0 + 16] : 0);
        t[0] = _mm256_shuffle_ps(lo, hi, 0x88);
        t[1] = _mm256_shuffle_ps(lo, hi, 0xDD);
        t[2] = _mm256_blend_ps(
            _mm256_permutevar8x32_ps(t[0], _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0)), last, 0x80);
    }
}

/*
 * row3_fn for a count of outputs, constant for a lone one. The taps of a
 * block are made once for all m outputs; each input row has its own sum,
 * so that an output's products make three short chains. The phased copy
 * and taps_avx2 took 1.2 to 1.5 times as long for the detector's
 * depthwise layers and its first, single-channel one (nn_bench --layers);
 * at stride 1 they are the faster, two output rows sharing their loads.
 */
__attribute__((target("avx2,fma"), always_inline))
static inline void row3_m_avx2(const float *const rows[3], int n, int m, const float *w,
                               const float *bias, float *out, size_t ostride, int ow, int relu)
{
    __m256 z = _mm256_setzero_ps();
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(ow % 8), lane);
    for (int x = 0; x < ow; x += 8) {
        __m256 v[9];
        taps9(rows, n, 2 * x - 1, v);
        for (int o = 0; o < m; o++) {
            const float *wo = w + 9 * o;
            __m256 a[3];
            for (int ky = 0; ky < 3; ky++) {
                a[ky] = ky ? z : _mm256_set1_ps(bias[o]);
                for (int kx = 0; kx < 3; kx++)
                    a[ky] = _mm256_fmadd_ps(_mm256_broadcast_ss(wo + 3 * ky + kx), v[3 * ky + kx],
                                            a[ky]);
            }
            __m256 sum = _mm256_add_ps(_mm256_add_ps(a[0], a[1]), a[2]);
            if (relu)
                sum = _mm256_max_ps(sum, z);
            if (x + 8 <= ow)
                _mm256_storeu_ps(out + o * ostride + x, sum);
            else
                _mm256_maskstore_ps(out + o * ostride + x, mask, sum);
        }
    }
}

__attribute__((target("avx2,fma")))
static void row3_avx2(const float *const rows[3], int n, int m, const float *w,
                      const float *bias, float *out, size_t ostride, int ow, int relu)
{
    if (m == 1)
        row3_m_avx2(rows, n, 1, w, bias, out, ostride, ow, relu);
    else
        row3_m_avx2(rows, n, m, w, bias, out, ostride, ow, relu);
}

/* row_generic and nonneg_max again, vectorised for AVX2 (vroundps where
 * a row rounds, vpmaxsd). */
__attribute__((target("avx2,fma")))
static void row_avx2(const float *src, int n, int stride, float inv, void *dst)
{
    row_generic(src, n, stride, inv, dst);
}

__attribute__((target("avx2,fma")))
static float nonneg_max_avx2(const float *x, size_t n)
{
    return nonneg_max(x, n);
}

__attribute__((target("avx2,fma")))
static void wino_in_avx2(const float *const rows[4], int w, int tw, float *v, size_t vs,
                         float *tmp)
{
    wino_in_generic(rows, w, tw, v, vs, tmp);
}

__attribute__((target("avx2,fma")))
static void wino_out_avx2(const float *m, size_t ms, int tw, int ow, float bias, int relu,
                          float *out0, float *out1, float *tmp)
{
    wino_out_generic(m, ms, tw, ow, bias, relu, out0, out1, tmp);
}
#endif

#if defined(__x86_64__)
/* Each step: the two halves of b's 16 columns, and per row its 4 weights
 * broadcast; VPDPBUSD multiplies unsigned by signed bytes and adds each
 * column's 4 products into its int32. */
__attribute__((target("avx2,fma,avx512f,avx512vl,avx512vnni")))
static void tile8_vnni(int k4, const int8_t *a, const uint8_t *b, float *c, size_t ldc,
                       const float *scale, const float *bias, int relu)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int p = 0; p < k4; p++, a += 4 * MR, b += 4 * NR) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)b);
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + 32));
        int32_t w[MR];
        memcpy(w, a, sizeof w);
        __m256i ar = _mm256_set1_epi32(w[0]);
        c00 = _mm256_dpbusd_epi32(c00, b0, ar); c01 = _mm256_dpbusd_epi32(c01, b1, ar);
        ar = _mm256_set1_epi32(w[1]);
        c10 = _mm256_dpbusd_epi32(c10, b0, ar); c11 = _mm256_dpbusd_epi32(c11, b1, ar);
        ar = _mm256_set1_epi32(w[2]);
        c20 = _mm256_dpbusd_epi32(c20, b0, ar); c21 = _mm256_dpbusd_epi32(c21, b1, ar);
        ar = _mm256_set1_epi32(w[3]);
        c30 = _mm256_dpbusd_epi32(c30, b0, ar); c31 = _mm256_dpbusd_epi32(c31, b1, ar);
        ar = _mm256_set1_epi32(w[4]);
        c40 = _mm256_dpbusd_epi32(c40, b0, ar); c41 = _mm256_dpbusd_epi32(c41, b1, ar);
        ar = _mm256_set1_epi32(w[5]);
        c50 = _mm256_dpbusd_epi32(c50, b0, ar); c51 = _mm256_dpbusd_epi32(c51, b1, ar);
    }
    const __m256i acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    __m256 z = _mm256_setzero_ps();
    for (int r = 0; r < MR; r++) {
        __m256 s = _mm256_set1_ps(scale[r]), b0 = _mm256_set1_ps(bias[r]);
        for (int h = 0; h < 2; h++) {
            __m256 y = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][h]), s, b0);
            _mm256_storeu_ps(c + r * ldc + 8 * h, relu ? _mm256_max_ps(y, z) : y);
        }
    }
}

/* 16 values at a time, at stride 2 the even floats of two vectors as
 * long as the second stays inside the n values' span; for bytes to int32
 * (rounding to nearest, as rintf), then to bytes with unsigned saturation.
 * The rest, and other strides, as row_generic. */
__attribute__((target("avx2,avx512f,avx512bw,avx512vl")))
static void row_avx512(const float *src, int n, int stride, float inv, void *dst)
{
    uint8_t *bytes = dst;
    __m512 iv = _mm512_set1_ps(inv);
    __m512i zero = _mm512_setzero_si512();
    __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    int x = 0;
    for (; stride <= 2 && x + 16 + (stride == 2) <= n; x += 16) {
        const float *s = src + (size_t)x * stride;
        __m512 f = stride == 1 ? _mm512_loadu_ps(s)
                               : _mm512_permutex2var_ps(_mm512_loadu_ps(s), even,
                                                        _mm512_loadu_ps(s + 16));
        if (!inv) {
            _mm512_storeu_ps((float *)dst + x, f);
            continue;
        }
        __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(f, iv));
        _mm_storeu_si128((__m128i *)(bytes + x), _mm512_cvtusepi32_epi8(_mm512_max_epi32(v, zero)));
    }
    /* The last 16 floats or fewer in one masked step: the second look's
     * rows are 5 to 80 floats long, and a float row_generic finishes one
     * value at a time. */
    if (!inv && stride <= 2 && x < n) {
        int m = n - x, span = stride * m - stride + 1;
        const float *s = src + (size_t)x * stride;
        __mmask16 lo = (__mmask16)((1u << (span < 16 ? span : 16)) - 1);
        __mmask16 hi = (__mmask16)(span > 16 ? (1u << (span - 16)) - 1 : 0);
        __m512 f = _mm512_maskz_loadu_ps(lo, s);
        if (stride == 2)
            f = _mm512_permutex2var_ps(f, even, _mm512_maskz_loadu_ps(hi, s + 16));
        _mm512_mask_storeu_ps((float *)dst + x, (__mmask16)((1u << m) - 1), f);
        return;
    }
    row_generic(src + (size_t)x * stride, n - x, stride, inv,
                bytes + (size_t)x * (inv ? 1 : sizeof(float)));
}

/* Four rows of 16 bytes interleaved byte by byte in two rounds of unpacks
 * (a 4x16 transpose); a row past k is zero. */
__attribute__((target("avx2,avx512f,avx512bw,avx512vl")))
static void pack8_avx512(int k, const uint8_t *in, const size_t *koff, uint8_t *dst)
{
    for (int kk = 0; kk < k; kk += 4, koff += 4, dst += 4 * NR) {
        __m128i r[4];
        for (int q = 0; q < 4; q++)
            r[q] = kk + q < k ? _mm_loadu_si128((const __m128i *)(in + koff[q]))
                              : _mm_setzero_si128();
        __m128i t0 = _mm_unpacklo_epi8(r[0], r[1]), t1 = _mm_unpackhi_epi8(r[0], r[1]);
        __m128i t2 = _mm_unpacklo_epi8(r[2], r[3]), t3 = _mm_unpackhi_epi8(r[2], r[3]);
        _mm_storeu_si128((__m128i *)dst, _mm_unpacklo_epi16(t0, t2));
        _mm_storeu_si128((__m128i *)(dst + 16), _mm_unpackhi_epi16(t0, t2));
        _mm_storeu_si128((__m128i *)(dst + 32), _mm_unpacklo_epi16(t1, t3));
        _mm_storeu_si128((__m128i *)(dst + 48), _mm_unpackhi_epi16(t1, t3));
    }
}
#endif

int nn_int8_fast(void)
{
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")
           && __builtin_cpu_supports("avx512bw");
#else
    return 0;
#endif
}

static kernels pick_kernels(void)
{
    kernels k = {tile_generic, taps_generic, NULL, tile8_generic, row_generic, pack8_generic,
                 nonneg_max, wino_in_generic, wino_out_generic};
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        k.tile = tile_avx2, k.taps = taps_avx2, k.row3 = row3_avx2, k.row = row_avx2,
        k.scan = nonneg_max_avx2,
        k.wino_in = wino_in_avx2, k.wino_out = wino_out_avx2;
    if (nn_int8_fast())
        k.tile8 = tile8_vnni, k.row = row_avx512, k.pack8 = pack8_avx512;
#endif
    return k;
}

void *nn_alloc_aligned(size_t bytes)
{
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n < bytes)
        return NULL;
    return aligned_alloc(64, n ? n : 64);
}

int64_t nn_window_out(int64_t in, int k, int s, int p)
{
    int64_t span = in + 2 * (int64_t)p - k;
    return span < 0 ? 0 : span / s + 1;
}

static size_t round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

/* K: the length of a row of W, (in_c / groups) * kh * kw. */
static size_t conv_k(const nn_conv *cv)
{
    return (size_t)(cv->in_c / cv->groups) * cv->win.kh * cv->win.kw;
}

/* Bytes of one group's int8 weights: panels of MR rows, each k4 steps of
 * MR x 4 bytes, k padded with zeros to a multiple of 4. */
static size_t int8_group(const nn_conv *cv)
{
    return round_up((size_t)(cv->out_c / cv->groups), MR) * round_up(conv_k(cv), 4);
}

/*
 * The int8 form of a GEMM convolution's weights, scaled per output channel
 * so that its largest magnitude is 127. Returns 0, or -1 when out of
 * memory (having freed everything, as nn_conv_prepare() promises).
 */
static int prepare_int8(nn_conv *cv, const float *w)
{
    size_t k = conv_k(cv), k4 = round_up(k, 4) / 4, m = (size_t)(cv->out_c / cv->groups);
    size_t group = int8_group(cv);
    cv->w8 = nn_alloc_aligned(group * (size_t)cv->groups);
    cv->w8_scale = malloc(sizeof(float) * (size_t)cv->out_c);
    if (!cv->w8 || !cv->w8_scale) {
        nn_conv_release(cv);
        return -1;
    }
    memset(cv->w8, 0, group * (size_t)cv->groups);
    for (int g = 0; g < cv->groups; g++)
        for (size_t o = 0; o < m; o++) {
            const float *row = w + (g * m + o) * k;
            float big = 0;
            for (size_t p = 0; p < k; p++)
                big = fmaxf(big, fabsf(row[p]));
            float scale = big > 0 ? big / 127 : 1;
            cv->w8_scale[g * m + o] = scale;
            int8_t *panel = cv->w8 + g * group + o / MR * MR * 4 * k4;
            for (size_t p = 0; p < k; p++)
                panel[(p / 4) * MR * 4 + o % MR * 4 + p % 4] = (int8_t)lrintf(row[p] / scale);
        }
    return 0;
}

/* Packs W[m][k] (row stride k) as gemm() reads it: panel p holds rows
 * p*MR.. as k steps of MR floats, the rows past m zero. */
static void pack_a(float *dst, const float *w, size_t m, size_t k)
{
    memset(dst, 0, sizeof(float) * round_up(m, MR) * k);
    for (size_t o = 0; o < m; o++)
        for (size_t p = 0; p < k; p++)
            dst[o / MR * MR * k + p * MR + o % MR] = w[o * k + p];
}

/* Whether cv runs as Winograd F(2x2, 3x3) in float (see wino_run()). */
static int wino_fits(const nn_conv *cv)
{
    const nn_window *p = &cv->win;
    return !cv->direct && cv->groups == 1 && p->kh == 3 && p->kw == 3 && p->sh == 1 &&
           p->sw == 1 && p->ph == 1 && p->pw == 1;
}

/*
 * The Winograd form of a 3x3 convolution's weights: for each of the 16
 * products x, U_x[o][c] = (G g G^T)[x] of the 3x3 kernel g of output o
 * and input c, with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 * computed in double; each U_x packed as gemm() reads it. Returns 0, or
 * -1 when out of memory.
 */
static int prepare_wino(nn_conv *cv, const float *w)
{
    size_t m = (size_t)cv->out_c, k = (size_t)cv->in_c, one = round_up(m, MR) * k;
    float *u = malloc(sizeof(float) * 16 * m * k);
    cv->wino = nn_alloc_aligned(sizeof(float) * 16 * one);
    if (!u || !cv->wino) {
        free(u);
        return -1;
    }
    static const double G[4][3] = { {1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1} };
    for (size_t o = 0; o < m; o++)
        for (size_t c = 0; c < k; c++) {
            const float *g = w + (o * k + c) * 9;
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    double acc = 0;
                    for (int a = 0; a < 3; a++)
                        for (int b = 0; b < 3; b++)
                            acc += G[i][a] * g[a * 3 + b] * G[j][b];
                    u[((size_t)(i * 4 + j) * m + o) * k + c] = (float)acc;
                }
        }
    for (int x = 0; x < 16; x++)
        pack_a(cv->wino + x * one, u + x * m * k, m, k);
    free(u);
    return 0;
}

int nn_conv_prepare(nn_conv *cv, const float *w, const float *b)
{
    size_t k = conv_k(cv), m = (size_t)(cv->out_c / cv->groups);
    cv->direct = cv->in_c == cv->groups;
    cv->bias = malloc(sizeof(float) * (size_t)cv->out_c);
    size_t group = cv->direct ? m * k : round_up(m, MR) * k;
    cv->weights = nn_alloc_aligned(sizeof(float) * group * (size_t)cv->groups);
    if (!cv->bias || !cv->weights) {
        nn_conv_release(cv);
        return -1;
    }
    memcpy(cv->bias, b, sizeof(float) * (size_t)cv->out_c);
    if (cv->direct) {
        memcpy(cv->weights, w, sizeof(float) * group * (size_t)cv->groups);
        return 0;
    }
    for (int g = 0; g < cv->groups; g++)
        pack_a(cv->weights + g * group, w + g * m * k, m, k);
    if (wino_fits(cv) && prepare_wino(cv, w)) {
        nn_conv_release(cv);
        return -1;
    }
    return k <= NN_INT8_MAX_K ? prepare_int8(cv, w) : 0;
}

void nn_conv_release(nn_conv *cv)
{
    free(cv->weights);
    free(cv->bias);
    free(cv->w8);
    free(cv->w8_scale);
    free(cv->wino);
    cv->weights = cv->bias = cv->w8_scale = cv->wino = NULL;
    cv->w8 = NULL;
}

/*
 * The input as a convolution reads it: each channel padded with zeros by
 * (ph, pw) and split into sw column phases, so that every tap reads a
 * contiguous run of the input whatever the stride. Element (ci, y, r, j)
 * is the padded input at row y, column j * sw + r. In floats; without
 * padding and at stride 1 the input is already in this form and is read in
 * place. Or quantised to bytes for the int8 product, always a copy.
 */
typedef struct phased {
    const float *p;         /* the floats, or NULL */
    const uint8_t *b;       /* the bytes, or NULL */
    size_t len;             /* elements per (row, phase) line */
    int hp, sw;
} phased;

static int phase_in_place(const nn_window *p)
{
    return !p->ph && !p->pw && p->sw == 1;
}

static size_t phase_len(const nn_window *p, int64_t w)
{
    return (size_t)((w + 2 * p->pw + p->sw - 1) / p->sw);
}

/* Elements of a phased copy, kept a multiple of NR. */
static uint64_t phase_size(const nn_window *p, int64_t c, int64_t h, int64_t w)
{
    uint64_t n = (uint64_t)c * (uint64_t)(h + 2 * p->ph) * (uint64_t)p->sw *
                 phase_len(p, w);
    return (n + NR - 1) / NR * NR;
}

/* Floats of scratch the float phased copy takes. */
static uint64_t phase_floats(const nn_window *p, int64_t c, int64_t h, int64_t w)
{
    return phase_in_place(p) ? 0 : phase_size(p, c, h, w);
}

/*
 * The phased copy of in[c][h][w] in scratch, or in itself where it can be.
 * With inv > 0 it is made of bytes instead, each float quantised as
 * kn->row does with inv: once per input value, not once per tap. With
 * padded set, scratch holds a copy of the same shape already, whose
 * padding (zeros) is left as it is.
 */
static phased phase_input(const kernels *kn, const float *in, int c, int h, int w,
                          const nn_window *p, float inv, int padded, void *scratch)
{
    phased v = {in, NULL, (size_t)w, h + 2 * p->ph, p->sw};
    if (!inv && phase_in_place(p))
        return v;
    size_t size = inv ? 1 : sizeof(float);
    uint8_t *bytes = scratch;
    v.p = inv ? NULL : scratch;
    v.b = inv ? scratch : NULL;
    v.len = phase_len(p, w);
    size_t row = (size_t)p->sw * v.len, plane = (size_t)v.hp * row;
    for (int ci = 0; ci < c && !padded; ci++) {
        uint8_t *dst = bytes + ci * plane * size;
        memset(dst, 0, size * row * (size_t)p->ph);
        memset(dst + (size_t)(p->ph + h) * row * size, 0, size * row * (size_t)p->ph);
    }
    /* Phase r holds padded columns j * sw + r, input x = that - pw; its
     * first j and last len - j - n elements are padding. */
    for (int r = 0; r < p->sw; r++) {
        int j = r >= p->pw ? 0 : (p->pw - r + p->sw - 1) / p->sw;
        int x = j * p->sw + r - p->pw;
        int n = x < w ? (w - x + p->sw - 1) / p->sw : 0;
        for (int ci = 0; ci < c; ci++)
            for (int y = 0; y < h; y++) {
                /* x is past the row when n is 0: point at its start then. */
                const float *src = in + ((size_t)ci * h + y) * w + (n ? x : 0);
                size_t at = ci * plane + (size_t)(y + p->ph) * row + (size_t)r * v.len;
                kn->row(src, n, p->sw, inv, bytes + (at + j) * size);
                if (padded)
                    continue;
                memset(bytes + at * size, 0, (size_t)j * size);
                memset(bytes + (at + j + n) * size, 0, (v.len - j - n) * size);
            }
    }
    return v;
}

/* Where output row oy's reading of channel ci starts, in elements. */
static size_t row_at(const phased *v, const nn_window *p, int ci, int oy)
{
    return ((size_t)ci * v->hp + (size_t)oy * p->sh) * v->sw * v->len;
}

/* Where tap (ky, kx) reads, counted from row_at(). */
static size_t tap_offset(const phased *v, int ky, int kx)
{
    return ((size_t)ky * v->sw + (size_t)(kx % v->sw)) * v->len + (size_t)(kx / v->sw);
}

/*
 * A matrix-product convolution's scratch, in bytes: the phased copy (of
 * floats, none where the input is read in place; or of bytes for int8),
 * then at *koff where each row of K reads (see conv_koff), then at *panel
 * the B panel: KC x NR floats, or for int8 the whole of K in bytes.
 */
static uint64_t gemm_scratch(const nn_conv *cv, int64_t h, int64_t w, int int8, size_t *koff,
                             size_t *panel)
{
    size_t k = conv_k(cv);
    uint64_t phase = int8 ? phase_size(&cv->win, cv->in_c, h, w)
                          : sizeof(float) * phase_floats(&cv->win, cv->in_c, h, w);
    *koff = round_up(phase, 64);
    *panel = *koff + round_up(sizeof(size_t) * k, 64);
    return *panel + (int8 ? round_up(k, 4) * NR : sizeof(float) * KC * NR);
}

/* Tile rows of a Winograd block: about WINO_TILES tiles, at least a row. */
static int wino_rows(int64_t tw, int64_t th)
{
    int64_t r = WINO_TILES / tw;
    return (int)(r < 1 ? 1 : r < th ? r : th);
}

/*
 * A Winograd convolution's scratch, in bytes, for an h x w input: the B
 * panel (KC x NR floats) at 0, then at[0] the transformed input V (16 x
 * in_c x the block's tiles), at[1] the products M (16 x out_c x tiles),
 * at[2] the transforms' tmp, at[3] out_c zeros (the GEMMs' bias), at[4]
 * koff (see conv_koff).
 */
static uint64_t wino_scratch(const nn_conv *cv, int64_t h, int64_t w, size_t at[5])
{
    int64_t tw = (w + 1) / 2, tb = wino_rows(tw, (h + 1) / 2) * tw;
    uint64_t f = sizeof(float), size[5] = { f * 16 * (uint64_t)cv->in_c * tb,
                                            f * 16 * (uint64_t)cv->out_c * tb,
                                            f * wino_tmp((int)tw), f * (uint64_t)cv->out_c,
                                            sizeof(size_t) * (uint64_t)cv->in_c };
    uint64_t end = f * KC * NR;
    for (int i = 0; i < 5; i++) {
        at[i] = end;
        end += round_up(size[i], 64);
    }
    return end;
}

uint64_t nn_conv_scratch(const nn_conv *cv, int64_t h, int64_t w)
{
    /* A direct convolution phases one channel at a time. */
    if (cv->direct)
        return phase_floats(&cv->win, 1, h, w);
    size_t koff, panel, at[5];
    uint64_t f = gemm_scratch(cv, h, w, 0, &koff, &panel);
    uint64_t b = cv->w8 ? gemm_scratch(cv, h, w, 1, &koff, &panel) : 0;
    uint64_t v = cv->wino ? wino_scratch(cv, h, w, at) : 0;
    f = f > b ? f : b;
    return ((f > v ? f : v) + 3) / 4;
}

/*
 * Each output channel o reads input channel o / (out_c / groups) only
 * (groups == in_c). Each input channel is phased on its own just before
 * the outputs that read it, so that the copy is read back from cache, not
 * memory. Every channel's copy has its padding in the same places, so only
 * the first one writes it: in the second look's small layers, zeroing a
 * column or two of padding per row was a third of the calls.
 */
static void conv_direct(const kernels *kn, const nn_conv *cv, const float *in, int h, int w,
                        float *out, int oh, int ow, float *scratch)
{
    const nn_window *p = &cv->win;
    int per_group = cv->out_c / cv->groups, taps = p->kh * p->kw;
    if (kn->row3 && p->kh == 3 && p->kw == 3 && p->ph == 1 && p->pw == 1 && p->sh == 2 &&
        p->sw == 2) {
        /* Row by row, the three input rows staying in L1 for every output
         * channel that reads them. */
        for (int ci = 0; ci < cv->in_c; ci++)
            for (int y = 0; y < oh; y++) {
                const float *rows[3];
                for (int ky = 0; ky < 3; ky++) {
                    int iy = 2 * y + ky - 1;
                    rows[ky] = iy >= 0 && iy < h ? in + ((size_t)ci * h + iy) * w : NULL;
                }
                int o = ci * per_group;
                kn->row3(rows, w, per_group, cv->weights + (size_t)o * taps, cv->bias + o,
                         out + ((size_t)o * oh + y) * ow, (size_t)oh * ow, ow,
                         cv->act == NN_ACT_RELU);
            }
        return;
    }
    for (int ci = 0; ci < cv->in_c; ci++) {
        phased v = phase_input(kn, in + (size_t)ci * h * w, 1, h, w, p, 0, ci > 0, scratch);
        for (int o = ci * per_group; o < (ci + 1) * per_group; o++)
            kn->taps(ow, oh, p, v.p, v.len, cv->weights + (size_t)o * taps,
                     out + (size_t)o * oh * ow, cv->bias[o], cv->act == NN_ACT_RELU);
    }
}

/*
 * im2col of one B panel, packed: the NR output pixels from n0 (fewer at
 * the end, the rest of each step zero) over kc steps of K, step k reading
 * from koff[k] on (see conv_koff), counted from channel c0. Step k of the
 * panel is dst[k * NR .. k * NR + NR).
 */
static void pack_panel(const phased *v, const nn_window *p, int c0, int ow,
                       size_t n0, int nc, const size_t *koff, int kc, float *dst)
{
    int oy0 = (int)(n0 / (size_t)ow), ox0 = (int)(n0 % (size_t)ow);
    const float *at = v->p + row_at(v, p, c0, oy0) + ox0;
    /* The common case, a fixed-size copy per step: a panel inside one
     * output row, or across output rows that lie end to end in v (as in a
     * 1x1 convolution read in place). */
    if (nc == NR && (ox0 + NR <= ow || row_at(v, p, 0, 1) == (size_t)ow)) {
        for (int k = 0; k < kc; k++)
            memcpy(dst + k * NR, at + koff[k], sizeof(float) * NR);
        return;
    }
    for (int k = 0; k < kc; k++, dst += NR) {
        for (int done = 0, ox = ox0, oy = oy0; done < nc; ox = 0, oy++) {
            int m = nc - done < ow - ox ? nc - done : ow - ox;
            memcpy(dst + done, v->p + row_at(v, p, c0, oy) + koff[k] + ox,
                   sizeof(float) * (size_t)m);
            done += m;
        }
        memset(dst + nc, 0, sizeof(float) * (size_t)(NR - nc));
    }
}

/*
 * c[m][n] = act(a x b + bias), a packed as nn_conv_prepare() does and b the
 * im2col matrix of input channels c0.. of v (row kk of K reading from
 * koff[kk] on), packed a panel at a time into buf (KC x NR floats) just
 * before its use so that it never leaves L1.
 * Only ReLU is fused: the caller applies any other activation.
 */
static void gemm(const kernels *kn, int m, int n, int k, const float *a,
                 const phased *v, const nn_window *p, int c0, int ow, const size_t *koff,
                 float *buf, const float *bias, int relu, float *c)
{
    size_t ldc = (size_t)n;
    for (int k0 = 0; k0 < k; k0 += KC) {
        int kc = k - k0 < KC ? k - k0 : KC, first = k0 == 0, last = k0 + kc == k;
        for (int j = 0; j < n; j += NR) {
            int nc = n - j < NR ? n - j : NR;
            pack_panel(v, p, c0, ow, (size_t)j, nc, koff + k0, kc, buf);
            for (int i = 0; i < m; i += MR) {
                const float *ap = a + (size_t)(i / MR) * k * MR + (size_t)k0 * MR;
                int mc = m - i < MR ? m - i : MR;
                float *cp = c + i * ldc + j;
                if (mc == MR && nc == NR) {
                    kn->tile(kc, ap, buf, cp, ldc, first ? bias + i : NULL,
                             last && relu);
                    continue;
                }
                /* A ragged edge goes through a full-size tile. */
                float t[MR * NR] = {0}, tb[MR] = {0};
                for (int r = 0; r < mc; r++) {
                    tb[r] = bias[i + r];
                    if (!first)
                        memcpy(t + r * NR, cp + r * ldc, sizeof(float) * nc);
                }
                kn->tile(kc, ap, buf, t, NR, first ? tb : NULL, last && relu);
                for (int r = 0; r < mc; r++)
                    memcpy(cp + r * ldc, t + r * NR, sizeof(float) * nc);
            }
        }
    }
}

/*
 * The int8 form of gemm(): b is the im2col matrix of the quantised input
 * (x / sa rounded to 0..255) at in, row kk of K reading from in + koff[kk]
 * onwards (see conv_koff). Each NR-column panel of it is gathered whole,
 * 4 rows interleaved, into bbuf; then the whole of K is multiplied at once
 * in int32 and c = act(acc * sa * a_scale[row] + bias).
 */
static void gemm8(const kernels *kn, int m, int n, int k, const int8_t *a, const float *a_scale,
                  const uint8_t *in, const size_t *koff, const phased *v, const nn_window *p,
                  int ow, uint8_t *bbuf, float sa, const float *bias, int relu, float *c)
{
    int k4 = (k + 3) / 4;
    size_t ldc = (size_t)n;
    for (int j = 0; j < n; j += NR) {
        int nc = n - j < NR ? n - j : NR, oy = j / ow, ox = j % ow;
        if (nc == NR && ox + NR <= ow) {
            kn->pack8(k, in + row_at(v, p, 0, oy) + ox, koff, bbuf);
        } else {
            /* A panel across output rows, or the last one: per column. */
            size_t col[NR];
            for (int i = 0; i < nc; i++)
                col[i] = row_at(v, p, 0, (j + i) / ow) + (size_t)((j + i) % ow);
            pack8_cols(k, in, koff, col, nc, bbuf);
        }
        for (int i = 0; i < m; i += MR) {
            const int8_t *ap = a + (size_t)(i / MR) * 4 * k4 * MR;
            int mc = m - i < MR ? m - i : MR;
            float sc[MR] = {0}, tb[MR] = {0};
            for (int r = 0; r < mc; r++)
                sc[r] = sa * a_scale[i + r], tb[r] = bias[i + r];
            float *cp = c + i * ldc + j;
            if (mc == MR && nc == NR) {
                kn->tile8(k4, ap, bbuf, cp, ldc, sc, tb, relu);
                continue;
            }
            float t[MR * NR];
            kn->tile8(k4, ap, bbuf, t, NR, sc, tb, relu);
            for (int r = 0; r < mc; r++)
                memcpy(cp + r * ldc, t + r * NR, sizeof(float) * nc);
        }
    }
}

/*
 * koff[kk] for each row kk of K, (channel, ky, kx) from channel 0: where in
 * v it reads, counted from row_at() of the output row. Each channel after
 * the first reads its taps one channel plane on.
 */
static void conv_koff(const phased *v, const nn_window *p, int k, size_t *koff)
{
    int taps = p->kh * p->kw;
    for (int t = 0; t < taps; t++)
        koff[t] = tap_offset(v, t / p->kw, t % p->kw);
    for (int kk = taps; kk < k; kk++)
        koff[kk] = koff[kk - taps] + row_at(v, p, 1, 0);
}

/*
 * A 3x3 convolution at stride 1 padded by 1, as Winograd's F(2x2, 3x3)
 * (Lavin and Gray, 2015): each 2x2 block of outputs is A^T M A, where M
 * = sum over input channels of U .* (B^T d B), d being the 4x4 input
 * around the block and U the weights' form made by prepare_wino(). The 16
 * products per channel pair take the place of the 36 of the plain
 * product (the recogniser's 3x3 layers are three quarters of its
 * multiply-adds), and each of the 16 sums over channels is a matrix
 * product M_x[out_c][tiles] = U_x x V_x[in_c][tiles], which gemm() runs
 * as a 1x1 convolution over a row of tiles. Rows of tiles are done a
 * block at a time so that V and M stay in cache. The float result differs
 * from the plain product's by rounding only (nn tests, nn_bench).
 */
static void wino_run(const kernels *kn, const nn_conv *cv, const float *in, int h, int w,
                     float *out, int oh, int ow, float *scratch)
{
    size_t at[5];
    wino_scratch(cv, h, w, at);
    uint8_t *base = (uint8_t *)scratch;
    float *buf = scratch, *V = (float *)(base + at[0]), *M = (float *)(base + at[1]);
    float *tmp = (float *)(base + at[2]), *zero = (float *)(base + at[3]);
    size_t *koff = (size_t *)(base + at[4]);
    int tw = (ow + 1) / 2, th = (oh + 1) / 2, nty = wino_rows(tw, th);
    int m = cv->out_c, k = cv->in_c, relu = cv->act == NN_ACT_RELU;
    size_t one = round_up((size_t)m, MR) * (size_t)k;
    const nn_window p1 = { 1, 1, 1, 1, 0, 0 };
    memset(zero, 0, sizeof(float) * (size_t)m);
    for (int ty0 = 0; ty0 < th; ty0 += nty) {
        int rows = th - ty0 < nty ? th - ty0 : nty;
        size_t n = (size_t)rows * (size_t)tw;
        for (int c = 0; c < k; c++)
            for (int r = 0; r < rows; r++) {
                const float *src[4];
                for (int i = 0; i < 4; i++) {
                    int y = 2 * (ty0 + r) - 1 + i;
                    src[i] = y >= 0 && y < h ? in + ((size_t)c * h + y) * w : NULL;
                }
                kn->wino_in(src, w, tw, V + c * n + (size_t)r * tw, (size_t)k * n, tmp);
            }
        /* Each V_x is a 1 x n image of k channels; all share one koff. */
        phased v = { V, NULL, n, 1, 1 };
        conv_koff(&v, &p1, k, koff);
        for (int x = 0; x < 16; x++, v.p += (size_t)k * n)
            gemm(kn, m, (int)n, k, cv->wino + x * one, &v, &p1, 0, (int)n, koff, buf, zero, 0,
                 M + x * (size_t)m * n);
        for (int o = 0; o < m; o++)
            for (int r = 0; r < rows; r++) {
                int oy = 2 * (ty0 + r);
                float *o0 = out + ((size_t)o * oh + oy) * ow;
                kn->wino_out(M + o * n + (size_t)r * tw, (size_t)m * n, tw, ow, cv->bias[o],
                             relu, o0, oy + 1 < oh ? o0 + ow : NULL, tmp);
            }
    }
}

void nn_conv_run(const nn_conv *cv, const float *in, int h, int w,
                 float *out, int oh, int ow, float *scratch)
{
    kernels kn = pick_kernels();
    const nn_window *p = &cv->win;
    size_t n = (size_t)oh * ow;
    float big = cv->use_int8 && cv->w8 ? kn.scan(in, (size_t)cv->in_c * h * w) : -1;
    /* An all-zero input quantises with any scale: 1 keeps it finite. */
    float sa = big > 0 ? big / 255 : 1;
    if (cv->direct) {
        conv_direct(&kn, cv, in, h, w, out, oh, ow, scratch);
    } else if (cv->wino && big < 0) {
        wino_run(&kn, cv, in, h, w, out, oh, ow, scratch);
    } else {
        phased v = phase_input(&kn, in, cv->in_c, h, w, p, big >= 0 ? 1 / sa : 0, 0, scratch);
        int cpg = cv->in_c / cv->groups, m = cv->out_c / cv->groups, relu = cv->act == NN_ACT_RELU;
        size_t k = conv_k(cv), group = round_up((size_t)m, MR) * k, koff_at, panel_at;
        gemm_scratch(cv, h, w, big >= 0, &koff_at, &panel_at);
        size_t *koff = (size_t *)((uint8_t *)scratch + koff_at);
        uint8_t *panel = (uint8_t *)scratch + panel_at;
        conv_koff(&v, p, (int)k, koff);
        for (int g = 0; g < cv->groups; g++) {
            const float *bias = cv->bias + (size_t)g * m;
            float *o = out + (size_t)g * m * n;
            if (big >= 0)
                gemm8(&kn, m, (int)n, (int)k, cv->w8 + g * int8_group(cv), cv->w8_scale + g * m,
                      v.b + row_at(&v, p, g * cpg, 0), koff, &v, p, ow, panel, sa, bias,
                      relu, o);
            else
                gemm(&kn, m, (int)n, (int)k, cv->weights + g * group, &v, p, g * cpg, ow, koff,
                     (float *)panel, bias, relu, o);
        }
    }
    if (cv->act == NN_ACT_SIGMOID)
        nn_act(out, n * cv->out_c, NN_ACT_SIGMOID, out);
}

/* Output columns [*lo, *hi) for which ox * s + off lies inside [0, w). */
static void valid_span(int w, int s, int off, int ow, int *lo, int *hi)
{
    int l = off < 0 ? (-off + s - 1) / s : 0;
    int h = w - off <= 0 ? 0 : (w - off - 1) / s + 1;
    *lo = l < ow ? l : ow;
    *hi = h < ow ? h : ow;
    if (*hi < *lo)
        *hi = *lo;
}

/* out[k] = max(out[k], in[k * stride]), or the sum; constant strides as
 * in gather(). */
static inline void pool_row(float *out, const float *in, int n, int stride,
                            int max)
{
    if (max)
        for (int k = 0; k < n; k++)
            out[k] = in[(size_t)k * stride] > out[k] ? in[(size_t)k * stride] : out[k];
    else
        for (int k = 0; k < n; k++)
            out[k] += in[(size_t)k * stride];
}

/*
 * Max or average pooling, a window tap at a time over whole output rows;
 * padding never wins a max (and average pooling has none).
 */
static void pool(const float *in, int c, int h, int w, const nn_window *p,
                 float *out, int oh, int ow, int max)
{
    float scale = 1.0f / (float)(p->kh * p->kw);
    for (int ch = 0; ch < c; ch++, in += (size_t)h * w)
        for (int oy = 0; oy < oh; oy++, out += ow) {
            for (int x = 0; x < ow; x++)
                out[x] = max ? -INFINITY : 0;
            for (int ky = 0; ky < p->kh; ky++) {
                int iy = oy * p->sh - p->ph + ky;
                if (iy < 0 || iy >= h)
                    continue;
                for (int kx = 0; kx < p->kw; kx++) {
                    int lo, hi, off = kx - p->pw;
                    valid_span(w, p->sw, off, ow, &lo, &hi);
                    if (lo == hi)
                        continue;
                    const float *src = in + (size_t)iy * w + (size_t)lo * p->sw + off;
                    if (p->sw == 1)
                        pool_row(out + lo, src, hi - lo, 1, max);
                    else if (p->sw == 2)
                        pool_row(out + lo, src, hi - lo, 2, max);
                    else
                        pool_row(out + lo, src, hi - lo, p->sw, max);
                }
            }
            if (!max)
                for (int x = 0; x < ow; x++)
                    out[x] *= scale;
        }
}

/*
 * out[x] = the max of the 2 x kw window of rows r0 and r1 at column x * kw,
 * folded from minus infinity in pool()'s order so that NaNs and signed
 * zeros come out the same; a constant kw, as in gather(), vectorises.
 */
static inline void max_2xk(const float *r0, const float *r1, int n, int kw, float *out)
{
    for (int x = 0; x < n; x++) {
        float m = -INFINITY;
        for (int i = 0; i < kw; i++)
            m = r0[x * kw + i] > m ? r0[x * kw + i] : m;
        for (int i = 0; i < kw; i++)
            m = r1[x * kw + i] > m ? r1[x * kw + i] : m;
        out[x] = m;
    }
}

void nn_maxpool(const float *in, int c, int h, int w, const nn_window *win,
                float *out, int oh, int ow)
{
    /* The recogniser's 2x2 and 2x1 windows, unpadded, without the general
     * loop's per-tap bookkeeping: every window lies inside the input. */
    if (win->kh != 2 || win->sh != 2 || win->sw != win->kw || win->kw > 2 || win->ph ||
        win->pw) {
        pool(in, c, h, w, win, out, oh, ow, 1);
        return;
    }
    for (int ch = 0; ch < c; ch++)
        for (int oy = 0; oy < oh; oy++, out += ow) {
            const float *r0 = in + ((size_t)ch * h + 2 * (size_t)oy) * w;
            if (win->kw == 1)
                max_2xk(r0, r0 + w, ow, 1, out);
            else
                max_2xk(r0, r0 + w, ow, 2, out);
        }
}

void nn_avgpool(const float *in, int c, int h, int w, const nn_window *win,
                float *out, int oh, int ow)
{
    pool(in, c, h, w, win, out, oh, ow, 0);
}

/* out[x * f + i] = in[x] for i < f; constant factors as in gather(). */
static inline void stretch(float *out, const float *in, int w, int f)
{
    for (int x = 0; x < w; x++)
        for (int i = 0; i < f; i++)
            out[x * f + i] = in[x];
}

void nn_upsample(const float *in, int c, int h, int w, int factor, float *out)
{
    size_t ow = (size_t)w * factor;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++, in += w) {
            if (factor == 2)
                stretch(out, in, w, 2);
            else
                stretch(out, in, w, factor);
            for (int f = 1; f < factor; f++)
                memcpy(out + f * ow, out, sizeof(float) * ow);
            out += factor * ow;
        }
}

void nn_add(const float *a, const float *b, size_t n, int act, float *out)
{
    /* ReLU in the same pass: the detector adds 24x72x128 floats a frame. */
    if (act == NN_ACT_RELU) {
        for (size_t i = 0; i < n; i++) {
            float x = a[i] + b[i];
            out[i] = x < 0 ? 0 : x;
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
    nn_act(out, n, act, out);
}

void nn_act(const float *in, size_t n, int act, float *out)
{
    switch (act) {
    case NN_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            out[i] = in[i] < 0 ? 0 : in[i];
        break;
    case NN_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            out[i] = 1.0f / (1.0f + expf(-in[i]));
        break;
    default:
        if (out != in)
            memmove(out, in, sizeof(float) * n);
    }
}
