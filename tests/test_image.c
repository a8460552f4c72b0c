/*
 * test_image.c: image decoding, EXIF orientation, file reading and
 * resampling, with good input and bad.
 *
 * Inputs are made here with libjpeg's and libpng's own encoders (or by
 * hand, for headers no encoder would write), so each expectation comes
 * from what was encoded, not from a stored answer. Real photos from
 * ../shared/data are decoded too when that folder is present.
 */
#include "anpr.h"
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "check.h"

typedef struct buf {
    uint8_t *p;
    size_t n;
} buf;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static buf buf_copy(const uint8_t *p, size_t n)
{
    buf b = {xmalloc(n), n};
    memcpy(b.p, p, n);
    return b;
}

/* ---- encoders ---------------------------------------------------------- */

typedef struct jpeg_spec {
    int w, h, comps;              /* components in px */
    J_COLOR_SPACE in, store;      /* store: JCS_UNKNOWN for libjpeg's choice */
    int quality, progressive, no_adobe;
    const uint8_t *app1;          /* APP1 payload to insert, or NULL */
    size_t app1_len;
} jpeg_spec;

static buf enc_jpeg(const jpeg_spec *s, const uint8_t *px)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    unsigned long outlen = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &outlen);
    c.image_width = (JDIMENSION)s->w;
    c.image_height = (JDIMENSION)s->h;
    c.input_components = s->comps;
    c.in_color_space = s->in;
    jpeg_set_defaults(&c);
    if (s->store != JCS_UNKNOWN)
        jpeg_set_colorspace(&c, s->store);
    if (s->no_adobe)
        c.write_Adobe_marker = FALSE;
    jpeg_set_quality(&c, s->quality, TRUE);
    if (s->progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    if (s->app1)
        jpeg_write_marker(&c, JPEG_APP0 + 1, s->app1, (unsigned)s->app1_len);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * s->w * s->comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    buf b = buf_copy(out, outlen);
    free(out);
    return b;
}

static void png_append(png_structp png, png_bytep data, size_t n)
{
    buf *b = png_get_io_ptr(png);
    b->p = realloc(b->p, b->n + n);
    if (!b->p)
        png_error(png, "out of memory");
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void png_flush_none(png_structp png)
{
    (void)png;
}

typedef struct png_spec {
    int w, h, type, depth, interlace;
    const png_color *palette;
    int n_palette;
    const png_byte *trans;        /* palette alpha, or NULL */
    int n_trans;
    const uint8_t *exif;          /* eXIf chunk body (TIFF data), or NULL */
    size_t exif_len;
} png_spec;

static int png_samples(int type)
{
    switch (type) {
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 1;
    }
}

/* Encodes samples (w * h * samples-per-pixel values, each < 2^depth). */
static buf enc_png(const png_spec *s, const uint16_t *v)
{
    buf b = {NULL, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "libpng failed to encode a test image\n");
        exit(2);
    }
    png_set_write_fn(png, &b, png_append, png_flush_none);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth,
                 s->type, s->interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (s->palette)
        png_set_PLTE(png, info, s->palette, s->n_palette);
    if (s->trans)
        png_set_tRNS(png, info, s->trans, s->n_trans, NULL);
    if (s->exif)
        png_set_eXIf_1(png, info, (png_uint_32)s->exif_len, (png_bytep)s->exif);
    png_write_info(png, info);
    int spp = png_samples(s->type);
    size_t rowbytes = ((size_t)s->w * spp * s->depth + 7) / 8;
    png_bytep *rows = xmalloc(sizeof *rows * s->h);
    for (int y = 0; y < s->h; y++) {
        rows[y] = calloc(rowbytes, 1);
        for (int i = 0; i < s->w * spp; i++) {
            unsigned x = v[(size_t)y * s->w * spp + i];
            if (s->depth == 16) {
                rows[y][2 * i] = (png_byte)(x >> 8);
                rows[y][2 * i + 1] = (png_byte)x;
            } else if (s->depth == 8) {
                rows[y][i] = (png_byte)x;
            } else {            /* packed, first pixel in the high bits */
                int bit = i * s->depth;
                rows[y][bit / 8] |= (png_byte)(x << (8 - s->depth - bit % 8));
            }
        }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    for (int y = 0; y < s->h; y++)
        free(rows[y]);
    free(rows);
    return b;
}

/* ---- helpers ----------------------------------------------------------- */

static int decode(const buf *b, int channels, uint64_t max_pixels, image *im,
                  char *err)
{
    return image_decode(b->p, b->n, channels, max_pixels, 1, 0, 0, NULL, im,
                        err, 256);
}

/* Reference BT.601 luma, in floating point. */
static double luma(double r, double g, double b)
{
    return 0.299 * r + 0.587 * g + 0.114 * b;
}

static int near(int a, int b, int tol)
{
    return abs(a - b) <= tol;
}

static uint32_t rng_state = 12345;
static uint32_t rng(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

/* A smooth RGB test picture (JPEG keeps these close). */
static uint8_t *gradient_rgb(int w, int h)
{
    uint8_t *px = xmalloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / (w - 1));
            p[1] = (uint8_t)(y * 255 / (h - 1));
            p[2] = (uint8_t)(128 + 100 * sin(x * 0.05 + y * 0.03));
        }
    return px;
}

static double mean_abs_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += abs((int)a[i] - (int)b[i]);
    return s / (double)n;
}

/* ---- JPEG colour kinds ------------------------------------------------- */

static void test_jpeg_rgb_and_grey(void)
{
    int w = 80, h = 60;
    uint8_t *px = gradient_rgb(w, h);
    for (int progressive = 0; progressive <= 1; progressive++) {
        jpeg_spec s = {w, h, 3, JCS_RGB, JCS_UNKNOWN, 95, progressive, 0, NULL, 0};
        buf b = enc_jpeg(&s, px);
        image im;
        char err[256];
        int rc = decode(&b, 3, 0, &im, err);
        CHECK(rc == ANPR_OK, "progressive=%d: %s", progressive, err);
        if (rc == ANPR_OK) {
            CHECK(im.w == w && im.h == h && im.channels == 3, "%dx%d", im.w, im.h);
            double d = mean_abs_diff(im.px, px, (size_t)w * h * 3);
            CHECK(d < 3.0, "RGB decode differs by %.2f on average", d);
            image_free(&im);
            CHECK(im.px == NULL && im.w == 0, "image_free empties");
        }
        rc = decode(&b, 1, 0, &im, err);
        CHECK(rc == ANPR_OK && im.channels == 1, "grey: %s", err);
        if (rc == ANPR_OK) {
            double d = 0;
            for (int i = 0; i < w * h; i++)
                d += fabs(im.px[i] - luma(px[3 * i], px[3 * i + 1], px[3 * i + 2]));
            CHECK(d / (w * h) < 3.0, "luma differs by %.2f", d / (w * h));
            image_free(&im);
        }
        free(b.p);
    }

    /* An RGB-stored (not YCbCr) JPEG, as some cameras and tools write. */
    jpeg_spec s = {w, h, 3, JCS_RGB, JCS_RGB, 95, 0, 0, NULL, 0};
    buf b = enc_jpeg(&s, px);
    image im;
    char err[256];
    int rc = decode(&b, 1, 0, &im, err);
    CHECK(rc == ANPR_OK, "RGB-stored JPEG to grey: %s", err);
    if (rc == ANPR_OK) {
        double d = 0;
        for (int i = 0; i < w * h; i++)
            d += fabs(im.px[i] - luma(px[3 * i], px[3 * i + 1], px[3 * i + 2]));
        CHECK(d / (w * h) < 3.0, "RGB-stored luma differs by %.2f", d / (w * h));
        image_free(&im);
    }
    free(b.p);
    free(px);
}

