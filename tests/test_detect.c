/*
 * test_detect.c: the plate detector's decoding on hand-made output
 * tensors (peaks, threshold, padding, suppression, corner geometry,
 * scaling back), its argument checks, and, when models/detector.nnw
 * exists, the real network on a composed frame with a plate at a known
 * place (tests/data/det_plate.png, a plate rendered by train/synth.py);
 * and the corner refiner (refine.h) on that frame.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "image.h"
#include "nn.h"
#include "refine.h"

#include "check.h"

enum { TW = 30, TH = 20, TC = 9 };

static float tensor[TC * TH * TW];

static float *at(int c, int y, int x)
{
    return &tensor[((size_t)c * TH + y) * TW + x];
}

/* Puts a peak at cell (x, y) whose quad is the axis-aligned box of
 * half-size (hw, hh) input pixels around the cell centre shifted by
 * (ox, oy), in units of the head's corner scale. */
static void plant(int x, int y, float score, float ox, float oy, float hw, float hh,
                  float scale)
{
    const float dx[4] = {-1, 1, 1, -1}, dy[4] = {-1, -1, 1, 1};
    *at(0, y, x) = score;
    for (int k = 0; k < 4; k++) {
        *at(1 + 2 * k, y, x) = (ox + dx[k] * hw) / scale;
        *at(2 + 2 * k, y, x) = (oy + dy[k] * hh) / scale;
    }
}

static float box_iou(const float q[4][2], float x0, float y0, float x1, float y1)
{
    float a0 = q[0][0], a1 = q[0][1], a2 = q[0][0], a3 = q[0][1];
    for (int k = 1; k < 4; k++) {
        a0 = fminf(a0, q[k][0]);
        a1 = fminf(a1, q[k][1]);
        a2 = fmaxf(a2, q[k][0]);
        a3 = fmaxf(a3, q[k][1]);
    }
    float iw = fminf(a2, x1) - fmaxf(a0, x0), ih = fminf(a3, y1) - fmaxf(a1, y0);
    if (iw <= 0 || ih <= 0)
        return 0;
    float inter = iw * ih;
    return inter / ((a2 - a0) * (a3 - a1) + (x1 - x0) * (y1 - y0) - inter);
}

