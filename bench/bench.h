/*
 * bench.h: the timing and statistics every benchmark program shares.
 */
#ifndef ANPR_BENCH_H
#define ANPR_BENCH_H

#include <math.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* qsort() order for doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v and returns its median (the mean of the middle two for even n);
 * NAN when empty. */
static inline double bench_median(double *v, int n)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Intersection over union of quad q's bounding box and the box at x, y of
 * size w x h: how the benchmarks judge that a plate was found. */
static inline float bench_iou(const float q[4][2], float x, float y, float w, float h)
{
    float x0 = q[0][0], y0 = q[0][1], x1 = x0, y1 = y0;
    for (int k = 1; k < 4; k++) {
        x0 = fminf(x0, q[k][0]), x1 = fmaxf(x1, q[k][0]);
        y0 = fminf(y0, q[k][1]), y1 = fmaxf(y1, q[k][1]);
    }
    float ix = fmaxf(0, fminf(x1, x + w) - fmaxf(x0, x));
    float iy = fmaxf(0, fminf(y1, y + h) - fmaxf(y0, y));
    float inter = ix * iy, uni = (x1 - x0) * (y1 - y0) + w * h - inter;
    return uni > 0 ? inter / uni : 0;
}

#endif