static void test_jpeg_grey(void)
{
    int w = 64, h = 40;
    uint8_t *px = xmalloc((size_t)w * h);
    for (int i = 0; i < w * h; i++)
        px[i] = (uint8_t)((i % w) * 4);
    jpeg_spec s = {w, h, 1, JCS_GRAYSCALE, JCS_UNKNOWN, 95, 0, 0, NULL, 0};
    buf b = enc_jpeg(&s, px);
    image im;
    char err[256];
    int rc = decode(&b, 1, 0, &im, err);
    CHECK(rc == ANPR_OK && im.channels == 1, "grey JPEG: %s", err);
    if (rc == ANPR_OK) {
        CHECK(mean_abs_diff(im.px, px, (size_t)w * h) < 2.0, "grey JPEG content");
        image_free(&im);
    }
    rc = decode(&b, 3, 0, &im, err);
    CHECK(rc == ANPR_OK && im.channels == 3, "grey JPEG as RGB: %s", err);
    if (rc == ANPR_OK) {
        int same = 1;
        for (int i = 0; i < w * h; i++)
            same &= im.px[3 * i] == im.px[3 * i + 1] && im.px[3 * i] == im.px[3 * i + 2] &&
                    near(im.px[3 * i], px[i], 8);
        CHECK(same, "grey JPEG as RGB has R = G = B = grey");
        image_free(&im);
    }
    free(b.p);
    free(px);
}

/*
 * Four 16x16 blocks of pure red, green, blue and mid grey, written as
 * CMYK or YCCK. Adobe-marked files carry inverted ink (Photoshop's
 * convention), plain ones straight ink.
 */
static void test_jpeg_cmyk(void)
{
    static const uint8_t rgb[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {128, 128, 128}};
    int w = 32, h = 32;
    uint8_t *px = xmalloc((size_t)w * h * 4);
    struct { J_COLOR_SPACE store; int no_adobe; const char *name; } kinds[] = {
        {JCS_CMYK, 0, "Adobe CMYK"}, {JCS_CMYK, 1, "plain CMYK"}, {JCS_YCCK, 0, "YCCK"}};
    for (int k = 0; k < 3; k++) {
        int inverted = !kinds[k].no_adobe;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const uint8_t *c = rgb[(y / 16) * 2 + x / 16];
                uint8_t *p = px + ((size_t)y * w + x) * 4;
                /* Grey as black ink only, colours as C, M, Y ink. */
                int grey = c[0] == c[1] && c[1] == c[2];
                int ink[4] = {grey ? 0 : 255 - c[0], grey ? 0 : 255 - c[1],
                              grey ? 0 : 255 - c[2], grey ? 255 - c[0] : 0};
                for (int i = 0; i < 4; i++)
                    p[i] = (uint8_t)(inverted ? 255 - ink[i] : ink[i]);
            }
        jpeg_spec s = {w, h, 4, JCS_CMYK, kinds[k].store, 100, 0, kinds[k].no_adobe, NULL, 0};
        buf b = enc_jpeg(&s, px);
        image im;
        char err[256];
        int rc = decode(&b, 3, 0, &im, err);
        CHECK(rc == ANPR_OK, "%s: %s", kinds[k].name, err);
        if (rc == ANPR_OK) {
            for (int q = 0; q < 4; q++) {
                const uint8_t *got = im.px + ((size_t)((q / 2) * 16 + 8) * w + (q % 2) * 16 + 8) * 3;
                CHECK(near(got[0], rgb[q][0], 10) && near(got[1], rgb[q][1], 10) &&
                          near(got[2], rgb[q][2], 10),
                      "%s block %d: got %d,%d,%d want %d,%d,%d", kinds[k].name, q,
                      got[0], got[1], got[2], rgb[q][0], rgb[q][1], rgb[q][2]);
            }
            image_free(&im);
        }
        rc = decode(&b, 1, 0, &im, err);
        CHECK(rc == ANPR_OK && im.channels == 1, "%s as grey: %s", kinds[k].name, err);
        if (rc == ANPR_OK) {
            for (int q = 0; q < 4; q++) {
                int got = im.px[((q / 2) * 16 + 8) * w + (q % 2) * 16 + 8];
                double want = luma(rgb[q][0], rgb[q][1], rgb[q][2]);
                CHECK(fabs(got - want) < 10, "%s grey block %d: %d want %.0f",
                      kinds[k].name, q, got, want);
            }
            image_free(&im);
        }
        free(b.p);
    }
    free(px);
}

/* ---- PNG kinds --------------------------------------------------------- */

/* The 8-bit RGB a PNG sample set should decode to (alpha dropped). */
static void png_expect(const png_spec *s, const uint16_t *v, int i, int rgb[3])
{
    int spp = png_samples(s->type);
    const uint16_t *p = v + (size_t)i * spp;
    int max = (1 << s->depth) - 1;
    switch (s->type) {
    case PNG_COLOR_TYPE_PALETTE:
        rgb[0] = s->palette[p[0]].red;
        rgb[1] = s->palette[p[0]].green;
        rgb[2] = s->palette[p[0]].blue;
        return;
    case PNG_COLOR_TYPE_GRAY:
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        rgb[0] = rgb[1] = rgb[2] = (int)lround(p[0] * 255.0 / max);
        return;
    default:
        for (int c = 0; c < 3; c++)
            rgb[c] = (int)lround(p[c] * 255.0 / max);
    }
}