static void test_decode(void)
{
    detect_head hd = {4, 32.0f, 32, 512};
    detect_work *w = detect_work_new();
    CHECK(w != NULL);
    nn_tensor out = {TC, TH, TW, tensor};
    detect_box b[8];
    memset(tensor, 0, sizeof tensor);

    /* Best plate: cell (5, 4), centre (22, 18) input px, 40 x 12 box. */
    plant(5, 4, 0.9f, 0, 0, 20, 6, hd.corner_scale);
    /* Its shoulder (not a local maximum, predicting the same corners) and
     * a weaker duplicate peak two cells away whose quad nearly coincides:
     * both must go. */
    plant(6, 4, 0.8f, -4, 0, 20, 6, hd.corner_scale);
    plant(8, 4, 0.5f, -8, 0, 20, 6, hd.corner_scale);
    /* A second, separate plate with a perspective-skewed quad. */
    plant(20, 10, 0.7f, 2, -1, 30, 8, hd.corner_scale);
    *at(3, 10, 20) += 0.25f;   /* TR pulled right by 8 px */
    /* Below the threshold, and in the padding (x * 4 >= valid_w = 100). */
    plant(12, 15, 0.2f, 0, 0, 10, 4, hd.corner_scale);
    plant(27, 2, 0.95f, 0, 0, 10, 4, hd.corner_scale);

    float sx = 2.5f, sy = 2.0f;
    int n = detect_decode(w, &out, &hd, 100, 80, sx, sy, 0.3f, 0.3f, b, 8);
    CHECK(n == 2);
    if (n == 2) {
        CHECK(b[0].score == 0.9f && b[1].score == 0.7f);
        /* TL of the first: (22 - 20, 18 - 6) input px, scaled back. */
        CHECK(fabsf(b[0].q[0][0] - 2 * sx) < 1e-4f && fabsf(b[0].q[0][1] - 12 * sy) < 1e-4f);
        CHECK(fabsf(b[0].q[2][0] - 42 * sx) < 1e-4f && fabsf(b[0].q[2][1] - 24 * sy) < 1e-4f);
        /* Second: centre (82, 42) + (2, -1); TR at x 82 + 2 + 30 + 8. */
        CHECK(fabsf(b[1].q[1][0] - 122 * sx) < 1e-3f && fabsf(b[1].q[1][1] - 33 * sy) < 1e-3f);
        CHECK(fabsf(b[1].q[3][0] - 54 * sx) < 1e-3f && fabsf(b[1].q[3][1] - 49 * sy) < 1e-3f);
    }
    /* A looser suppression keeps the duplicate, in score order. */
    n = detect_decode(w, &out, &hd, 100, 80, sx, sy, 0.3f, 0.9f, b, 8);
    CHECK(n == 3 && b[1].score == 0.7f && b[2].score == 0.5f);
    /* The limit on boxes keeps the best ones. */
    n = detect_decode(w, &out, &hd, 100, 80, sx, sy, 0.3f, 0.3f, b, 1);
    CHECK(n == 1 && b[0].score == 0.9f);
    /* Without padding the plate at the right edge is the best. */
    n = detect_decode(w, &out, &hd, TW * 4, TH * 4, 1, 1, 0.3f, 0.3f, b, 8);
    CHECK(n == 3 && b[0].score == 0.95f);
    /* Two equal neighbours are both peaks; suppression leaves one. */
    memset(tensor, 0, sizeof tensor);
    plant(10, 10, 0.6f, 0, 0, 20, 6, hd.corner_scale);
    plant(11, 10, 0.6f, -4, 0, 20, 6, hd.corner_scale);
    n = detect_decode(w, &out, &hd, TW * 4, TH * 4, 1, 1, 0.3f, 0.3f, b, 8);
    CHECK(n == 1);
    /* Corners are the score-weighted mean over the peak's neighbours: a
     * neighbour at half the score predicting 6 px further right moves the
     * quad by 6 * 0.45 / 1.35 = 2 px. */
    memset(tensor, 0, sizeof tensor);
    plant(10, 10, 0.9f, 0, 0, 20, 6, hd.corner_scale);
    plant(11, 10, 0.45f, 2, 0, 20, 6, hd.corner_scale);
    n = detect_decode(w, &out, &hd, TW * 4, TH * 4, 1, 1, 0.3f, 0.3f, b, 8);
    CHECK(n == 1 && fabsf(b[0].q[0][0] - 24) < 1e-4f && fabsf(b[0].q[0][1] - 36) < 1e-4f);
    /* A tensor with the wrong channel count decodes to nothing. */
    nn_tensor bad = {8, TH, TW, tensor};
    CHECK(detect_decode(w, &bad, &hd, 100, 80, 1, 1, 0.3f, 0.3f, b, 8) == 0);
    detect_work_free(w);
}

/* A 1280 x 720 street-ish frame: gradients, noise and boxes, with a dark
 * car body, a bumper and the fixture plate pasted at (px, py) scaled to
 * pw pixels wide. Returns the plate height. */
static int compose(uint8_t *f, int W, int H, const image *plate, int px, int py, int pw)
{
    uint32_t s = 12345;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            s = s * 1664525u + 1013904223u;
            f[(size_t)y * W + x] = (uint8_t)(90 + x * 60 / W + y * 50 / H + (int)(s >> 28));
        }
    for (int i = 0; i < 12; i++) {   /* clutter: windows, posts, signs */
        int x0 = (i * 211) % (W - 60), y0 = (i * 97) % (H / 2), v = (i * 53) % 256;
        for (int y = y0; y < y0 + 40 + i * 3; y++)
            for (int x = x0; x < x0 + 30 + i * 5 && x < W; x++)
                f[(size_t)y * W + x] = (uint8_t)v;
    }
    int ph = plate->h * pw / plate->w;
    for (int y = py - 3 * ph; y < py + 2 * ph; y++)       /* body */
        for (int x = px - pw; x < px + 2 * pw; x++)
            f[(size_t)y * W + x] = (uint8_t)(y > py + ph + ph / 3 ? 25 : 45);
    float *tmp = malloc((size_t)pw * ph * sizeof *tmp);
    if (!tmp)
        return -1;
    image_resize_gray(plate->px, plate->w, plate->h, plate->w, tmp, pw, ph);
    for (int y = 0; y < ph; y++)
        for (int x = 0; x < pw; x++)
            f[(size_t)(py + y) * W + px + x] = (uint8_t)lrintf(tmp[(size_t)y * pw + x] * 255);
    free(tmp);
    return ph;
}

