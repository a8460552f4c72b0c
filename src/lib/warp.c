/*
 * warp.c: resampling grey planes into the float planes the networks eat.
 *
 * Both functions run for every frame and every plate, so they allocate
 * nothing and keep per-pixel work to a few multiplies. Pixel (x, y)
 * covers [x, x+1) x [y, y+1), its centre at (x + 0.5, y + 0.5), in both.
 */
#include "image.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Bilinear sample at continuous (u, v), edge pixels repeated outside. */
static inline float sample(const uint8_t *src, int sw, int sh, int stride,
                           float u, float v)
{
    float fx = u - 0.5f, fy = v - 0.5f;
    /* Written so NaN, from a degenerate quad, lands on 0 too. */
    if (!(fx >= 0.0f))
        fx = 0.0f;
    if (!(fy >= 0.0f))
        fy = 0.0f;
    if (fx > (float)(sw - 1))
        fx = (float)(sw - 1);
    if (fy > (float)(sh - 1))
        fy = (float)(sh - 1);
    int x0 = (int)fx, y0 = (int)fy;
    int x1 = x0 + (x0 < sw - 1), y1 = y0 + (y0 < sh - 1);
    float ax = fx - (float)x0, ay = fy - (float)y0;
    const uint8_t *r0 = src + (size_t)y0 * (size_t)stride;
    const uint8_t *r1 = src + (size_t)y1 * (size_t)stride;
    float top = (float)r0[x0] + ax * (float)(r0[x1] - r0[x0]);
    float bot = (float)r1[x0] + ax * (float)(r1[x1] - r1[x0]);
    return top + ay * (bot - top);
}

/*
 * The projective map of the unit square (s, t) onto quad q, after
 * Heckbert's "Fundamentals of Texture Mapping" (1989):
 *   u = (a s + b t + c) / (g s + h t + 1), v likewise with d e f;
 * m = {a, b, c, d, e, f, g, h}. g = h = 0 for parallelograms, which is the
 * common, affine case.
 */
static void square_to_quad(const float q[4][2], double m[8])
{
    double x0 = q[0][0], y0 = q[0][1], x1 = q[1][0], y1 = q[1][1];
    double x2 = q[2][0], y2 = q[2][1], x3 = q[3][0], y3 = q[3][1];
    double dx1 = x1 - x2, dx2 = x3 - x2, dx3 = x0 - x1 + x2 - x3;
    double dy1 = y1 - y2, dy2 = y3 - y2, dy3 = y0 - y1 + y2 - y3;
    double g = 0, h = 0, den = dx1 * dy2 - dx2 * dy1;
    if ((dx3 != 0 || dy3 != 0) && den != 0) {
        g = (dx3 * dy2 - dx2 * dy3) / den;
        h = (dx1 * dy3 - dx3 * dy1) / den;
    }
    m[0] = x1 - x0 + g * x1, m[1] = x3 - x0 + h * x3, m[2] = x0;
    m[3] = y1 - y0 + g * y1, m[4] = y3 - y0 + h * y3, m[5] = y0;
    m[6] = g, m[7] = h;
}

void image_quad_point(const float q[4][2], float s, float t, float out[2])
{
    double m[8];
    square_to_quad(q, m);
    double z = m[6] * s + m[7] * t + 1.0;
    out[0] = (float)((m[0] * s + m[1] * t + m[2]) / z);
    out[1] = (float)((m[3] * s + m[4] * t + m[5]) / z);
}

void image_quad_part(const float q[4][2], float u0, float u1, float v0, float v1,
                     float out[4][2])
{
    const float u[4] = {u0, u1, u1, u0}, v[4] = {v0, v0, v1, v1};
    for (int k = 0; k < 4; k++)
        for (int d = 0; d < 2; d++) {
            float top = q[0][d] + u[k] * (q[1][d] - q[0][d]);
            float bot = q[3][d] + u[k] * (q[2][d] - q[3][d]);
            out[k][d] = top + v[k] * (bot - top);
        }
}

/* Output i of a row is sampled at ((u0 + i su) / z, (v0 + i sv) / z), z
 * = z0 + i sz, or z = 1 when affine: the samples from i on, into out[i..n). */