static void test_png_kinds(void)
{
    static const png_color palette[6] = {
        {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {250, 250, 250}, {10, 20, 30}, {200, 100, 50}};
    static const png_byte pal_alpha[3] = {0, 128, 255};
    struct { int type, depth, interlace, n_pal, trans; const char *name; } kinds[] = {
        {PNG_COLOR_TYPE_GRAY, 8, 0, 0, 0, "grey 8"},
        {PNG_COLOR_TYPE_GRAY, 1, 0, 0, 0, "grey 1"},
        {PNG_COLOR_TYPE_GRAY, 2, 0, 0, 0, "grey 2"},
        {PNG_COLOR_TYPE_GRAY, 4, 1, 0, 0, "grey 4 interlaced"},
        {PNG_COLOR_TYPE_GRAY, 16, 0, 0, 0, "grey 16"},
        {PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 0, 0, "grey+alpha"},
        {PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0, 0, 0, "grey+alpha 16"},
        {PNG_COLOR_TYPE_RGB, 8, 0, 0, 0, "RGB"},
        {PNG_COLOR_TYPE_RGB, 8, 1, 0, 0, "RGB interlaced"},
        {PNG_COLOR_TYPE_RGB, 16, 0, 0, 0, "RGB 16"},
        {PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, 0, 0, "RGBA"},
        {PNG_COLOR_TYPE_RGB_ALPHA, 16, 1, 0, 0, "RGBA 16 interlaced"},
        {PNG_COLOR_TYPE_PALETTE, 8, 0, 6, 0, "palette 8"},
        {PNG_COLOR_TYPE_PALETTE, 4, 0, 6, 1, "palette 4 with tRNS"},
        {PNG_COLOR_TYPE_PALETTE, 2, 1, 4, 0, "palette 2 interlaced"},
        {PNG_COLOR_TYPE_PALETTE, 1, 0, 2, 1, "palette 1 with tRNS"},
    };
    int w = 19, h = 13;         /* odd sizes exercise bit packing and Adam7 */
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        png_spec s = {w, h, kinds[k].type, kinds[k].depth,
                      kinds[k].interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                      kinds[k].n_pal ? palette : NULL, kinds[k].n_pal,
                      kinds[k].trans ? pal_alpha : NULL, kinds[k].trans ? 2 : 0, NULL, 0};
        int spp = png_samples(s.type);
        uint16_t *v = xmalloc(sizeof *v * w * h * spp);
        unsigned max = (1u << s.depth) - 1;
        for (int i = 0; i < w * h * spp; i++)
            v[i] = (uint16_t)(s.n_palette ? rng() % s.n_palette : rng() % (max + 1));
        buf b = enc_png(&s, v);
        for (int channels = 1; channels <= 3; channels += 2) {
            image im;
            char err[256];
            int rc = decode(&b, channels, 0, &im, err);
            CHECK(rc == ANPR_OK, "%s: %s", kinds[k].name, err);
            if (rc != ANPR_OK)
                continue;
            CHECK(im.w == w && im.h == h && im.channels == channels, "%s: %dx%dx%d",
                  kinds[k].name, im.w, im.h, im.channels);
            int bad = 0;
            /* 16-bit samples become 8 bits by dropping or rounding the low byte. */
            int tol = s.depth == 16 ? 1 : 0;
            for (int i = 0; i < w * h && !bad; i++) {
                int want[3];
                png_expect(&s, v, i, want);
                if (channels == 3) {
                    for (int c = 0; c < 3; c++)
                        bad |= !near(im.px[3 * i + c], want[c], tol);
                } else {
                    bad |= fabs(im.px[i] - luma(want[0], want[1], want[2])) > 1.0 + tol;
                }
                if (bad)
                    fprintf(stderr, "%s channels %d pixel %d: got %d want %d,%d,%d\n",
                            kinds[k].name, channels, i, im.px[channels * i],
                            want[0], want[1], want[2]);
            }
            CHECK(!bad, "%s channels %d decodes exactly", kinds[k].name, channels);
            image_free(&im);
        }
        free(b.p);
        free(v);
    }
}

/* ---- bad input --------------------------------------------------------- */

static buf small_jpeg(int progressive)
{
    uint8_t *px = gradient_rgb(48, 32);
    jpeg_spec s = {48, 32, 3, JCS_RGB, JCS_UNKNOWN, 90, progressive, 0, NULL, 0};
    buf b = enc_jpeg(&s, px);
    free(px);
    return b;
}

static buf small_png(int interlace)
{
    int w = 40, h = 30;
    uint16_t *v = xmalloc(sizeof *v * w * h * 3);
    for (int i = 0; i < w * h * 3; i++)
        v[i] = (uint16_t)(rng() % 256);
    png_spec s = {w, h, PNG_COLOR_TYPE_RGB, 8,
                  interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL, 0};
    buf b = enc_png(&s, v);
    free(v);
    return b;
}

/*
 * Every prefix of a file short of its end marker must fail as ANPR_ERR_IMAGE
 * with a message, and leave no image. tail: bytes that may go missing
 * without losing pixels (JPEG EOI, PNG IEND).
 */
static void check_truncations(const buf *b, size_t tail, const char *what)
{
    int bad = 0;
    for (size_t cut = 0; cut + tail < b->n; cut++) {
        buf part = buf_copy(b->p, cut);   /* exact size, so ASan sees overreads */
        image im = {0};
        char err[256] = "";
        int rc = decode(&part, cut % 2 ? 3 : 1, 0, &im, err);
        if (rc != ANPR_ERR_IMAGE || err[0] == 0 || im.px != NULL) {
            if (bad++ < 5)
                fprintf(stderr, "%s cut at %zu of %zu: rc %d, \"%s\"\n", what, cut,
                        b->n, rc, err);
            image_free(&im);
        }
        free(part.p);
    }
    CHECK(bad == 0, "%s: %d truncations not refused", what, bad);
}

static void check_corruptions(const buf *b, const char *what)
{
    int bad = 0;
    for (int round = 0; round < 400; round++) {
        buf c = buf_copy(b->p, b->n);
        int n = 1 + (int)(rng() % 4);
        for (int i = 0; i < n; i++)
            c.p[rng() % c.n] = (uint8_t)rng();
        image im = {0};
        char err[256] = "";
        int rc = image_decode(c.p, c.n, round % 2 ? 3 : 1, 100000, round % 3 * 4, 8, 8,
                              NULL, &im, err, sizeof err);
        if (rc == ANPR_OK) {
            bad += im.px == NULL || im.w <= 0 || im.h <= 0 ||
                   (uint64_t)im.w * im.h > 100000;
        } else {
            bad += err[0] == 0 || im.px != NULL ||
                   (rc != ANPR_ERR_IMAGE && rc != ANPR_ERR_TOO_LARGE &&
                    rc != ANPR_ERR_UNSUPPORTED);
        }
        image_free(&im);
        free(c.p);
    }
    CHECK(bad == 0, "%s: %d corruptions mishandled", what, bad);
}

static void test_bad_input(void)
{
    /* The library must print nothing, libjpeg and libpng included:
     * stderr goes to a file for the length of the abuse. */
    char path[] = "/tmp/anpr-test-stderr-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
    if (fd < 0)
        return;
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);

    buf jpegs[2] = {small_jpeg(0), small_jpeg(1)};
    buf pngs[2] = {small_png(0), small_png(1)};
    check_truncations(&jpegs[0], 2, "baseline JPEG");
    check_truncations(&jpegs[1], 2, "progressive JPEG");
    check_truncations(&pngs[0], 12, "PNG");
    check_truncations(&pngs[1], 12, "interlaced PNG");
    for (int i = 0; i < 2; i++) {
        check_corruptions(&jpegs[i], i ? "progressive JPEG" : "baseline JPEG");
        check_corruptions(&pngs[i], i ? "interlaced PNG" : "PNG");
        free(jpegs[i].p);
        free(pngs[i].p);
    }

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    fstat(fd, &st);
    if (st.st_size > 0) {           /* show what leaked, or our own failures */
        char text[2048];
        ssize_t n = pread(fd, text, sizeof text - 1, 0);
        text[n > 0 ? n : 0] = 0;
        fprintf(stderr, "%s", text);
    }
    CHECK(st.st_size == 0, "%lld bytes written to stderr while decoding bad input",
          (long long)st.st_size);
    close(fd);
    unlink(path);

    image im;
    char err[256];
    buf text = {(uint8_t *)"hello, this is not a picture\n", 29};
    CHECK(decode(&text, 1, 0, &im, err) == ANPR_ERR_IMAGE &&
              strstr(err, "not a JPEG or PNG") && strstr(err, "hello"),
          "text: %s", err);
    buf gif = {(uint8_t *)"GIF89a\001\000\001\000", 10};
    CHECK(decode(&gif, 1, 0, &im, err) == ANPR_ERR_IMAGE && strstr(err, "GIF"),
          "GIF: %s", err);
    buf empty = {(uint8_t *)"", 0};
    CHECK(decode(&empty, 1, 0, &im, err) == ANPR_ERR_IMAGE && strstr(err, "empty"),
          "empty: %s", err);
    CHECK(image_decode(NULL, 0, 1, 0, 1, 0, 0, NULL, &im, err, sizeof err) == ANPR_ERR_IMAGE,
          "NULL, 0: %s", err);
    CHECK(decode(&text, 2, 0, &im, err) == ANPR_ERR_ARG, "2 channels: %s", err);
}

