/*
 * detect.c: the plate detector's pre- and post-processing around the nn
 * runtime (see detect.h). The preparation and decoding mirror
 * train/det_eval.py, which is how the model's figures were measured.
 */
#include "detect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

/* The output channels: the centre score then four (x, y) corners. */
#define DETECT_CHANNELS 9

typedef struct peak {
    float score;
    int x, y;
} peak;

struct detect_work {
    nn_work *nn;
    float *resized;        /* a part narrower than the input, at its scale */
    float *input;          /* resized, zero-padded to the aligned size */
    size_t cap_resized, cap_input;
    peak peaks[DETECT_MAX_PEAKS];
    float kept[DETECT_MAX_PEAKS][4];   /* bounding boxes of the kept quads */
    int n_kept;                        /* how many detect_run() kept */
    detect_box faint[DETECT_FAINT_MAX]; /* its best peaks under DETECT_THRESHOLD */
    int n_faint;
};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

/* An integer meta value in [lo, hi], def when absent, -1 when malformed. */
static long meta_int(const nn_net *net, const char *key, long def, long lo, long hi)
{
    const char *s = nn_meta(net, key);
    if (!s)
        return def;
    char *end;
    long v = strtol(s, &end, 10);
    return end != s && *end == '\0' && v >= lo && v <= hi ? v : -1;
}

int detect_head_read(const nn_net *net, detect_head *head, char *err, size_t errlen)
{
    int c, h, w;
    if (!net || nn_kind(net) != NN_KIND_DETECTOR) {
        set_err(err, errlen, "not a detector network");
        return -1;
    }
    nn_input_shape(net, &c, &h, &w);
    if (c != 1) {
        set_err(err, errlen, "detector must take one grey channel");
        return -1;
    }
    const char *cs = nn_meta(net, "corner_scale");
    char *end = NULL;
    float scale = cs ? strtof(cs, &end) : 0;
    head->stride = (int)meta_int(net, "stride", -1, 1, 64);
    head->align = (int)meta_int(net, "align", DETECT_ALIGN, 1, 256);
    head->max_side = (int)meta_int(net, "max_side", DETECT_MAX_SIDE, 32, 4096);
    head->corner_scale = scale;
    if (head->stride < 0 || head->align < 0 || head->max_side < 0 || !cs || end == cs || *end
        || !(scale > 0 && scale < 1e4f) || head->align % head->stride) {
        set_err(err, errlen, "detector meta lacks a valid stride, corner_scale, align or max_side");
        return -1;
    }
    return 0;
}

int detect_check(const nn_net *net, char *err, size_t errlen)
{
    detect_head head;
    return detect_head_read(net, &head, err, errlen);
}

detect_work *detect_work_new(void)
{
    detect_work *w = calloc(1, sizeof *w);
    if (w && !(w->nn = nn_work_new())) {
        free(w);
        return NULL;
    }
    return w;
}

void detect_work_free(detect_work *w)
{
    if (!w)
        return;
    nn_work_free(w->nn);
    free(w->resized);
    free(w->input);
    free(w);
}

/* Grows *buf to hold n floats; buffers only ever grow, so a warm work
 * allocates nothing. */
static int reserve(float **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    float *p = realloc(*buf, n * sizeof *p);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

void detect_bounds(const float q[4][2], float b[4])
{
    b[0] = b[2] = q[0][0];
    b[1] = b[3] = q[0][1];
    for (int k = 1; k < 4; k++) {
        b[0] = fminf(b[0], q[k][0]);
        b[1] = fminf(b[1], q[k][1]);
        b[2] = fmaxf(b[2], q[k][0]);
        b[3] = fmaxf(b[3], q[k][1]);
    }
}

float detect_overlap(const float a[4], const float b[4])
{
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
    float ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    return iw > 0 && ih > 0 ? iw * ih : 0;
}

float detect_iou(const float a[4], const float b[4])
{
    float inter = detect_overlap(a, b);
    if (inter <= 0)
        return 0;
    float u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return u > 0 ? inter / u : 0;
}

/* Keeps the DETECT_MAX_PEAKS best peaks sorted, best first; returns the
 * new count. Insertion is fine: above the threshold peaks are few. */
static int add_peak(peak *p, int n, float score, int x, int y)
{
    if (n == DETECT_MAX_PEAKS) {
        if (score <= p[n - 1].score)
            return n;
        n--;
    }
    int i = n;
    while (i > 0 && p[i - 1].score < score) {
        p[i] = p[i - 1];
        i--;
    }
    p[i] = (peak){score, x, y};
    return n + 1;
}

/* Is (x, y) at least as high as its eight neighbours? Ties all count as
 * peaks, as in the PyTorch max-pool test; suppression removes the twins. */
static int is_peak(const float *hm, int W, int H, int x, int y)
{
    float v = hm[(size_t)y * W + x];
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
            int xx = x + dx, yy = y + dy;
            if ((dx || dy) && xx >= 0 && yy >= 0 && xx < W && yy < H && hm[(size_t)yy * W + xx] > v)
                return 0;
        }
    return 1;
}

