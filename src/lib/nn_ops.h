/*
 * nn_ops.h: the operators of the nn runtime, on channels-first float
 * tensors of one image.
 *
 * The operators know nothing about weight files or graphs: nn.c validates
 * every shape and size before calling them, so they trust their arguments.
 * Output buffers never alias inputs, except where said.
 */
#ifndef ANPR_NN_OPS_H
#define ANPR_NN_OPS_H

#include <stddef.h>
#include <stdint.h>

enum { NN_ACT_NONE = 0, NN_ACT_RELU = 1, NN_ACT_SIGMOID = 2 };

/* A convolution or pooling window: kernel, stride and padding per axis. */
typedef struct nn_window {
    int kh, kw, sh, sw, ph, pw;
} nn_window;

/* A 64-byte aligned block of at least `bytes` bytes (free() it), or NULL. */
void *nn_alloc_aligned(size_t bytes);

/*
 * Output length along one axis, PyTorch's floor((in + 2p - k) / s) + 1, or
 * 0 when the window does not fit even once.
 */
int64_t nn_window_out(int64_t in, int k, int s, int p);

/*
 * A convolution layer ready to run. nn_conv_prepare() fills `weights` in
 * the layout the chosen method wants (packed GEMM panels, or the plain
 * PyTorch order for the direct method used when each output reads a single
 * input channel, as in depthwise convolution).
 */
typedef struct nn_conv {
    int in_c, out_c, groups, act;
    nn_window win;
    int direct;             /* 1: direct loops; 0: im2col + GEMM */
    float *weights;         /* 64-byte aligned; owned */
    float *bias;            /* out_c values; owned */
    /*
     * The GEMM's int8 form: weights quantised per output channel
     * (w8_scale[o] * w8 = W), run when use_int8 is set and the input is
     * not negative (quantised per call to 0..255, its maximum 255). NULL
     * for direct convolutions and very long rows (K > NN_INT8_MAX_K).
     */
    int8_t *w8;
    float *w8_scale;
    int use_int8;
    /*
     * A 3x3 convolution at stride 1 padded by 1, ungrouped, runs in float
     * as Winograd's F(2x2, 3x3): its weights' 16 transformed matrices,
     * packed, here; NULL for every other convolution.
     */
    float *wino;
} nn_conv;

/* The longest GEMM row (in_c / groups * kh * kw) given an int8 form: its
 * whole packed column panel must sit in L1 beside the weights. */
#define NN_INT8_MAX_K 2048

/*
 * Whether this CPU runs int8 products faster than float ones (AVX-512
 * VNNI); without it the int8 path still runs, portably but slowly, so that
 * it is tested everywhere.
 */
int nn_int8_fast(void);

/*
 * Takes W[out_c][in_c/groups][kh][kw] and b[out_c] (read, not kept) and
 * lays them out for running; the other fields must be set already.
 * Returns 0, or -1 when out of memory.
 */
int nn_conv_prepare(nn_conv *cv, const float *w, const float *b);
void nn_conv_release(nn_conv *cv);

/* Floats of scratch nn_conv_run() needs for an h x w input. */
uint64_t nn_conv_scratch(const nn_conv *cv, int64_t h, int64_t w);

/*
 * out[out_c][oh][ow] = act(conv(in[in_c][h][w]) + bias). scratch holds at
 * least nn_conv_scratch() floats and is 64-byte aligned.
 */
void nn_conv_run(const nn_conv *cv, const float *in, int h, int w,
                 float *out, int oh, int ow, float *scratch);

/* Max pooling; padding counts as minus infinity. */
void nn_maxpool(const float *in, int c, int h, int w, const nn_window *win,
                float *out, int oh, int ow);

/* Average pooling without padding. */
void nn_avgpool(const float *in, int c, int h, int w, const nn_window *win,
                float *out, int oh, int ow);

/* Nearest-neighbour upsampling by an integer factor: out is c x fh x fw. */
void nn_upsample(const float *in, int c, int h, int w, int factor, float *out);

/* out = act(a + b) over n floats; out may be a or b. */
void nn_add(const float *a, const float *b, size_t n, int act, float *out);

/* out = act(in) over n floats; out may be in. */
void nn_act(const float *in, size_t n, int act, float *out);

#endif
