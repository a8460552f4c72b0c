/*
 * nn_ops.c: the operators of the nn runtime (see nn_ops.h).
 *
 * Almost all the time goes into convolutions. A convolution whose outputs
 * each read one input channel (depthwise, or a single input channel) runs
 * as direct loops of row AXPYs. Every other one becomes, per group, a
 * matrix product C[out_c][oh*ow] = W[out_c][K] x B[K][oh*ow], where B is
 * the im2col expansion of the input. W is packed into panels of MR rows
 * when the network is loaded and B into panels of NR columns per run, so
 * the micro-kernel reads both strictly sequentially; K is walked in blocks
 * of KC so a B panel block stays in L1 while every W panel streams from L2.
 *
 * The micro-kernel and the AXPY come in a portable version and, on
 * x86-64, an AVX2+FMA one chosen at run time, so one binary runs on any
 * x86-64 and at full speed where it can.
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

/*
 * c[MR][NR] (row stride ldc) = (bias ? bias[row] : c) + a x b over k steps,
 * a being MR floats per step and b NR floats per step; then clamped at 0
 * if relu.
 */
typedef void (*tile_fn)(int k, const float *a, const float *b, float *c,
                        size_t ldc, const float *bias, int relu);
/* y[i] += alpha * x[i * incx] for i < n. */
typedef void (*axpy_fn)(int n, float alpha, const float *x, int incx, float *y);

typedef struct kernels {
    tile_fn tile;
    axpy_fn axpy;
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

static void axpy_generic(int n, float alpha, const float *x, int incx, float *y)
{
    for (int i = 0; i < n; i++)
        y[i] += alpha * x[(size_t)i * incx];
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

__attribute__((target("avx2,fma")))
static void axpy_avx2(int n, float alpha, const float *x, int incx, float *y)
{
    if (incx != 1) {
        axpy_generic(n, alpha, x, incx, y);
        return;
    }
    __m256 va = _mm256_set1_ps(alpha);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i),
                                                _mm256_loadu_ps(y + i)));
    axpy_generic(n - i, alpha, x + i, 1, y + i);
}
#endif

static kernels pick_kernels(void)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return (kernels){tile_avx2, axpy_avx2};
#endif
    return (kernels){tile_generic, axpy_generic};
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

/* Rows of W per group, and K: the length of each row. */
static size_t conv_k(const nn_conv *cv)
{
    return (size_t)(cv->in_c / cv->groups) * cv->win.kh * cv->win.kw;
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
    /* Panel p of group g holds rows p*MR.. as k steps of MR floats, the
     * rows past m being zero. */
    memset(cv->weights, 0, sizeof(float) * group * (size_t)cv->groups);
    for (int g = 0; g < cv->groups; g++)
        for (size_t o = 0; o < m; o++) {
            const float *row = w + (g * m + o) * k;
            float *dst = cv->weights + g * group + o / MR * MR * k + o % MR;
            for (size_t p = 0; p < k; p++)
                dst[p * MR] = row[p];
        }
    return 0;
}

void nn_conv_release(nn_conv *cv)
{
    free(cv->weights);
    free(cv->bias);
    cv->weights = cv->bias = NULL;
}

uint64_t nn_conv_scratch(const nn_conv *cv, int64_t oh, int64_t ow)
{
    if (cv->in_c == cv->groups)
        return 0;
    uint64_t n = (uint64_t)oh * (uint64_t)ow;     /* both < 2^31 */
    n = (n + NR - 1) / NR * NR;
    uint64_t k = conv_k(cv);
    return n > UINT64_MAX / k ? UINT64_MAX : n * k;
}

/* Valid output columns [*lo, *hi) for which ox * s + off lies in [0, w). */
static void valid_span(int w, int s, int off, int ow, int *lo, int *hi)
{
    int l = off < 0 ? (-off + s - 1) / s : 0;
    int h = w - off <= 0 ? 0 : (w - off - 1) / s + 1;
    *lo = l < ow ? l : ow;
    *hi = h < ow ? h : ow;
    if (*hi < *lo)
        *hi = *lo;
}

/* Each output channel o reads input channel o / (out_c / groups) only. */
static void conv_direct(const kernels *kn, const nn_conv *cv, const float *in,
                        int h, int w, float *out, int oh, int ow)
{
    const nn_window *p = &cv->win;
    int per_group = cv->out_c / cv->groups;
    for (int o = 0; o < cv->out_c; o++) {
        const float *src = in + (size_t)(o / per_group) * h * w;
        const float *ker = cv->weights + (size_t)o * p->kh * p->kw;
        for (int oy = 0; oy < oh; oy++) {
            float *row = out + ((size_t)o * oh + oy) * ow;
            for (int x = 0; x < ow; x++)
                row[x] = cv->bias[o];
            for (int ky = 0; ky < p->kh; ky++) {
                int iy = oy * p->sh - p->ph + ky;
                if (iy < 0 || iy >= h)
                    continue;
                for (int kx = 0; kx < p->kw; kx++) {
                    int off = kx - p->pw, lo, hi;
                    valid_span(w, p->sw, off, ow, &lo, &hi);
                    if (lo < hi)
                        kn->axpy(hi - lo, ker[ky * p->kw + kx],
                                 src + (size_t)iy * w + lo * p->sw + off,
                                 p->sw, row + lo);
                }
            }
            if (cv->act == NN_ACT_RELU)
                for (int x = 0; x < ow; x++)
                    row[x] = row[x] < 0 ? 0 : row[x];
        }
    }
}

/*
 * im2col straight into B panels: element (k, n) of B, with k running over
 * (input channel, ky, kx) and n over output pixels, goes to panel n / NR,
 * step k, lane n % NR. Lanes past the last pixel are zero.
 */