typedef struct warp_row {
    float u0, v0, z0, su, sv, sz;
    int affine;
} warp_row;

static void row_portable(const uint8_t *src, int sw, int sh, int stride, const warp_row *r,
                         int i, int n, float *out)
{
    const float scale = 1.0f / 255.0f;
    for (; i < n; i++) {
        float u = r->u0 + (float)i * r->su, v = r->v0 + (float)i * r->sv;
        if (!r->affine) {
            float iz = 1.0f / (r->z0 + (float)i * r->sz);
            u *= iz, v *= iz;
        }
        out[i] = sample(src, sw, sh, stride, u, v) * scale;
    }
}

#if defined(__x86_64__)
/* Each lane's four bytes from byte offset at of src, shifted so that the
 * byte at `at` comes first; an offset past last4 (the last place four
 * bytes can be read from) is read from there. */
__attribute__((target("avx2"), always_inline))
static inline __m256i gather_at(const uint8_t *src, __m256i at, __m256i last4)
{
    __m256i base = _mm256_min_epi32(at, last4);
    __m256i w = _mm256_i32gather_epi32((const int *)src, base, 1);
    return _mm256_srlv_epi32(w, _mm256_slli_epi32(_mm256_sub_epi32(at, base), 3));
}

/* Each lane's first byte of w plus a times its second less its first:
 * sample()'s step along a row. */
__attribute__((target("avx2"), always_inline))
static inline __m256 lerp_bytes(__m256i w, __m256 a)
{
    const __m256i byte = _mm256_set1_epi32(0xFF);
    __m256i p0 = _mm256_and_si256(w, byte), p1 = _mm256_and_si256(_mm256_srli_epi32(w, 8), byte);
    return _mm256_add_ps(_mm256_cvtepi32_ps(p0),
                         _mm256_mul_ps(a, _mm256_cvtepi32_ps(_mm256_sub_epi32(p1, p0))));
}

/*
 * sample() eight outputs at a time: the same operations in the same order
 * (no fused multiply-adds), so the same bits. Each lane gathers the four
 * bytes from its left pixel in its two rows; the pixel right of it is the
 * second byte. A gather that would read past the plane's last byte reads
 * the four bytes before it, shifted into place; the byte lost past the end
 * belongs to a sample on the last column, weighted 0 (its ax is 0 there,
 * as sample() then reads the same pixel twice). The bottom row is read as
 * its own next row, as sample() does. Returns how many it wrote: n rounded
 * down to eight, or 0 where the plane's offsets do not fit 31 bits.
 */
__attribute__((target("avx2")))
static int row_avx2(const uint8_t *src, int sw, int sh, int stride, const warp_row *r, int n,
                    float *out)
{
    int64_t end = (int64_t)(sh - 1) * stride + sw;
    if (end > INT32_MAX || end < 4)
        return 0;
    const __m256 zero = _mm256_setzero_ps(), half = _mm256_set1_ps(0.5f);
    const __m256 xmax = _mm256_set1_ps((float)(sw - 1)), ymax = _mm256_set1_ps((float)(sh - 1));
    const __m256 u0 = _mm256_set1_ps(r->u0), v0 = _mm256_set1_ps(r->v0), z0 = _mm256_set1_ps(r->z0);
    const __m256 su = _mm256_set1_ps(r->su), sv = _mm256_set1_ps(r->sv), sz = _mm256_set1_ps(r->sz);
    const __m256 one = _mm256_set1_ps(1.0f), scale = _mm256_set1_ps(1.0f / 255.0f);
    const __m256i last_row = _mm256_set1_epi32(sh - 1), rows = _mm256_set1_epi32(stride);
    const __m256i last4 = _mm256_set1_epi32((int)end - 4);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 fi = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_set1_epi32(i), lanes));
        __m256 u = _mm256_add_ps(u0, _mm256_mul_ps(fi, su));
        __m256 v = _mm256_add_ps(v0, _mm256_mul_ps(fi, sv));
        if (!r->affine) {
            __m256 iz = _mm256_div_ps(one, _mm256_add_ps(z0, _mm256_mul_ps(fi, sz)));
            u = _mm256_mul_ps(u, iz), v = _mm256_mul_ps(v, iz);
        }
        /* max_ps gives its second operand for NaN: 0, as sample()'s tests. */
        __m256 fx = _mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(u, half), zero), xmax);
        __m256 fy = _mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(v, half), zero), ymax);
        __m256i x0 = _mm256_cvttps_epi32(fx), y0 = _mm256_cvttps_epi32(fy);
        __m256 ax = _mm256_sub_ps(fx, _mm256_cvtepi32_ps(x0));
        __m256 ay = _mm256_sub_ps(fy, _mm256_cvtepi32_ps(y0));
        __m256i at0 = _mm256_add_epi32(_mm256_mullo_epi32(y0, rows), x0);
        __m256i below = _mm256_and_si256(_mm256_cmpgt_epi32(last_row, y0), rows);
        __m256 top = lerp_bytes(gather_at(src, at0, last4), ax);
        __m256 bot = lerp_bytes(gather_at(src, _mm256_add_epi32(at0, below), last4), ax);
        __m256 val = _mm256_add_ps(top, _mm256_mul_ps(ay, _mm256_sub_ps(bot, top)));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(val, scale));
    }
    return i;
}
#endif