/* ---- size limits ------------------------------------------------------- */

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Where a JPEG's frame header (SOF0 or SOF2 marker) starts; 0 if none. */
static size_t find_sof(const buf *b)
{
    for (size_t i = 2; i + 9 < b->n; i++)
        if (b->p[i] == 0xff && (b->p[i + 1] == 0xc0 || b->p[i + 1] == 0xc2))
            return i;
    return 0;
}

/* Sets the size in a JPEG's frame header; returns 0 if there is none. */
static int patch_sof(buf *b, unsigned w, unsigned h)
{
    size_t i = find_sof(b);
    if (i) {
        b->p[i + 5] = (uint8_t)(h >> 8);
        b->p[i + 6] = (uint8_t)h;
        b->p[i + 7] = (uint8_t)(w >> 8);
        b->p[i + 8] = (uint8_t)w;
    }
    return i != 0;
}

static void test_limits(void)
{
    image im;
    char err[256];

    /* A PNG that is only a header, claiming 100000 x 100000 pixels. */
    uint8_t png[8 + 25] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put32(png + 8, 13);
    memcpy(png + 12, "IHDR", 4);
    put32(png + 16, 100000);
    put32(png + 20, 100000);
    png[24] = 8;                /* depth */
    png[25] = 2;                /* RGB */
    put32(png + 29, crc32_png(png + 12, 17));
    buf b = {png, sizeof png};
    int rc = decode(&b, 3, 0, &im, err);
    CHECK(rc == ANPR_ERR_TOO_LARGE && strstr(err, "100000x100000") &&
              strstr(err, "over the limit of 50000000"),
          "huge PNG: rc %d %s", rc, err);

    /* JPEGs whose frame header claims 60000 x 60000 (65500 is JPEG's most). */
    for (int progressive = 0; progressive <= 1; progressive++) {
        buf j = small_jpeg(progressive);
        CHECK(patch_sof(&j, 60000, 60000), "SOF found");
        rc = decode(&j, 1, 0, &im, err);
        CHECK(rc == ANPR_ERR_TOO_LARGE && strstr(err, "60000x60000"),
              "huge JPEG: rc %d %s", rc, err);
        patch_sof(&j, 65535, 65535);
        rc = decode(&j, 1, UINT64_MAX, &im, err);
        CHECK(rc == ANPR_ERR_TOO_LARGE, "JPEG over 65500: rc %d %s", rc, err);
        free(j.p);
    }

    /* Valid JPEG kinds this build cannot decode: 12-bit, lossless. */
    buf j12 = small_jpeg(0), jl = small_jpeg(0);
    size_t sof = find_sof(&j12);
    j12.p[sof + 4] = 12;        /* sample precision */
    rc = decode(&j12, 1, 0, &im, err);
    CHECK(rc == ANPR_ERR_UNSUPPORTED && strstr(err, "12"), "12-bit JPEG: rc %d %s", rc, err);
    jl.p[sof + 1] = 0xc3;       /* SOF3, lossless */
    rc = decode(&jl, 1, 0, &im, err);
    CHECK(rc == ANPR_ERR_UNSUPPORTED, "lossless JPEG: rc %d %s", rc, err);
    free(j12.p);
    free(jl.p);

    /* The limit is inclusive: exactly w * h passes, one less fails. */
    buf j = small_jpeg(0), p = small_png(0);
    rc = decode(&j, 1, 48 * 32, &im, err);
    CHECK(rc == ANPR_OK, "JPEG at the limit: %s", err);
    image_free(&im);
    rc = decode(&j, 1, 48 * 32 - 1, &im, err);
    CHECK(rc == ANPR_ERR_TOO_LARGE && strstr(err, "48x32"), "JPEG over: %s", err);
    rc = decode(&p, 3, 40 * 30, &im, err);
    CHECK(rc == ANPR_OK, "PNG at the limit: %s", err);
    image_free(&im);
    rc = decode(&p, 3, 40 * 30 - 1, &im, err);
    CHECK(rc == ANPR_ERR_TOO_LARGE && strstr(err, "40x30"), "PNG over: %s", err);
    free(j.p);
    free(p.p);
}

/* ---- EXIF orientation -------------------------------------------------- */

/* An APP1 body: "Exif\0\0", a TIFF header and one directory holding an
 * unrelated tag and then the orientation. */
static size_t make_exif(uint8_t *out, int little, unsigned orientation, unsigned type,
                        uint32_t ifd_offset, unsigned count)
{
    uint8_t *t = out + 6;
    memcpy(out, "Exif\0\0", 6);
    memset(t, 0, 8 + 2 + 24 + 4);
#define W16(p, v) (little ? ((p)[0] = (uint8_t)(v), (p)[1] = (uint8_t)((v) >> 8)) \
                          : ((p)[0] = (uint8_t)((v) >> 8), (p)[1] = (uint8_t)(v)))
#define W32(p, v) (little ? (W16(p, (v) & 0xffff), W16((p) + 2, (v) >> 16)) \
                          : (W16(p, (v) >> 16), W16((p) + 2, (v) & 0xffff)))
    t[0] = t[1] = little ? 'I' : 'M';
    W16(t + 2, 42);
    W32(t + 4, ifd_offset);
    W16(t + 8, count);
    W16(t + 10, 0x010f);        /* Make, ASCII, 4 bytes inline */
    W16(t + 12, 2);
    W32(t + 14, 4);
    memcpy(t + 18, "Test", 4);
    W16(t + 22, 0x0112);
    W16(t + 24, type);
    W32(t + 26, 1);
    W16(t + 30, orientation);
#undef W16
#undef W32
    return 6 + 8 + 2 + 24 + 4;
}

/* Stored picture: 48 x 32, quadrants of distinct greys. */
enum { QW = 48, QH = 32 };
static const int quad_grey[4] = {20, 90, 160, 230};   /* TL, TR, BL, BR */

/* The quadrants as a JPEG, with the APP1 body given, or as a PNG with
 * its TIFF part as an eXIf chunk. */
static buf quadrant_image(int png, const uint8_t *app1, size_t app1_len)
{
    uint8_t px[QW * QH];
    uint16_t v[QW * QH];
    for (int y = 0; y < QH; y++)
        for (int x = 0; x < QW; x++)
            v[y * QW + x] = px[y * QW + x] =
                (uint8_t)quad_grey[(y >= QH / 2) * 2 + (x >= QW / 2)];
    if (png) {
        png_spec s = {QW, QH, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0,
                      app1_len > 6 ? app1 + 6 : NULL, app1_len > 6 ? app1_len - 6 : 0};
        return enc_png(&s, v);
    }
    jpeg_spec s = {QW, QH, 1, JCS_GRAYSCALE, JCS_UNKNOWN, 100, 0, 0, app1, app1_len};
    return enc_jpeg(&s, px);
}

