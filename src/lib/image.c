/*
 * image.c: the front of the image module: reading files, telling formats
 * apart by their first bytes, and the checks every decoder shares.
 */
#include "image_codec.h"

#include "anpr.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int image_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int image_check_size(uint64_t w, uint64_t h, uint64_t max_pixels,
                     char *err, size_t errlen)
{
    if (w == 0 || h == 0)
        return image_fail(err, errlen, ANPR_ERR_IMAGE,
                          "image is %llux%llu pixels, which is empty",
                          (unsigned long long)w, (unsigned long long)h);
    /* Both come from 32-bit header fields, so the product cannot wrap. */
    if (w > UINT32_MAX || h > UINT32_MAX || w * h > max_pixels)
        return image_fail(err, errlen, ANPR_ERR_TOO_LARGE,
                          "image is %llux%llu pixels, over the limit of %llu",
                          (unsigned long long)w, (unsigned long long)h,
                          (unsigned long long)max_pixels);
    return ANPR_OK;
}

int image_alloc(image *im, uint64_t w, uint64_t h, int channels,
                char *err, size_t errlen)
{
    if (w > INT32_MAX || h > INT32_MAX || w * h > SIZE_MAX / (unsigned)channels)
        return image_fail(err, errlen, ANPR_ERR_TOO_LARGE,
                          "image of %llux%llu pixels does not fit in memory",
                          (unsigned long long)w, (unsigned long long)h);
    im->px = malloc((size_t)(w * h) * (size_t)channels);
    if (!im->px)
        return image_fail(err, errlen, ANPR_ERR_NOMEM,
                          "out of memory for a %llux%llu image",
                          (unsigned long long)w, (unsigned long long)h);
    im->w = (int)w;
    im->h = (int)h;
    im->channels = channels;
    return ANPR_OK;
}

/* Formats people may hand us by mistake, named so the error says what it is. */
static const struct { const char *magic; size_t n; const char *name; } known[] = {
    {"GIF8", 4, "GIF"},      {"BM", 2, "BMP"},          {"II*\0", 4, "TIFF"},
    {"MM\0*", 4, "TIFF"},    {"\0\0\0\fjP  ", 8, "JPEG 2000"},
    {"%PDF", 4, "PDF"},
};

/* "not a JPEG or PNG image (starts with ...)", the bytes shown printably. */
static int unknown_format(const uint8_t *p, size_t len, char *err, size_t errlen)
{
    if (len == 0)
        return image_fail(err, errlen, ANPR_ERR_IMAGE, "empty image data (0 bytes)");
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (len >= known[i].n && memcmp(p, known[i].magic, known[i].n) == 0)
            return image_fail(err, errlen, ANPR_ERR_IMAGE,
                              "%s image: only JPEG and PNG are supported",
                              known[i].name);
    if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return image_fail(err, errlen, ANPR_ERR_IMAGE,
                          "WebP image: only JPEG and PNG are supported");
    if (len >= 12 && memcmp(p + 4, "ftyp", 4) == 0)
        return image_fail(err, errlen, ANPR_ERR_IMAGE,
                          "HEIF/AVIF or video file: only JPEG and PNG are supported");
    char shown[8 * 4 + 1], *s = shown;
    for (size_t i = 0; i < len && i < 8; i++) {
        if (isprint(p[i]) && p[i] != '"' && p[i] != '\\')
            *s++ = (char)p[i];
        else
            s += sprintf(s, "\\x%02x", p[i]);
    }
    *s = 0;
    return image_fail(err, errlen, ANPR_ERR_IMAGE,
                      "not a JPEG or PNG image (starts with \"%s\")", shown);
}

int image_decode(const void *data, size_t len, int channels, uint64_t max_pixels,
                 int scale_denom_max, int min_w, int min_h, int *scale_out,
                 image *out, char *err, size_t errlen)
{
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t *p = data;

    if (err && errlen)
        err[0] = 0;
    if (!out || (!data && len) || (channels != 1 && channels != 3))
        return image_fail(err, errlen, ANPR_ERR_ARG,
                          "image_decode: bad argument");
    *out = (image){0};
    if (scale_out)
        *scale_out = 1;
    if (max_pixels == 0)
        max_pixels = IMAGE_DEFAULT_MAX_PIXELS;
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return image_jpeg_decode(p, len, channels, max_pixels, scale_denom_max,
                                 min_w, min_h, scale_out, out, err, errlen);
    if (len >= 8 && memcmp(p, png_magic, 8) == 0)
        return image_png_decode(p, len, channels, max_pixels, out, err, errlen);
    return unknown_format(p, len, err, errlen);
}

void image_free(image *im)
{
    if (!im)
        return;
    free(im->px);
    *im = (image){0};
}

int image_read_file(const char *path, size_t max_bytes, uint8_t **data,
                    size_t *len, char *err, size_t errlen)
{
    *data = NULL;
    *len = 0;
    int from_stdin = strcmp(path, "-") == 0;
    const char *name = from_stdin ? "standard input" : path;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (!f)
        return image_fail(err, errlen, ANPR_ERR_IO, "cannot open %s: %s",
                          name, strerror(errno));
    /*
     * One loop serves files and pipes alike: grow the buffer as data comes
     * and stop as soon as it passes the limit, so a huge input or an
     * endless pipe costs at most max_bytes.
     */
    size_t cap = 0, n = 0;
    size_t enough = max_bytes < SIZE_MAX ? max_bytes + 1 : SIZE_MAX;
    /* A regular file's size is a good first guess: one read, no copies. */
    struct stat st;
    size_t first = 64 * 1024;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size < SIZE_MAX)
        first = (size_t)st.st_size + 1;
    uint8_t *buf = NULL;
    int rc = ANPR_OK;
    for (;;) {
        if (n == cap) {
            size_t want = cap ? cap * 2 : first;
            if (want > enough || want < cap)
                want = enough;
            uint8_t *grown = realloc(buf, want);
            if (!grown) {
                rc = image_fail(err, errlen, ANPR_ERR_NOMEM,
                                "out of memory reading %s", name);
                break;
            }
            buf = grown;
            cap = want;
        }
        size_t asked = cap - n, got = fread(buf + n, 1, asked, f);
        n += got;
        if (n > max_bytes) {
            rc = image_fail(err, errlen, ANPR_ERR_TOO_LARGE,
                            "%s is larger than the limit of %zu bytes",
                            name, max_bytes);
            break;
        }
        if (got < asked) {      /* end of file, or an error */
            if (ferror(f))
                rc = image_fail(err, errlen, ANPR_ERR_IO, "cannot read %s: %s",
                                name, strerror(errno));
            break;
        }
    }
    if (!from_stdin)
        fclose(f);
    else
        clearerr(f);
    if (rc != ANPR_OK) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = n;
    return ANPR_OK;
}