void image_warp_quad(const uint8_t *src, int sw, int sh, int sstride,
                     const float q[4][2], float *dst, int dst_w, int dst_h)
{
    double m[8];
    square_to_quad(q, m);
    double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5], g = m[6], h = m[7];
    /* Per destination pixel: s = (i + 0.5) / dst_w, so each term is linear
     * in i: a start per row plus i steps (multiplied, not accumulated, so
     * rounding does not build up along wide rows). */
    double si = 1.0 / dst_w, tj = 1.0 / dst_h;
    warp_row r = {0, 0, 0, (float)(a * si), (float)(d * si), (float)(g * si), g == 0 && h == 0};
#if defined(__x86_64__)
    int wide = __builtin_cpu_supports("avx2");
#endif
    for (int j = 0; j < dst_h; j++) {
        double t = (j + 0.5) * tj, s = 0.5 * si;
        r.u0 = (float)(a * s + b * t + c), r.v0 = (float)(d * s + e * t + f);
        r.z0 = (float)(g * s + h * t + 1.0);
        float *out = dst + (size_t)j * (size_t)dst_w;
        int i = 0;
#if defined(__x86_64__)
        if (wide)
            i = row_avx2(src, sw, sh, sstride, &r, dst_w, out);
#endif
        row_portable(src, sw, sh, sstride, &r, i, dst_w, out);
    }
}

/*
 * The source pixels behind one output pixel along one axis: first..last,
 * the end ones weighted w_first and w_last, those between weighted 1, the
 * sum multiplied by norm. Area averaging when shrinking (the fractions
 * are the overlaps, exact in integers); bilinear when growing.
 */
typedef struct taps {
    int first, last;
    float w_first, w_last, norm;
} taps;

static inline taps axis_taps(int i, int s, int d)
{
    taps t;
    if (s > d) {
        /* Output pixel i spans source [a/d, b/d): longer than one pixel. */
        int64_t a = (int64_t)i * s, b = a + s;
        t.first = (int)(a / d);
        t.last = (int)((b + d - 1) / d) - 1;
        t.w_first = (float)((int64_t)(t.first + 1) * d - a) / (float)d;
        t.w_last = (float)(b - (int64_t)t.last * d) / (float)d;
        t.norm = (float)d / (float)s;
        return t;
    }
    float c = ((float)i + 0.5f) * (float)s / (float)d - 0.5f;
    if (c < 0.0f)
        c = 0.0f;
    t.first = (int)c;
    t.norm = 1.0f;
    if (t.first >= s - 1) {
        t.first = t.last = s - 1;
        t.w_first = 1.0f;
        t.w_last = 0.0f;
    } else {
        t.last = t.first + 1;
        t.w_last = c - (float)t.first;
        t.w_first = 1.0f - t.w_last;
    }
    return t;
}