/*
 * Checks which stored quadrant each visual corner shows. want lists the
 * stored quadrant (0 TL, 1 TR, 2 BL, 3 BR) at visual TL, TR, BL, BR.
 */
static void check_corners(const image *im, const int want[4], int transposed,
                          const char *what)
{
    int ew = transposed ? QH : QW, eh = transposed ? QW : QH;
    CHECK(im->w == ew && im->h == eh, "%s: %dx%d, want %dx%d", what, im->w, im->h, ew, eh);
    if (im->w != ew || im->h != eh)
        return;
    int xs[2] = {3, ew - 4}, ys[2] = {3, eh - 4};
    for (int c = 0; c < 4; c++) {
        int v = im->px[((size_t)ys[c / 2] * im->w + xs[c % 2]) * im->channels];
        CHECK(near(v, quad_grey[want[c]], 6), "%s corner %d: %d, want %d", what, c, v,
              quad_grey[want[c]]);
    }
}

static void test_exif(void)
{
    /* From the EXIF 2.3 table: the stored corner seen at each visual
     * corner (TL, TR, BL, BR) for orientations 1..8. */
    static const int corners[9][4] = {
        {0}, {0, 1, 2, 3}, {1, 0, 3, 2}, {3, 2, 1, 0}, {2, 3, 0, 1},
        {0, 2, 1, 3}, {2, 0, 3, 1}, {3, 1, 2, 0}, {1, 3, 0, 2}};
    uint8_t exif[64];
    char what[64], err[256];
    for (int png = 0; png <= 1; png++)
    for (int little = 0; little <= 1; little++)
        for (int o = 1; o <= 8; o++) {
            size_t n = make_exif(exif, little, (unsigned)o, 3, 8, 2);
            buf b = quadrant_image(png, exif, n);
            for (int channels = 1; channels <= 3; channels += 2) {
                image im;
                snprintf(what, sizeof what, "%s orientation %d %s ch %d",
                         png ? "PNG" : "JPEG", o, little ? "II" : "MM", channels);
                int rc = decode(&b, channels, 0, &im, err);
                CHECK(rc == ANPR_OK, "%s: %s", what, err);
                if (rc == ANPR_OK) {
                    check_corners(&im, corners[o], o >= 5, what);
                    image_free(&im);
                }
            }
            free(b.p);
        }

    /* Every pixel, on a lossless RGB picture bigger than the tiles the
     * turning works in: output (x, y) is stored (sx, sy) per the table. */
    enum { BW = 150, BH = 97 };
    uint16_t *v = xmalloc(sizeof *v * BW * BH * 3);
    for (int i = 0; i < BW * BH * 3; i++)
        v[i] = (uint16_t)(rng() % 256);
    for (int o = 1; o <= 8; o++) {
        size_t n = make_exif(exif, o % 2, (unsigned)o, 3, 8, 2);
        png_spec s = {BW, BH, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0,
                      exif + 6, n - 6};
        buf b = enc_png(&s, v);
        for (int channels = 1; channels <= 3; channels += 2) {
            image im;
            int rc = decode(&b, channels, 0, &im, err);
            int ow = o >= 5 ? BH : BW, oh = o >= 5 ? BW : BH, bad = 0;
            CHECK(rc == ANPR_OK && im.w == ow && im.h == oh, "big orientation %d: %s", o, err);
            if (rc != ANPR_OK)
                continue;
            for (int y = 0; y < oh && im.w == ow; y++)
                for (int x = 0; x < ow; x++) {
                    int sx, sy;
                    switch (o) {
                    case 1: sx = x, sy = y; break;
                    case 2: sx = BW - 1 - x, sy = y; break;
                    case 3: sx = BW - 1 - x, sy = BH - 1 - y; break;
                    case 4: sx = x, sy = BH - 1 - y; break;
                    case 5: sx = y, sy = x; break;
                    case 6: sx = y, sy = BH - 1 - x; break;
                    case 7: sx = BW - 1 - y, sy = BH - 1 - x; break;
                    default: sx = BW - 1 - y, sy = x; break;
                    }
                    const uint16_t *p = v + ((size_t)sy * BW + sx) * 3;
                    const uint8_t *q = im.px + ((size_t)y * ow + x) * channels;
                    if (channels == 3)
                        bad += q[0] != p[0] || q[1] != p[1] || q[2] != p[2];
                    else
                        bad += fabs(q[0] - luma(p[0], p[1], p[2])) > 1.0;
                }
            CHECK(bad == 0, "big orientation %d channels %d: %d pixels wrong", o, channels, bad);
            image_free(&im);
        }
        free(b.p);
    }
    free(v);

    /* Hostile or odd EXIF is ignored (upright), except a directory that
     * claims more entries than it has, which is read as far as it goes. */
    struct { unsigned orientation, type; uint32_t ifd; unsigned count; size_t cut;
             int want; const char *name; } odd[] = {
        {6, 3, 8, 2, 0, 6, "valid"},
        {6, 3, 8, 0xffff, 0, 6, "entry count too large"},
        {6, 3, 4000, 2, 0, 1, "directory offset past the end"},
        {6, 3, 0xfffffffe, 2, 0, 1, "directory offset near 2^32"},
        {6, 3, 2, 2, 0, 1, "directory inside the header"},
        {9, 3, 8, 2, 0, 1, "value 9"},
        {0, 3, 8, 2, 0, 1, "value 0"},
        {6, 4, 8, 2, 0, 1, "type LONG"},
        {6, 3, 8, 2, 20, 1, "segment cut before the tag"},
        {6, 3, 8, 2, 8, 1, "segment cut in the TIFF header"},
    };
    for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++)
        for (int little = 0; little <= 1; little++) {
            size_t n = make_exif(exif, little, odd[k].orientation, odd[k].type,
                                 odd[k].ifd, odd[k].count);
            if (odd[k].cut)
                n = odd[k].cut;
            buf b = quadrant_image(0, exif, n);
            image im;
            int rc = decode(&b, 1, 0, &im, err);
            snprintf(what, sizeof what, "EXIF %s %s", odd[k].name, little ? "II" : "MM");
            CHECK(rc == ANPR_OK, "%s: %s", what, err);
            if (rc == ANPR_OK) {
                check_corners(&im, corners[odd[k].want], odd[k].want >= 5, what);
                image_free(&im);
            }
            free(b.p);
        }

    /* A byte-order mark that is neither II nor MM. */
    size_t n = make_exif(exif, 1, 6, 3, 8, 2);
    exif[6] = exif[7] = 'X';
    buf b = quadrant_image(0, exif, n);
    image im;
    CHECK(decode(&b, 1, 0, &im, err) == ANPR_OK, "bad byte order: %s", err);
    check_corners(&im, corners[1], 0, "bad byte order");
    image_free(&im);
    free(b.p);
}

/* ---- reduced-scale decoding -------------------------------------------- */

