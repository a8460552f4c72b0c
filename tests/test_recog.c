/*
 * test_recog.c: where recog_read() says the characters lie (its span),
 * which the engine uses to narrow a quad too wide for its plate and to
 * widen one that cuts a character off. Uses models/recogniser.nnw and the
 * bundled sample plates: a plate read whole spans most of its width; the
 * same plate in the middle third of a wider grey canvas spans the middle;
 * cut just before its first character, that character lies at the edge; a
 * two-line plate gives the whole width.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "nn.h"
#include "recog.h"

#include "check.h"

static image load(const char *path)
{
    char err[256];
    uint8_t *bytes;
    size_t len;
    image im = {0};
    CHECK(image_read_file(path, 16u << 20, &bytes, &len, err, sizeof err) == 0, "%s: %s", path, err);
    CHECK(image_decode(bytes, len, 1, 0, 1, 0, 0, NULL, &im, err, sizeof err) == 0, "%s: %s", path, err);
    free(bytes);
    return im;
}

/* Reads the quad (x0, y0) - (x1, y1) of g; returns the text's length. */
static size_t read_rect(const nn_net *net, recog_work *w, const uint8_t *g, int gw, int gh,
                        float x0, float y0, float x1, float y1, char *text, float span[2])
{
    char err[256];
    anpr_plate p;
    const float q[4][2] = {{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}};
    int rc = recog_read(net, w, g, gw, gh, gw, q, ANPR_COUNTRY_AUTO, 5, &p, span, err, sizeof err);
    CHECK(rc == ANPR_OK, "%s", err);
    strcpy(text, rc == ANPR_OK ? p.text : "");
    printf("read %-8s span %.2f - %.2f\n", text, span[0], span[1]);
    return strlen(text);
}

int main(void)
{
    char err[256], text[ANPR_MAX_TEXT];
    uint8_t *bytes;
    size_t len;
    if (image_read_file("models/recogniser.nnw", 64u << 20, &bytes, &len, err, sizeof err) != 0) {
        printf("models/recogniser.nnw absent: skipped\n");
        return 0;
    }
    nn_net *net = nn_load(bytes, len, err, sizeof err);
    free(bytes);
    CHECK(net && recog_check(net, err, sizeof err) == 0, "%s", err);
    recog_work *w = recog_work_new();
    CHECK(w != NULL);
    if (!net || !w)
        return 1;

    image plate = load("samples/plate-gb-front.png");
    float span[2];
    int pw = plate.w, ph = plate.h;
    read_rect(net, w, plate.px, pw, ph, 0, 0, (float)pw, (float)ph, text, span);
    CHECK(!strcmp(text, "AB12CDE"));
    CHECK(span[0] < 0.25f && span[1] > 0.75f && span[0] < span[1]);

    /* The plate in the middle third of a canvas three times as wide. */
    int cw = 3 * pw;
    uint8_t *canvas = malloc((size_t)cw * ph);
    CHECK(canvas != NULL);
    if (canvas) {
        memset(canvas, 128, (size_t)cw * ph);
        for (int y = 0; y < ph; y++)
            memcpy(canvas + (size_t)y * cw + pw, plate.px + (size_t)y * pw, (size_t)pw);
        read_rect(net, w, canvas, cw, ph, 0, 0, (float)cw, (float)ph, text, span);
        CHECK(span[0] > 0.3f && span[1] < 0.7f, "span %.2f - %.2f", span[0], span[1]);
    }
    free(canvas);

    /* Cut just before its first character (past the identifier band):
     * that character lies at the quad's left edge, within half a pitch,
     * where the engine takes the quad for one that cuts it off. */
    size_t n = read_rect(net, w, plate.px, pw, ph, 0.19f * pw, 0, (float)pw, (float)ph, text, span);
    CHECK(n >= 4 && span[0] < 0.5f * (span[1] - span[0]) / (float)(n - 1),
          "span %.2f - %.2f over %zu characters", span[0], span[1], n);

    /* A two-line plate is read as its halves side by side: no span. */
    image moto = load("samples/plate-gb-motorcycle.png");
    read_rect(net, w, moto.px, moto.w, moto.h, 0, 0, (float)moto.w, (float)moto.h, text, span);
    CHECK(span[0] == 0 && span[1] == 1);

    free(plate.px);
    free(moto.px);
    recog_work_free(w);
    nn_free(net);
    return failures != 0;
}