/* acc[x - x0] for x0 <= x < x1: source column x summed down the vertical
 * taps. Plain loops over x, which the compiler vectorises. */
static void column_sums(const uint8_t *restrict src, size_t sstride, taps ty, int x0, int x1,
                        float *restrict acc)
{
    const uint8_t *r = src + (size_t)ty.first * sstride;
    int n = x1 - x0;
    for (int x = 0; x < n; x++)
        acc[x] = ty.w_first * (float)r[x0 + x];
    if (ty.last == ty.first)
        return;
    for (int l = ty.first + 1; l < ty.last; l++) {
        r = src + (size_t)l * sstride;
        for (int x = 0; x < n; x++)
            acc[x] += (float)r[x0 + x];
    }
    r = src + (size_t)ty.last * sstride;
    for (int x = 0; x < n; x++)
        acc[x] += ty.w_last * (float)r[x0 + x];
}

/* The part of tx's weighted sum over columns x0 <= x < x1, whose column
 * sums acc holds from x0. */
static float span_sum(const float *acc, taps tx, int x0, int x1)
{
    if (tx.first >= x0 && tx.last < x1) {   /* all in this span: no tests per tap */
        const float *a = acc - x0;
        float sum = tx.w_first * a[tx.first];
        if (tx.last > tx.first) {
            for (int x = tx.first + 1; x < tx.last; x++)
                sum += a[x];
            sum += tx.w_last * a[tx.last];
        }
        return sum;
    }
    int lo = tx.first > x0 ? tx.first : x0, hi = tx.last < x1 - 1 ? tx.last : x1 - 1;
    float sum = 0;
    for (int x = lo; x <= hi; x++) {
        float w = x == tx.first ? tx.w_first : x == tx.last ? tx.w_last : 1.0f;
        sum += w * acc[x - x0];
    }
    return sum;
}

/*
 * A block of output columns whose taps all lie in one span, MAX_TAPS or
 * fewer each, laid out tap by tap: output i's tap t reads acc[at[i] + t]
 * weighted wt[t][i], 0 past its last. Adding those zeros leaves each sum's
 * bits as span_sum() makes them (the sums are never negative), while
 * every pixel's sum runs over the same taps with no tests: span_sum() per
 * pixel was most of the time of the detector's whole-frame resize.
 */
enum { BLOCK = 256, SPAN = 2048, MAX_TAPS = 12 };
typedef struct flat_taps {
    int at[BLOCK];
    float wt[MAX_TAPS][BLOCK];
} flat_taps;

/* Lays out tx so; returns the taps of the widest output, 0 if over MAX_TAPS. */
static int flatten(const taps *tx, int n, int lo, flat_taps *f)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        int ki = tx[i].last - tx[i].first + 1;
        if (ki > MAX_TAPS)
            return 0;
        k = ki > k ? ki : k;
    }
    for (int i = 0; i < n; i++) {
        int last = tx[i].last - tx[i].first;
        f->at[i] = tx[i].first - lo;
        for (int t = 0; t < MAX_TAPS; t++)
            f->wt[t][i] = t == 0 ? tx[i].w_first : t > last ? 0.0f : t == last ? tx[i].w_last : 1.0f;
    }
    return k;
}

