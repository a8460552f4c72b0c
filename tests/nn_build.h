/*
 * nn_build.h: writes nn weight files (docs/nnfile.md) in C, for the tests,
 * the benchmark and the fuzzer's seeds, which need networks of a chosen
 * shape, or deliberately broken ones, without running Python.
 *
 *   nnb b = {0};
 *   nnb_header(&b, NN_KIND_DETECTOR, 3, 32, 32, "name=x\n", 2);
 *   nnb_conv(&b, 0, 3, 8, 3, 3, 1, 1, 1, 1, 1, 1, &seed);
 *   int p[] = {2, 2, 2, 2, 0, 0};
 *   nnb_layer(&b, 2, 1, (int[]){1}, 6, p, 0);
 *   nnb_finish(&b);   ... b.p, b.len ...   free(b.p);
 *
 * Writing never fails short of memory, which aborts; a builder holds no
 * state beyond its buffer, so a test may patch b.p before nnb_finish().
 */
#ifndef ANPR_NN_BUILD_H
#define ANPR_NN_BUILD_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

typedef struct nnb {
    uint8_t *p;
    size_t len, cap;
} nnb;

static inline void nnb_bytes(nnb *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        if (!(b->p = realloc(b->p, b->cap)))
            abort();
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static inline void nnb_u32(nnb *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    nnb_bytes(b, x, 4);
}

static inline void nnb_f32(nnb *b, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    nnb_u32(b, u);
}

/* Magic, version 1, kind, input shape, meta text and the layer count. */
static inline void nnb_header(nnb *b, int kind, int c, int h, int w,
                              const char *meta, uint32_t n_layers)
{
    nnb_bytes(b, "ANPRNNW", 8);
    uint32_t v[] = {1, (uint32_t)kind, (uint32_t)c, (uint32_t)h, (uint32_t)w,
                    (uint32_t)strlen(meta)};
    for (int i = 0; i < 6; i++)
        nnb_u32(b, v[i]);
    nnb_bytes(b, meta, strlen(meta));
    nnb_u32(b, n_layers);
}

/* A layer record up to its weight count; the tensors follow. */
static inline void nnb_layer(nnb *b, int op, int n_in, const int *in,
                             int n_params, const int *params, int n_weights)
{
    nnb_u32(b, (uint32_t)op);
    nnb_u32(b, (uint32_t)n_in);
    for (int i = 0; i < n_in; i++)
        nnb_u32(b, (uint32_t)in[i]);
    nnb_u32(b, (uint32_t)n_params);
    for (int i = 0; i < n_params; i++)
        nnb_u32(b, (uint32_t)params[i]);
    nnb_u32(b, (uint32_t)n_weights);
}

/* Uniform in [-1, 1) from a xorshift state. */
static inline float nnb_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return (float)(*s >> 8) / (float)(1 << 23) - 1.0f;
}

/* A tensor of the given dims filled with random values times scale. */
static inline void nnb_tensor(nnb *b, int ndim, const int *dims, float scale,
                              uint32_t *seed)
{
    size_t n = 1;
    nnb_u32(b, (uint32_t)ndim);
    for (int i = 0; i < ndim; i++) {
        nnb_u32(b, (uint32_t)dims[i]);
        n *= (size_t)dims[i];
    }
    for (size_t i = 0; i < n; i++)
        nnb_f32(b, nnb_rand(seed) * scale);
}

/* A whole conv2d layer with random weights (He's scale, so that activations
 * neither vanish nor explode along a deep stack). */
static inline void nnb_conv(nnb *b, int input, int in_c, int out_c, int kh,
                            int kw, int sh, int sw, int ph, int pw, int groups,
                            int act, uint32_t *seed)
{
    int p[] = {out_c, kh, kw, sh, sw, ph, pw, groups, act};
    int wd[] = {out_c, in_c / groups, kh, kw};
    nnb_layer(b, 1, 1, &input, 9, p, 2);
    nnb_tensor(b, 4, wd, sqrtf(6.0f / (float)(in_c / groups * kh * kw)), seed);
    nnb_tensor(b, 1, wd, 0.1f, seed);
}

/* Appends the CRC of everything so far. */
static inline void nnb_finish(nnb *b)
{
    nnb_u32(b, nn_crc32(b->p, b->len));
}

#endif