/*
 * The corners of the plate peaking at cell (x, y), in frame pixels: the
 * mean of the corners its 3x3 neighbourhood predicts, weighted by their
 * scores. Every cell near a centre was trained to predict them, and the
 * average measured better on photos-dev than the peak cell alone.
 */
static void corners(const nn_tensor *out, const detect_head *head, int x, int y,
                    float sx, float sy, float q[4][2])
{
    int W = out->w, H = out->h, S = head->stride;
    size_t plane = (size_t)W * H;
    const float *hm = out->data;
    double acc[4][2] = {{0}}, wsum = 0;
    for (int yy = y - 1; yy <= y + 1; yy++)
        for (int xx = x - 1; xx <= x + 1; xx++) {
            if (xx < 0 || yy < 0 || xx >= W || yy >= H)
                continue;
            size_t at = (size_t)yy * W + xx;
            /* The peak always counts, even at a threshold of 0. */
            double wt = xx == x && yy == y ? fmax(hm[at], 1e-12) : fmax(hm[at], 0);
            float cx = (xx + 0.5f) * S, cy = (yy + 0.5f) * S;
            for (int k = 0; k < 4; k++) {
                acc[k][0] += wt * (cx + out->data[(1 + 2 * k) * plane + at] * head->corner_scale);
                acc[k][1] += wt * (cy + out->data[(2 + 2 * k) * plane + at] * head->corner_scale);
            }
            wsum += wt;
        }
    for (int k = 0; k < 4; k++) {
        q[k][0] = (float)(acc[k][0] / wsum) * sx;
        q[k][1] = (float)(acc[k][1] / wsum) * sy;
    }
}

/*
 * Suppression, best first: records b's bounding box as the n-th kept one
 * and returns 1, or returns 0 if it overlaps one of the n kept before it
 * at IoU above nms_iou.
 */
static int keep(detect_work *w, int n, const detect_box *b, float nms_iou)
{
    detect_bounds(b->q, w->kept[n]);
    for (int j = 0; j < n; j++)
        if (detect_iou(w->kept[n], w->kept[j]) > nms_iou)
            return 0;
    return 1;
}

int detect_decode(detect_work *w, const nn_tensor *out, const detect_head *head,
                  int valid_w, int valid_h, float sx, float sy, float threshold,
                  float nms_iou, detect_box *boxes, int max_boxes)
{
    if (out->c != DETECT_CHANNELS || out->h <= 0 || out->w <= 0 || max_boxes <= 0)
        return 0;
    int W = out->w, H = out->h, S = head->stride;
    const float *hm = out->data;
    int np = 0;
    for (int y = 0; y < H && y * S < valid_h; y++)
        for (int x = 0; x < W && x * S < valid_w; x++) {
            float v = hm[(size_t)y * W + x];
            if (v >= threshold && is_peak(hm, W, H, x, y))
                np = add_peak(w->peaks, np, v, x, y);
        }
    int n = 0;
    for (int i = 0; i < np && n < max_boxes; i++) {
        const peak *p = &w->peaks[i];
        detect_box *b = &boxes[n];
        corners(out, head, p->x, p->y, sx, sy, b->q);
        b->score = p->score;
        n += keep(w, n, b, nms_iou);
    }
    return n;
}

/* Runs the network on w->input (ph x pw) and checks its output's shape. */
static const nn_tensor *forward(const nn_net *net, detect_work *w, const detect_head *hd,
                                int pw, int ph, char *err, size_t errlen)
{
    nn_tensor in = {1, ph, pw, w->input};
    const nn_tensor *out;
    if (nn_run(net, w->nn, &in, &out, err, errlen) != 0)
        return NULL;
    if (out->c != DETECT_CHANNELS || out->h * hd->stride != ph || out->w * hd->stride != pw) {
        set_err(err, errlen, "detector output is not 9 channels at its stride");
        return NULL;
    }
    return out;
}

/*
 * Resizes the frame rectangle [x0, x1) x [y0, y1) (whole pixels, inside
 * the frame) to dw x dh and places it at (dx, dy) of a zeroed pw x ph
 * network input. Returns -1 when out of memory.
 */