void image_resize_gray(const uint8_t *src, int sw, int sh, int sstride,
                       float *dst, int dw, int dh)
{
    /*
     * Separable: each output row first sums its source rows column by
     * column (vectorised, every source byte read once), then each output
     * pixel sums its columns of that. Output columns go in blocks whose
     * horizontal taps fit on the stack, and source columns in spans whose
     * sums do, so nothing is allocated whatever the ratio.
     */
    taps tx[BLOCK];
    flat_taps f;
    /* Past a span's sums, zeros for the zero-weighted taps to read. */
    float acc[SPAN + MAX_TAPS];
    for (int i0 = 0; i0 < dw; i0 += BLOCK) {
        int n = dw - i0 < BLOCK ? dw - i0 : BLOCK;
        for (int i = 0; i < n; i++)
            tx[i] = axis_taps(i0 + i, sw, dw);
        int lo = tx[0].first, hi = tx[n - 1].last + 1;
        int k = hi - lo <= SPAN ? flatten(tx, n, lo, &f) : 0;
        if (k)
            for (int t = 0; t < MAX_TAPS; t++)
                acc[hi - lo + t] = 0;
        for (int j = 0; j < dh; j++) {
            taps ty = axis_taps(j, sh, dh);
            float *out = dst + (size_t)j * (size_t)dw + i0;
            if (k) {
                column_sums(src, (size_t)sstride, ty, lo, hi, acc);
                for (int i = 0; i < n; i++) {
                    const float *a = acc + f.at[i];
                    float sum = f.wt[0][i] * a[0];
                    for (int t = 1; t < k; t++)
                        sum += f.wt[t][i] * a[t];
                    out[i] = sum;
                }
            } else {
                for (int i = 0; i < n; i++)
                    out[i] = 0;
                int open = 0;   /* the first output column with taps still ahead */
                for (int x0 = lo; x0 < hi; x0 += SPAN) {
                    int x1 = hi - x0 < SPAN ? hi : x0 + SPAN;
                    column_sums(src, (size_t)sstride, ty, x0, x1, acc);
                    for (int i = open; i < n && tx[i].first < x1; i++)
                        out[i] += span_sum(acc, tx[i], x0, x1);
                    while (open < n && tx[open].last < x1)
                        open++;
                }
            }
            for (int i = 0; i < n; i++)
                out[i] *= tx[i].norm * ty.norm / 255.0f;
        }
    }
}

static float dist(const float a[2], const float b[2])
{
    return hypotf(a[0] - b[0], a[1] - b[1]);
}

void image_warp_quad_area(const uint8_t *src, int sw, int sh, int sstride,
                          const float q[4][2], float *scratch, size_t scratch_len,
                          float *dst, int dst_stride, int dw, int dh)
{
    /* An upright rectangle on whole pixels (a whole-plate crop, say) is a
     * plain resize: exact area averaging, as in training, and faster. */
    int x0 = (int)q[0][0], y0 = (int)q[0][1], x1 = (int)q[2][0], y1 = (int)q[2][1];
    if (q[0][0] == x0 && q[0][1] == y0 && q[2][0] == x1 && q[2][1] == y1 && q[1][0] == x1
        && q[1][1] == y0 && q[3][0] == x0 && q[3][1] == y1 && x0 >= 0 && y0 >= 0 && x1 <= sw
        && y1 <= sh && x1 > x0 && y1 > y0) {
        image_resize_gray(src + (size_t)y0 * sstride + x0, x1 - x0, y1 - y0, sstride, scratch, dw, dh);
        for (int y = 0; y < dh; y++)
            memcpy(dst + (size_t)y * dst_stride, scratch + (size_t)y * dw, sizeof *dst * (size_t)dw);
        return;
    }
    float qw = fmaxf(dist(q[0], q[1]), dist(q[3], q[2]));
    float qh = fmaxf(dist(q[0], q[3]), dist(q[1], q[2]));
    int s = (int)fminf(fmaxf(qw / (float)dw, qh / (float)dh), IMAGE_MAX_SUPER);
    if (!(s >= 1))
        s = 1;
    while (s > 1 && (size_t)dw * (size_t)dh * (size_t)(s * s) > scratch_len)
        s--;
    image_warp_quad(src, sw, sh, sstride, q, scratch, dw * s, dh * s);
    float inv = 1.0f / (float)(s * s);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            float acc = 0;
            for (int j = 0; j < s; j++) {
                const float *row = scratch + (size_t)(y * s + j) * (size_t)(dw * s) + (size_t)(x * s);
                for (int i = 0; i < s; i++)
                    acc += row[i];
            }
            dst[(size_t)y * dst_stride + x] = acc * inv;
        }
}

void image_standardise(float *x, int n)
{
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++)
        sum += x[i];
    double mean = sum / n;
    for (int i = 0; i < n; i++)
        sq += (x[i] - mean) * (x[i] - mean);
    float inv = (float)(1.0 / (sqrt(sq / n) + 0.02));
    for (int i = 0; i < n; i++)
        x[i] = (float)(x[i] - mean) * inv;
}