/* A network from models/, or NULL (said why) when it is absent. */
static nn_net *load_model(const char *path)
{
    char err[256];
    uint8_t *bytes;
    size_t len;
    if (image_read_file(path, 64u << 20, &bytes, &len, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        CHECK(!"model file readable");
        return NULL;
    }
    nn_net *net = nn_load(bytes, len, err, sizeof err);
    free(bytes);
    CHECK(net != NULL);
    if (!net)
        fprintf(stderr, "%s: %s\n", path, err);
    return net;
}

/* The fixture plate, grey. */
static void load_plate(image *plate)
{
    char err[256];
    uint8_t *png;
    size_t len;
    CHECK(image_read_file("tests/data/det_plate.png", 1u << 20, &png, &len, err, sizeof err) == 0);
    CHECK(image_decode(png, len, 1, 0, 1, 0, 0, NULL, plate, err, sizeof err) == 0);
    free(png);
}

static void test_model(void)
{
    char err[256];
    nn_net *net = load_model("models/detector.nnw");
    if (!net)
        return;
    CHECK(detect_check(net, err, sizeof err) == 0);

    image plate = {0};
    load_plate(&plate);

    enum { W = 1280, H = 720 };
    uint8_t *f = malloc((size_t)W * H);
    detect_work *w = detect_work_new();
    CHECK(f && w);
    detect_box b[8];

    /* Bad arguments are refused with a reason. */
    CHECK(detect_run(net, w, NULL, W, H, W, b, 8, err, sizeof err) == -1 && err[0]);
    CHECK(detect_run(net, w, f, W, H, W - 1, b, 8, err, sizeof err) == -1);
    CHECK(detect_run(net, w, f, 0, H, W, b, 8, err, sizeof err) == -1);

    /* A flat frame has no plate. */
    memset(f, 128, (size_t)W * H);
    CHECK(detect_run(net, w, f, W, H, W, b, 8, err, sizeof err) == 0);

    int px = 560, py = 470, pw = 200;
    int ph = compose(f, W, H, &plate, px, py, pw);
    int n = detect_run(net, w, f, W, H, W, b, 8, err, sizeof err);
    CHECK(n >= 1);
    if (n >= 1) {
        float iou = box_iou(b[0].q, px, py, px + pw, py + ph);
        printf("whole frame: %d boxes, best score %.2f IoU %.2f\n", n, b[0].score, iou);
        CHECK(iou >= 0.5f);
    }
    /* The same plate through a window of the frame: stride > width, and
     * another scale back to frame pixels. */
    int ox = 300, oy = 200;
    n = detect_run(net, w, f + (size_t)oy * W + ox, 800, 480, W, b, 8, err, sizeof err);
    CHECK(n >= 1);
    if (n >= 1) {
        float iou = box_iou(b[0].q, px - ox, py - oy, px - ox + pw, py - oy + ph);
        printf("window: %d boxes, best score %.2f IoU %.2f\n", n, b[0].score, iou);
        CHECK(iou >= 0.5f);
    }
    /* A far plate, 64 pixels wide, and one against the frame's right
     * edge: the second look around each must stay inside the frame and
     * still box the plate. */
    static const int far[][3] = {{700, 420, 64}, {W - 121, 500, 120}};
    for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
        px = far[i][0], py = far[i][1], pw = far[i][2];
        ph = compose(f, W, H, &plate, px, py, pw);
        n = detect_run(net, w, f, W, H, W, b, 8, err, sizeof err);
        float best = 0;
        for (int k = 0; k < n; k++)
            best = fmaxf(best, box_iou(b[k].q, px, py, px + pw, py + ph));
        printf("plate %d px wide at x=%d: %d boxes, best IoU %.2f\n", pw, px, n, best);
        CHECK(best >= 0.5f);
    }
    /* detect_faint() finds plates only in photos (test_engine.c,
     * faint_plate()): on these drawn frames the first look is sure of
     * every plate. */
    CHECK(detect_faint(net, w, NULL, W, H, W, b, 8, err, sizeof err) == -1 && err[0]);
    detect_work_free(w);
    free(f);
    image_free(&plate);
    nn_free(net);
}