static int place(detect_work *w, const uint8_t *gray, int stride, int x0, int y0, int x1,
                 int y1, int dx, int dy, int dw, int dh, int pw, int ph)
{
    const uint8_t *from = gray + (size_t)y0 * stride + x0;
    if (reserve(&w->input, &w->cap_input, (size_t)pw * ph) != 0)
        return -1;
    /* Rows as wide as the input's (the whole frame mostly is, and a window
     * inside it) are resized in place: only the rows above and below need
     * zeros, and nothing is copied. */
    if (dw == pw) {
        image_resize_gray(from, x1 - x0, y1 - y0, stride, w->input + (size_t)dy * pw, dw, dh);
        memset(w->input, 0, (size_t)dy * pw * sizeof *w->input);
        memset(w->input + (size_t)(dy + dh) * pw, 0, (size_t)(ph - dy - dh) * pw * sizeof *w->input);
        return 0;
    }
    if (reserve(&w->resized, &w->cap_resized, (size_t)dw * dh) != 0)
        return -1;
    image_resize_gray(from, x1 - x0, y1 - y0, stride, w->resized, dw, dh);
    memset(w->input, 0, (size_t)pw * ph * sizeof *w->input);
    for (int y = 0; y < dh; y++)
        memcpy(w->input + (size_t)(dy + y) * pw + dx, w->resized + (size_t)y * dw,
               (size_t)dw * sizeof *w->input);
    return 0;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/*
 * Looks again, closer, at one plate found in the whole frame: the window
 * around it is resized into a DETECT_REFINE_W x DETECT_REFINE_H input, so
 * that the plate spans about a hundred input pixels, and the best plate the
 * network finds near the window's centre replaces b's corners. Returns 0
 * (b unchanged when nothing is found there) or -1 with a reason in err.
 */
static int refine(const nn_net *net, detect_work *w, const detect_head *hd, const uint8_t *gray,
                  int width, int height, int stride, detect_box *b, float *second, char *err,
                  size_t errlen)
{
    *second = 0;
    float bb[4];
    detect_bounds(b->q, bb);
    float cx = (bb[0] + bb[2]) / 2, cy = (bb[1] + bb[3]) / 2;
    float cw = DETECT_REFINE_ZOOM * fmaxf(bb[2] - bb[0], 2 * (bb[3] - bb[1]));
    float ch = cw * DETECT_REFINE_H / DETECT_REFINE_W;
    if (!(cw >= 1) || !(cw < 1e6f))
        return 0;
    float wx = cx - cw / 2, wy = cy - ch / 2, k = DETECT_REFINE_W / cw;
    int x0 = clampi((int)floorf(wx), 0, width), x1 = clampi((int)ceilf(wx + cw), 0, width);
    int y0 = clampi((int)floorf(wy), 0, height), y1 = clampi((int)ceilf(wy + ch), 0, height);
    int dx = clampi((int)lroundf((x0 - wx) * k), 0, DETECT_REFINE_W - 1);
    int dy = clampi((int)lroundf((y0 - wy) * k), 0, DETECT_REFINE_H - 1);
    int dw = clampi((int)lroundf((x1 - x0) * k), 1, DETECT_REFINE_W - dx);
    int dh = clampi((int)lroundf((y1 - y0) * k), 1, DETECT_REFINE_H - dy);
    if (x1 <= x0 || y1 <= y0)
        return 0;
    if (place(w, gray, stride, x0, y0, x1, y1, dx, dy, dw, dh, DETECT_REFINE_W, DETECT_REFINE_H) != 0) {
        set_err(err, errlen, "detect: out of memory");
        return -1;
    }
    const nn_tensor *out = forward(net, w, hd, DETECT_REFINE_W, DETECT_REFINE_H, err, errlen);
    if (!out)
        return -1;
    float sx = (float)(x1 - x0) / dw, sy = (float)(y1 - y0) / dh;
    float ox = x0 - dx * sx, oy = y0 - dy * sy;
    detect_box near[DETECT_REFINE_PEAKS];
    int n = detect_decode(w, out, hd, DETECT_REFINE_W, DETECT_REFINE_H, sx, sy,
                          DETECT_REFINE_THRESHOLD, DETECT_NMS_IOU, near, DETECT_REFINE_PEAKS);
    for (int i = 0; i < n; i++) {
        float nb[4];
        detect_bounds(near[i].q, nb);
        float ncx = (nb[0] + nb[2]) / 2 + ox, ncy = (nb[1] + nb[3]) / 2 + oy;
        if (hypotf(ncx - cx, ncy - cy) < DETECT_REFINE_CENTRE * cw) {
            for (int c = 0; c < 4; c++) {
                b->q[c][0] = near[i].q[c][0] + ox;
                b->q[c][1] = near[i].q[c][1] + oy;
            }
            *second = near[i].score;
            break;
        }
    }
    return 0;
}

/* The checks every look at a frame starts with, out being where its
 * max_out results go; reads the head into *hd. */
static int begin(const nn_net *net, const detect_work *w, const uint8_t *gray, int width,
                 int height, int stride, const void *out, int max_out, detect_head *hd,
                 char *err, size_t errlen)
{
    if (!w || !gray || width <= 0 || height <= 0 || stride < width || !out || max_out < 0) {
        set_err(err, errlen, "detect: bad arguments");
        return -1;
    }
    return detect_head_read(net, hd, err, errlen);
}

int detect_run(const nn_net *net, detect_work *w, const uint8_t *gray, int width,
               int height, int stride, detect_box *boxes, int max_boxes,
               char *err, size_t errlen)
{
    detect_head hd;
    if (begin(net, w, gray, width, height, stride, boxes, max_boxes, &hd, err, errlen) != 0)
        return -1;
    w->n_faint = 0;   /* none of another frame after a failed or empty run */
    if (max_boxes == 0)
        return 0;
    /* Fit the frame in max_side x max_side, rounding as det_eval.prepare. */
    double s = fmin((double)hd.max_side / width, (double)hd.max_side / height);
    int dw = clampi((int)floor(width * s + 0.5), 1, hd.max_side);
    int dh = clampi((int)floor(height * s + 0.5), 1, hd.max_side);
    int pw = (dw + hd.align - 1) / hd.align * hd.align;
    int ph = (dh + hd.align - 1) / hd.align * hd.align;
    if (place(w, gray, stride, 0, 0, width, height, 0, 0, dw, dh, pw, ph) != 0) {
        set_err(err, errlen, "detect: out of memory");
        return -1;
    }
    const nn_tensor *out = forward(net, w, &hd, pw, ph, err, errlen);
    if (!out)
        return -1;
    int n = detect_decode(w, out, &hd, dw, dh, (float)width / dw, (float)height / dh,
                          DETECT_FAINT, DETECT_NMS_IOU, boxes, max_boxes);
    /* Boxes come best first: the faint ones are set aside for detect_faint(). */
    int strong = 0;
    while (strong < n && boxes[strong].score >= DETECT_THRESHOLD)
        strong++;
    int faint = n - strong < DETECT_FAINT_MAX ? n - strong : DETECT_FAINT_MAX;
    memcpy(w->faint, boxes + strong, (size_t)faint * sizeof *boxes);
    n = strong;
    /* Refined quads of two rough ones may now be one plate: keep the
     * better-scored, as the first suppression did. */
    int kept = 0;
    for (int i = 0; i < n; i++) {
        float second;
        if (refine(net, w, &hd, gray, width, height, stride, &boxes[i], &second, err, errlen) != 0)
            return -1;
        if (second < DETECT_REFINE_THRESHOLD)
            continue;
        if (keep(w, kept, &boxes[i], DETECT_NMS_IOU))
            boxes[kept++] = boxes[i];
    }
    w->n_kept = kept;
    w->n_faint = faint;
    return kept;
}

int detect_faint(const nn_net *net, detect_work *w, const uint8_t *gray, int width,
                 int height, int stride, detect_box *boxes, int max_boxes, char *err,
                 size_t errlen)
{
    detect_head hd;
    if (begin(net, w, gray, width, height, stride, boxes, max_boxes, &hd, err, errlen) != 0)
        return -1;
    int n = 0;
    for (int i = 0; i < w->n_faint && n < max_boxes && w->n_kept + n < DETECT_MAX_PEAKS; i++) {
        detect_box b = w->faint[i];
        float second;
        if (refine(net, w, &hd, gray, width, height, stride, &b, &second, err, errlen) != 0)
            return -1;
        /* Found, but perhaps small in a window sized for a larger quad:
         * look once more, at what was found. */
        if (second >= DETECT_REFINE_THRESHOLD && second < DETECT_SURE
            && refine(net, w, &hd, gray, width, height, stride, &b, &second, err, errlen) != 0)
            return -1;
        if (second >= DETECT_SURE && keep(w, w->n_kept + n, &b, DETECT_NMS_IOU))
            boxes[n++] = b;
    }
    w->n_faint = 0;
    return n;
}

int detect_whole(const nn_net *net, detect_work *w, const uint8_t *gray, int width,
                 int height, int stride, detect_box *b, char *err, size_t errlen)
{
    detect_head hd;
    if (begin(net, w, gray, width, height, stride, b, 1, &hd, err, errlen) != 0)
        return -1;
    detect_box f = {{{0, 0}, {(float)width, 0}, {(float)width, (float)height}, {0, (float)height}}, 0};
    float bb[4];
    if (refine(net, w, &hd, gray, width, height, stride, &f, &f.score, err, errlen) != 0)
        return -1;
    detect_bounds(f.q, bb);
    *b = f;
    return f.score >= DETECT_SURE && bb[2] - bb[0] >= DETECT_WHOLE_WIDTH * width;
}
