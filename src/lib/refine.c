/*
 * refine.c: the corner refiner (refine.h) in C, as train/ref_data.py
 * prepares its samples.
 */
#include "refine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

/* The largest input this code prepares: twice the trained 48x128. */
#define MAX_INPUT (2 * 48 * 128)

struct refine_work {
    nn_work *nn;
    float input[MAX_INPUT];
    float super[MAX_INPUT * IMAGE_MAX_SUPER * IMAGE_MAX_SUPER];
};

/* The window's extent from the meta: expand_x, expand_y. */
static int expansion(const nn_net *net, float *ex, float *ey)
{
    const char *x = nn_meta(net, "expand_x"), *y = nn_meta(net, "expand_y");
    *ex = x ? strtof(x, NULL) : 0;
    *ey = y ? strtof(y, NULL) : 0;
    return *ex >= 1 && *ex <= 8 && *ey >= 1 && *ey <= 8;
}

int refine_check(const nn_net *net, char *err, size_t errlen)
{
    int c, h, w;
    float ex, ey;
    if (nn_kind(net) != NN_KIND_REFINER) {
        snprintf(err, errlen, "the model is not a corner refiner");
        return -1;
    }
    if (!expansion(net, &ex, &ey)) {
        snprintf(err, errlen, "the refiner's expand_x or expand_y is missing or out of range");
        return -1;
    }
    nn_input_shape(net, &c, &h, &w);
    if (c != 1 || h < 8 || w < 8 || h * w > MAX_INPUT) {
        snprintf(err, errlen, "the refiner wants a %dx%dx%d input this code cannot make", c, h, w);
        return -1;
    }
    return 0;
}

refine_work *refine_work_new(void)
{
    refine_work *w = calloc(1, sizeof *w);
    if (w && !(w->nn = nn_work_new())) {
        free(w);
        w = NULL;
    }
    return w;
}

void refine_work_free(refine_work *w)
{
    if (!w)
        return;
    nn_work_free(w->nn);
    free(w);
}

/* Twice the signed area of triangle a b c: positive when a, b, c turn
 * clockwise on screen (y down). */
static float turn(const float a[2], const float b[2], const float c[2])
{
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
}

int refine_quad(const nn_net *net, refine_work *w, const uint8_t *gray, int width,
                int height, int stride, float q[4][2], char *err, size_t errlen)
{
    int c, ih, iw;
    float ex, ey;
    nn_input_shape(net, &c, &ih, &iw);
    expansion(net, &ex, &ey);
    /* The window: q's own map extended past its edges. */
    float win[4][2];
    image_quad_part((const float(*)[2])q, -(ex - 1) / 2, (ex + 1) / 2, -(ey - 1) / 2,
                    (ey + 1) / 2, win);
    image_warp_quad_area(gray, width, height, stride, (const float(*)[2])win, w->super,
                         sizeof w->super / sizeof *w->super, w->input, iw, iw, ih);
    image_standardise(w->input, ih * iw);
    nn_tensor in = {1, ih, iw, w->input};
    const nn_tensor *o;
    if (nn_run(net, w->nn, &in, &o, err, errlen) != 0)
        return -1;
    if (o->c * o->h * o->w != 8)
        return 0;
    float out[4][2];
    float reach = hypotf(win[2][0] - win[0][0], win[2][1] - win[0][1]);
    for (int k = 0; k < 4; k++) {
        image_quad_point((const float(*)[2])win, o->data[2 * k], o->data[2 * k + 1], out[k]);
        if (!isfinite(out[k][0]) || !isfinite(out[k][1])
            || hypotf(out[k][0] - q[k][0], out[k][1] - q[k][1]) > reach)
            return 0;
    }
    for (int k = 0; k < 4; k++)
        if (!(turn(out[k], out[(k + 1) & 3], out[(k + 2) & 3]) > 0))
            return 0;
    memcpy(q, out, sizeof out);
    return 0;
}