/* Quad q of the box (x0, y0)-(x1, y1) scaled by (sx, sy) about its centre,
 * turned by deg degrees and moved by (dx, dy). */
static void rough_quad(float q[4][2], float x0, float y0, float x1, float y1, float sx,
                       float sy, float deg, float dx, float dy)
{
    const float ux[4] = {-1, 1, 1, -1}, uy[4] = {-1, -1, 1, 1};
    float cx = (x0 + x1) / 2, cy = (y0 + y1) / 2, a = deg * 3.14159265f / 180;
    for (int k = 0; k < 4; k++) {
        float x = ux[k] * (x1 - x0) / 2 * sx, y = uy[k] * (y1 - y0) / 2 * sy;
        q[k][0] = cx + dx + x * cosf(a) - y * sinf(a);
        q[k][1] = cy + dy + x * sinf(a) + y * cosf(a);
    }
}

/* The corner refiner on the composed frame: rough quads around the plate
 * (too big, too small, turned, off centre) come back closer to it; a
 * degenerate or NaN quad comes back unharmed. */
static void test_refiner(void)
{
    char err[256];
    nn_net *net = load_model("models/refiner.nnw");
    if (!net)
        return;
    CHECK(refine_check(net, err, sizeof err) == 0);
    nn_net *det = load_model("models/detector.nnw");
    CHECK(!det || refine_check(det, err, sizeof err) == -1);
    nn_free(det);
    image plate = {0};
    load_plate(&plate);
    enum { W = 1280, H = 720 };
    uint8_t *f = malloc((size_t)W * H);
    refine_work *w = refine_work_new();
    CHECK(f && w);
    int px = 560, py = 470, pw = 200;
    int ph = compose(f, W, H, &plate, px, py, pw);
    static const float cases[][5] = {
        {1.3f, 1.6f, 0, 10, -4}, {0.85f, 0.7f, 0, -8, 3}, {1.0f, 1.2f, 6, 0, 0}, {1.15f, 0.8f, -5, 6, 5}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float q[4][2];
        const float *c = cases[i];
        rough_quad(q, px, py, px + pw, py + ph, c[0], c[1], c[2], c[3], c[4]);
        float before = box_iou(q, px, py, px + pw, py + ph);
        CHECK(refine_quad(net, w, f, W, H, W, q, err, sizeof err) == 0);
        float after = box_iou(q, px, py, px + pw, py + ph);
        printf("refiner, rough quad %zu: IoU %.2f -> %.2f\n", i, before, after);
        CHECK(after > before && after >= 0.8f);
    }
    float dot[4][2] = {{5, 5}, {5, 5}, {5, 5}, {5, 5}};
    CHECK(refine_quad(net, w, f, W, H, W, dot, err, sizeof err) == 0);
    for (int k = 0; k < 4; k++)
        CHECK(isfinite(dot[k][0]) && isfinite(dot[k][1]));
    float bad[4][2] = {{NAN, 0}, {10, 0}, {10, 10}, {0, 10}};
    CHECK(refine_quad(net, w, f, W, H, W, bad, err, sizeof err) == 0);
    CHECK(isnan(bad[0][0]) && bad[1][0] == 10);
    refine_work_free(w);
    free(f);
    image_free(&plate);
    nn_free(net);
}

int main(void)
{
    test_decode();
    test_model();
    test_refiner();
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