static void pack_b(const float *in, int cpg, int h, int w, const nn_window *p,
                   int oh, int ow, float *dst)
{
    size_t panel = (size_t)cpg * p->kh * p->kw * NR, k = 0;
    for (int ci = 0; ci < cpg; ci++)
        for (int ky = 0; ky < p->kh; ky++)
            for (int kx = 0; kx < p->kw; kx++, k++) {
                float *base = dst + k * NR;
                int off = kx - p->pw, lo, hi;
                valid_span(w, p->sw, off, ow, &lo, &hi);
                size_t n = 0;
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * p->sh - p->ph + ky;
                    if (iy < 0 || iy >= h) {
                        for (int ox = 0; ox < ow; ox++, n++)
                            base[n / NR * panel + n % NR] = 0;
                        continue;
                    }
                    const float *src = in + ((size_t)ci * h + iy) * w + off;
                    int ox = 0;
                    for (; ox < lo; ox++, n++)
                        base[n / NR * panel + n % NR] = 0;
                    for (; ox < hi; ox++, n++)
                        base[n / NR * panel + n % NR] = src[(size_t)ox * p->sw];
                    for (; ox < ow; ox++, n++)
                        base[n / NR * panel + n % NR] = 0;
                }
                for (; n % NR; n++)
                    base[n / NR * panel + n % NR] = 0;
            }
}

/*
 * c[m][n] = act(a x b + bias) with a and b packed as above; only ReLU is
 * fused, the caller applies any other activation.
 */
static void gemm(const kernels *kn, int m, int n, int k, const float *a,
                 const float *b, const float *bias, int relu, float *c)
{
    size_t ldc = (size_t)n;
    for (int k0 = 0; k0 < k; k0 += KC) {
        int kc = k - k0 < KC ? k - k0 : KC, first = k0 == 0, last = k0 + kc == k;
        for (int j = 0; j < n; j += NR) {
            const float *bp = b + (size_t)(j / NR) * k * NR + (size_t)k0 * NR;
            int nc = n - j < NR ? n - j : NR;
            for (int i = 0; i < m; i += MR) {
                const float *ap = a + (size_t)(i / MR) * k * MR + (size_t)k0 * MR;
                int mc = m - i < MR ? m - i : MR;
                float *cp = c + i * ldc + j;
                if (mc == MR && nc == NR) {
                    kn->tile(kc, ap, bp, cp, ldc, first ? bias + i : NULL,
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
                kn->tile(kc, ap, bp, t, NR, first ? tb : NULL, last && relu);
                for (int r = 0; r < mc; r++)
                    memcpy(cp + r * ldc, t + r * NR, sizeof(float) * nc);
            }
        }
    }
}

void nn_conv_run(const nn_conv *cv, const float *in, int h, int w,
                 float *out, int oh, int ow, float *scratch)
{
    kernels kn = pick_kernels();
    int relu = cv->act == NN_ACT_RELU;
    size_t n = (size_t)oh * ow;
    if (cv->direct) {
        conv_direct(&kn, cv, in, h, w, out, oh, ow);
    } else {
        int cpg = cv->in_c / cv->groups, m = cv->out_c / cv->groups;
        size_t k = conv_k(cv), group = round_up((size_t)m, MR) * k;
        for (int g = 0; g < cv->groups; g++) {
            pack_b(in + (size_t)g * cpg * h * w, cpg, h, w, &cv->win, oh, ow,
                   scratch);
            gemm(&kn, m, (int)n, (int)k, cv->weights + g * group, scratch,
                 cv->bias + (size_t)g * m, relu, out + (size_t)g * m * n);
        }
    }
    if (cv->act == NN_ACT_SIGMOID)
        nn_act(out, n * cv->out_c, NN_ACT_SIGMOID, out);
}

void nn_maxpool(const float *in, int c, int h, int w, const nn_window *win,
                float *out, int oh, int ow)
{
    for (int ch = 0; ch < c; ch++, in += (size_t)h * w)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float m = -INFINITY;
                for (int ky = 0; ky < win->kh; ky++) {
                    int iy = oy * win->sh - win->ph + ky;
                    if (iy < 0 || iy >= h)
                        continue;
                    for (int kx = 0; kx < win->kw; kx++) {
                        int ix = ox * win->sw - win->pw + kx;
                        if (ix >= 0 && ix < w && in[(size_t)iy * w + ix] > m)
                            m = in[(size_t)iy * w + ix];
                    }
                }
                *out++ = m;
            }
}

void nn_avgpool(const float *in, int c, int h, int w, const nn_window *win,
                float *out, int oh, int ow)
{
    float scale = 1.0f / (float)(win->kh * win->kw);
    for (int ch = 0; ch < c; ch++, in += (size_t)h * w)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                const float *p = in + (size_t)oy * win->sh * w + (size_t)ox * win->sw;
                float s = 0;
                for (int ky = 0; ky < win->kh; ky++)
                    for (int kx = 0; kx < win->kw; kx++)
                        s += p[(size_t)ky * w + kx];
                *out++ = s * scale;
            }
}

void nn_upsample(const float *in, int c, int h, int w, int factor, float *out)
{
    size_t ow = (size_t)w * factor;
    for (int ch = 0; ch < c; ch++, in += (size_t)h * w)
        for (int y = 0; y < h; y++) {
            float *row = out;
            for (int x = 0; x < w; x++)
                for (int f = 0; f < factor; f++)
                    *out++ = in[(size_t)y * w + x];
            for (int f = 1; f < factor; f++, out += ow)
                memcpy(out, row, sizeof(float) * ow);
        }
}

void nn_add(const float *a, const float *b, size_t n, int act, float *out)
{
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