static void test_scale(void)
{
    int w = 640, h = 480;
    uint8_t *px = gradient_rgb(w, h);
    jpeg_spec s = {w, h, 3, JCS_RGB, JCS_UNKNOWN, 90, 0, 0, NULL, 0};
    buf b = enc_jpeg(&s, px);
    struct { int denom_max, min_w, min_h, want; } cases[] = {
        {8, 100, 100, 4},       /* 1/8 is 80x60, too small; 1/4 is 160x120 */
        {8, 80, 60, 8},
        {2, 10, 10, 2},
        {3, 10, 10, 2},         /* not a power of two: the next one down */
        {1, 10, 10, 1},
        {8, 700, 10, 1},
        {0, 10, 10, 1},
    };
    char err[256];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        image im;
        int scale = -1;
        int rc = image_decode(b.p, b.n, 1, 0, cases[k].denom_max, cases[k].min_w,
                              cases[k].min_h, &scale, &im, err, sizeof err);
        CHECK(rc == ANPR_OK, "scale case %zu: %s", k, err);
        if (rc != ANPR_OK)
            continue;
        CHECK(scale == cases[k].want && im.w == w / scale && im.h == h / scale,
              "scale case %zu: 1/%d %dx%d, want 1/%d", k, scale, im.w, im.h,
              cases[k].want);
        /* The reduced picture is the full one, averaged. */
        double d = 0;
        for (int y = 0; y < im.h; y++)
            for (int x = 0; x < im.w; x++) {
                const uint8_t *p = px + ((size_t)(y * scale + scale / 2) * w +
                                         x * scale + scale / 2) * 3;
                d += fabs(im.px[y * im.w + x] - luma(p[0], p[1], p[2]));
            }
        CHECK(d / (im.w * im.h) < 4.0, "scale case %zu: content off by %.2f", k,
              d / (im.w * im.h));
        image_free(&im);
    }
    free(b.p);

    /* The minimum applies to the picture as seen: stored 640x480 turned
     * upright by orientation 6 is 480x640, so 1/4 (120x160) passes a
     * 100x150 minimum, which 160x120 would not. */
    uint8_t exif[64];
    size_t n = make_exif(exif, 0, 6, 3, 8, 2);
    jpeg_spec so = {w, h, 3, JCS_RGB, JCS_UNKNOWN, 90, 0, 0, exif, n};
    b = enc_jpeg(&so, px);
    image im;
    int scale = -1;
    int rc = image_decode(b.p, b.n, 3, 0, 8, 100, 150, &scale, &im, err, sizeof err);
    CHECK(rc == ANPR_OK && scale == 4 && im.w == 120 && im.h == 160,
          "turned scale: rc %d 1/%d %dx%d %s", rc, scale, im.w, im.h, err);
    image_free(&im);
    free(b.p);

    /* PNG has no reduced decode. */
    buf p = small_png(0);
    rc = image_decode(p.p, p.n, 1, 0, 8, 1, 1, &scale, &im, err, sizeof err);
    CHECK(rc == ANPR_OK && scale == 1 && im.w == 40, "PNG scale %d", scale);
    image_free(&im);
    free(p.p);
    free(px);
}

/* ---- files ------------------------------------------------------------- */

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

static void test_files(void)
{
    uint8_t *data;
    size_t len;
    char err[256];
    char path[] = "/tmp/anpr-test-image-XXXXXX.jpg";
    int fd = mkstemps(path, 4);
    CHECK(fd >= 0, "mkstemps: %s", strerror(errno));
    if (fd < 0)
        return;
    close(fd);

    /* Zero bytes. */
    int rc = image_read_file(path, 1000, &data, &len, err, sizeof err);
    CHECK(rc == ANPR_OK && len == 0 && data != NULL, "empty file: %s", err);
    if (rc == ANPR_OK) {
        image im;
        rc = image_decode(data, len, 1, 0, 1, 0, 0, NULL, &im, err, sizeof err);
        CHECK(rc == ANPR_ERR_IMAGE && strstr(err, "empty"), "empty file decodes: %s", err);
        free(data);
    }

    /* A text file named .jpg is judged by content. */
    const char *text = "Just some notes, not a photo.\n";
    write_file(path, text, strlen(text));
    rc = image_read_file(path, 1000, &data, &len, err, sizeof err);
    CHECK(rc == ANPR_OK && len == strlen(text) && memcmp(data, text, len) == 0,
          "text file: %s", err);
    if (rc == ANPR_OK) {
        image im;
        rc = image_decode(data, len, 1, 0, 1, 0, 0, NULL, &im, err, sizeof err);
        CHECK(rc == ANPR_ERR_IMAGE && strstr(err, "not a JPEG or PNG") &&
                  strstr(err, "Just som"),
              "text .jpg: %s", err);
        free(data);
    }

    /* A PNG named .jpg decodes (as PNG); the byte limit is inclusive. */
    buf p = small_png(0);
    write_file(path, p.p, p.n);
    rc = image_read_file(path, p.n - 1, &data, &len, err, sizeof err);
    CHECK(rc == ANPR_ERR_TOO_LARGE && strstr(err, "larger than the limit"), "limit: %s", err);
    rc = image_read_file(path, p.n, &data, &len, err, sizeof err);
    CHECK(rc == ANPR_OK && len == p.n && memcmp(data, p.p, len) == 0, "at limit: %s", err);
    if (rc == ANPR_OK) {
        image im;
        rc = image_decode(data, len, 3, 0, 1, 0, 0, NULL, &im, err, sizeof err);
        CHECK(rc == ANPR_OK && im.w == 40 && im.h == 30, "PNG named .jpg: %s", err);
        image_free(&im);
        free(data);
    }

    /* Standard input, bigger than the first read buffer. */
    size_t big_n = 300000;
    uint8_t *big = xmalloc(big_n);
    for (size_t i = 0; i < big_n; i++)
        big[i] = (uint8_t)(i * 7 + (i >> 9));
    write_file(path, big, big_n);
    int saved = dup(0);
    int in = open(path, O_RDONLY);
    dup2(in, 0);
    close(in);
    rc = image_read_file("-", big_n, &data, &len, err, sizeof err);
    CHECK(rc == ANPR_OK && len == big_n && memcmp(data, big, len) == 0, "stdin: %s", err);
    if (rc == ANPR_OK)
        free(data);
    lseek(0, 0, SEEK_SET);
    rc = image_read_file("-", big_n - 1, &data, &len, err, sizeof err);
    CHECK(rc == ANPR_ERR_TOO_LARGE && strstr(err, "standard input"), "stdin limit: %s", err);

    /* A pipe, which has no size to go by, fed by a child process. */
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        size_t off = 0;
        while (off < big_n) {
            ssize_t w = write(fds[1], big + off, big_n - off);
            if (w <= 0)
                _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    dup2(fds[0], 0);
    close(fds[0]);
    rc = image_read_file("-", big_n, &data, &len, err, sizeof err);
    CHECK(rc == ANPR_OK && len == big_n && memcmp(data, big, len) == 0, "pipe: %s", err);
    if (rc == ANPR_OK)
        free(data);
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pipe writer failed");
    dup2(saved, 0);
    close(saved);
    free(big);

    unlink(path);
    rc = image_read_file(path, 1000, &data, &len, err, sizeof err);
    CHECK(rc == ANPR_ERR_IO && strstr(err, strerror(ENOENT)) && strstr(err, path),
          "missing file: %s", err);
    rc = image_read_file("/tmp", 1000, &data, &len, err, sizeof err);
    CHECK(rc == ANPR_ERR_IO && strstr(err, strerror(EISDIR)), "directory: %s", err);
    free(p.p);
}

/* ---- resampling -------------------------------------------------------- */

static float max_diff(const float *a, const float *b, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

/* Bilinear at (u, v) in double, edge pixels repeated: the reference for
 * image_warp_quad()'s samples. */
static double bilinear(const uint8_t *src, int sw, int sh, int stride, double u, double v)
{
    double fx = fmin(fmax(u - 0.5, 0), sw - 1), fy = fmin(fmax(v - 0.5, 0), sh - 1);
    int x0 = (int)fx, y0 = (int)fy;
    int x1 = x0 + (x0 < sw - 1), y1 = y0 + (y0 < sh - 1);
    double ax = fx - x0, ay = fy - y0;
    const uint8_t *r0 = src + y0 * stride, *r1 = src + y1 * stride;
    double top = r0[x0] + ax * (r0[x1] - r0[x0]), bot = r1[x0] + ax * (r1[x1] - r1[x0]);
    return (top + ay * (bot - top)) / 255;
}

/*
 * Every sample against the reference, on planes down to one pixel, with
 * rows as long as the stride (so the last pixel is the plane's last byte,
 * which a vector path that reads four bytes at a time must not pass),
 * quads running off every edge, in perspective, and output rows of every
 * length from 1 to 40 (vector blocks and their tails).
 */
static void test_warp_samples(void)
{
    enum { MAXW = 37, MAXH = 23 };
    static uint8_t src[MAXW * MAXH];
    static float out[40 * 9];
    int bad = 0, runs = 0;
    for (int k = 0; k < 400; k++) {
        int sw = 1 + (int)(rng() % MAXW), sh = 1 + (int)(rng() % MAXH);
        int stride = sw + (int)(rng() % 2) * (int)(rng() % 4);
        if (stride * sh > MAXW * MAXH)
            stride = sw;
        for (int i = 0; i < stride * sh; i++)
            src[i] = (uint8_t)rng();
        float q[4][2];
        for (int c = 0; c < 4; c++) {
            q[c][0] = (float)((int)(rng() % 1000) - 250) * (float)sw / 500.0f;
            q[c][1] = (float)((int)(rng() % 1000) - 250) * (float)sh / 500.0f;
        }
        if (k % 2) {   /* half of them parallelograms: the affine path */
            q[2][0] = q[1][0] + q[3][0] - q[0][0];
            q[2][1] = q[1][1] + q[3][1] - q[0][1];
        }
        int dw = 1 + k % 40, dh = 1 + (int)(rng() % 9);
        image_warp_quad(src, sw, sh, stride, (const float(*)[2])q, out, dw, dh);
        for (int j = 0; j < dh; j++)
            for (int i = 0; i < dw; i++) {
                float p[2];
                image_quad_point((const float(*)[2])q, (i + 0.5f) / (float)dw,
                                 (j + 0.5f) / (float)dh, p);
                double want = bilinear(src, sw, sh, stride, p[0], p[1]);
                /* Sample positions agree to float rounding, a few 1e-4
                 * pixels where a quad reaches far outside. */
                bad += !(fabs(out[j * dw + i] - want) < 2e-3);
                runs++;
            }
    }
    CHECK(bad == 0, "warp against the reference: %d of %d samples off", bad, runs);

    /* A plane whose last byte ends its page, with no access to the next:
     * a read past it faults. Every sample on the bottom-right pixel. */
    long page = sysconf(_SC_PAGESIZE);
    uint8_t *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
    CHECK(map != MAP_FAILED && mprotect(map + page, (size_t)page, PROT_NONE) == 0, "guard page");
    if (map != MAP_FAILED) {
        uint8_t *plane = map + page - 10 * 10;
        memset(plane, 200, 10 * 10);
        const float corner[4][2] = {{9.5f, 9.5f}, {12, 9.5f}, {12, 12}, {9.5f, 12}};
        image_warp_quad(plane, 10, 10, 10, corner, out, 16, 2);
        bad = 0;
        for (int i = 0; i < 32; i++)
            bad += !(fabsf(out[i] - 200 / 255.0f) < 1e-6f);
        CHECK(bad == 0, "bottom-right corner: %d samples off", bad);
        munmap(map, (size_t)page * 2);
    }
}

static void test_warp_resize(void)
{
    enum { SW = 40, SH = 30, STRIDE = 43 };
    uint8_t src[SH * STRIDE];
    for (int i = 0; i < SH * STRIDE; i++)
        src[i] = (uint8_t)rng();
    float a[80 * 60], b[80 * 60];

    /* The whole plane as an axis-aligned quad is a resize: bilinear when
     * growing, and when halving, the 2x2 average either way. */
    const float whole[4][2] = {{0, 0}, {SW, 0}, {SW, SH}, {0, SH}};
    int sizes[][2] = {{80, 60}, {20, 15}, {SW, SH}, {57, 44}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int dw = sizes[k][0], dh = sizes[k][1];
        image_warp_quad(src, SW, SH, STRIDE, whole, a, dw, dh);
        image_resize_gray(src, SW, SH, STRIDE, b, dw, dh);
        float d = max_diff(a, b, (size_t)dw * dh);
        CHECK(d < 1e-4f, "warp vs resize %dx%d: %g", dw, dh, d);
    }

    /* Same size is the identity; an inner axis-aligned quad is a crop. */
    image_resize_gray(src, SW, SH, STRIDE, a, SW, SH);
    const float crop[4][2] = {{10, 5}, {30, 5}, {30, 25}, {10, 25}};
    image_warp_quad(src, SW, SH, STRIDE, crop, b, 20, 20);
    int bad = 0;
    for (int y = 0; y < SH; y++)
        for (int x = 0; x < SW; x++)
            bad += fabsf(a[y * SW + x] - src[y * STRIDE + x] / 255.0f) > 1e-6f;
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 20; x++)
            bad += fabsf(b[y * 20 + x] - src[(y + 5) * STRIDE + x + 10] / 255.0f) > 1e-5f;
    CHECK(bad == 0, "identity resize and crop warp: %d pixels off", bad);

    /* A quad listed from the top-right corner turns the picture a quarter
     * anticlockwise: output (i, j) is source (SW - 1 - j, i). */
    const float turned[4][2] = {{SW, 0}, {SW, SH}, {0, SH}, {0, 0}};
    image_warp_quad(src, SW, SH, STRIDE, turned, a, SH, SW);
    bad = 0;
    for (int j = 0; j < SW; j++)
        for (int i = 0; i < SH; i++)
            bad += fabsf(a[j * SH + i] - src[i * STRIDE + SW - 1 - j] / 255.0f) > 1e-5f;
    CHECK(bad == 0, "quarter turn by quad order: %d pixels off", bad);

    /* Perspective: a trapezoid's corners land on its corners, and a flat
     * plane stays flat whatever the quad, even degenerate or outside. */
    uint8_t ramp[SH * STRIDE];
    for (int y = 0; y < SH; y++)
        for (int x = 0; x < STRIDE; x++)
            ramp[y * STRIDE + x] = (uint8_t)(x * 6);
    const float trap[4][2] = {{12, 2}, {28, 2}, {38, 28}, {2, 28}};
    image_warp_quad(ramp, SW, SH, STRIDE, trap, a, 64, 32);
    /* Row 0 spans x 12..28 of the ramp; the last row x 2..38. Pixel centres
     * sit half a step in, and the ramp is linear, so the ends are known. */
    float step = 16.0f / 64, want_tl = (12 + step / 2 - 0.5f) * 6 / 255;
    CHECK(fabsf(a[0] - want_tl) < 0.02f, "trapezoid TL %g want %g", a[0], want_tl);
    CHECK(a[63] > a[0] && a[31 * 64] < a[0] && a[31 * 64 + 63] > a[63],
          "trapezoid widens downwards");
    memset(ramp, 77, sizeof ramp);
    const float quads[][4][2] = {
        {{5, 5}, {5, 5}, {5, 5}, {5, 5}},
        {{-100, -50}, {500, -20}, {90, 400}, {-30, 70}},
        {{0, 0}, {40, 30}, {0, 30}, {40, 0}},
        {{1e30f, 0}, {0, 1e30f}, {-1e30f, 0}, {0, -1e30f}},
        {{NAN, 0}, {40, 0}, {40, 30}, {0, NAN}},
    };
    bad = 0;
    for (size_t k = 0; k < sizeof quads / sizeof quads[0]; k++) {
        image_warp_quad(ramp, SW, SH, STRIDE, quads[k], a, 16, 8);
        for (int i = 0; i < 16 * 8; i++)
            bad += !(fabsf(a[i] - 77 / 255.0f) < 1e-5f);
    }
    CHECK(bad == 0, "flat plane through odd quads: %d pixels off", bad);

    /* Area averaging: whole-factor shrink is the block mean, and any shrink
     * keeps the mean of the plane. */
    image_resize_gray(src, SW, SH, STRIDE, a, 10, 10);   /* 4 x 3 blocks */
    bad = 0;
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 10; x++) {
            int s = 0;
            for (int v = 0; v < 3; v++)
                for (int u = 0; u < 4; u++)
                    s += src[(y * 3 + v) * STRIDE + x * 4 + u];
            bad += fabsf(a[y * 10 + x] - s / 12.0f / 255.0f) > 1e-5f;
        }
    CHECK(bad == 0, "block means: %d off", bad);
    double mean_src = 0, mean_dst = 0;
    for (int y = 0; y < SH; y++)
        for (int x = 0; x < SW; x++)
            mean_src += src[y * STRIDE + x] / 255.0;
    image_resize_gray(src, SW, SH, STRIDE, a, 13, 7);
    for (int i = 0; i < 13 * 7; i++)
        mean_dst += a[i];
    CHECK(fabs(mean_src / (SW * SH) - mean_dst / (13 * 7)) < 1e-4,
          "area average keeps the mean: %g vs %g", mean_src / (SW * SH),
          mean_dst / (13 * 7));

    /* Mixed: shrink across, grow down; and one pixel to many. */
    image_resize_gray(src, SW, SH, STRIDE, a, 20, 60);
    bad = 0;
    for (int y = 0; y < 60; y++)
        for (int x = 0; x < 20; x++) {
            float c = (y + 0.5f) / 2 - 0.5f;
            c = c < 0 ? 0 : c > SH - 1 ? SH - 1 : c;
            int y0 = (int)c, y1 = y0 + (y0 < SH - 1);
            float f = c - y0;
            float top = (src[y0 * STRIDE + 2 * x] + src[y0 * STRIDE + 2 * x + 1]) / 2.0f;
            float bot = (src[y1 * STRIDE + 2 * x] + src[y1 * STRIDE + 2 * x + 1]) / 2.0f;
            bad += fabsf(a[y * 20 + x] - (top + f * (bot - top)) / 255.0f) > 1e-5f;
        }
    CHECK(bad == 0, "mixed shrink and grow: %d off", bad);
    /* Wider than the columns one span of sums holds (2048): a 5000-wide
     * strip, shrunk, against exact area averages worked in doubles. */
    enum { LW = 5000, LH = 3 };
    static uint8_t strip[LH * LW];
    for (int i = 0; i < LH * LW; i++)
        strip[i] = (uint8_t)rng();
    int widths[] = {7, 1, 2500};
    for (size_t k = 0; k < sizeof widths / sizeof widths[0]; k++) {
        int dw = widths[k];
        float *o = malloc(sizeof *o * (size_t)dw);
        CHECK(o != NULL, "out of memory");
        if (!o)
            break;
        image_resize_gray(strip, LW, LH, LW, o, dw, 1);
        bad = 0;
        for (int i = 0; i < dw; i++) {
            double x0 = (double)i * LW / dw, x1 = (double)(i + 1) * LW / dw, sum = 0;
            for (int x = (int)x0; x < LW && x < x1; x++) {
                double w = fmin(x + 1, x1) - fmax(x, x0);
                for (int y = 0; y < LH; y++)
                    sum += w * strip[y * LW + x];
            }
            bad += fabs(o[i] - sum / (x1 - x0) / LH / 255) > 1e-4;
        }
        CHECK(bad == 0, "5000 wide to %d: %d off", dw, bad);
        free(o);
    }
    uint8_t one = 200;
    image_resize_gray(&one, 1, 1, 1, a, 5, 3);
    bad = 0;
    for (int i = 0; i < 15; i++)
        bad += fabsf(a[i] - 200 / 255.0f) > 1e-6f;
    CHECK(bad == 0, "1x1 grown");
}

/* ---- real photos ------------------------------------------------------- */

/* Decodes a few real files and checks each labelled plate box lies in the
 * picture; skipped where the shared data is not present. */
static void test_real_photos(void)
{
    const char *dir = "../shared/data/photos-dev";
    char path[512], line[512], err[256];
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("test_image: %s not present, real photos skipped\n", dir);
        return;
    }
    int n = 0, row = 0;
    while (fgets(line, sizeof line, f)) {
        char name[256], country[16], plate[32];
        int x, y, w, h;
        if (sscanf(line, "%255[^,],%15[^,],%31[^,],%d,%d,%d,%d", name, country, plate,
                   &x, &y, &w, &h) != 7)
            continue;               /* the header */
        /* Every twelfth photo, to cover both countries and sizes, and
         * the PNG among them. */
        if (row++ % 12 && !strstr(name, ".png"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        uint8_t *data;
        size_t len;
        int rc = image_read_file(path, 64 << 20, &data, &len, err, sizeof err);
        CHECK(rc == ANPR_OK, "%s", err);
        if (rc != ANPR_OK)
            continue;
        image im;
        rc = image_decode(data, len, n % 2 ? 3 : 1, 0, 1, 0, 0, NULL, &im, err, sizeof err);
        CHECK(rc == ANPR_OK, "%s: %s", name, err);
        if (rc == ANPR_OK) {
            CHECK(x >= -1 && y >= 0 && x + w <= im.w && y + h <= im.h,
                  "%s: box %d,%d %dx%d outside %dx%d", name, x, y, w, h, im.w, im.h);
            image_free(&im);
        }
        free(data);
        n++;
    }
    fclose(f);
    CHECK(n >= 10, "only %d labelled photos decoded", n);
}

int main(void)
{
    test_jpeg_rgb_and_grey();
    test_jpeg_grey();
    test_jpeg_cmyk();
    test_png_kinds();
    test_bad_input();
    test_limits();
    test_exif();
    test_scale();
    test_files();
    test_warp_resize();
    test_warp_samples();
    test_real_photos();
    if (failures) {
        fprintf(stderr, "test_image: %d checks failed\n", failures);
        return 1;
    }
    printf("test_image: all checks passed\n");
    return 0;
}
