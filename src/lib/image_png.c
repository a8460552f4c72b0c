/*
 * image_png.c: PNG decoding through libpng.
 *
 * libpng's transforms bring every PNG kind (grey, palette, RGB, with or
 * without alpha, 1 to 16 bits, interlaced or not) to 8-bit grey or RGB;
 * conversion to luma is done here so it matches JPEG's, and an eXIf
 * chunk before the pixels is honoured as in JPEG. libpng errors
 * longjmp back with their message kept; its warnings are swallowed.
 */
#include "image_codec.h"

#include "anpr.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

typedef struct png_src {
    const uint8_t *data;
    size_t len, pos;
    int code;                    /* anpr_code to return */
    char msg[160];
} png_src;

static void on_error(png_structp png, png_const_charp text)
{
    png_src *s = png_get_error_ptr(png);
    if (!s->msg[0])
        snprintf(s->msg, sizeof s->msg, "corrupt PNG data: %s", text);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text)
{
    (void)png;
    (void)text;
}

/* Raises an error of our own; on_error keeps the message. */
static void fail_to(png_structp png, png_src *s, int code, const char *msg)
{
    s->code = code;
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_error(png, msg);
}

static void on_read(png_structp png, png_bytep to, size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos)
        fail_to(png, s, ANPR_ERR_IMAGE, "truncated PNG data");
    memcpy(to, s->data + s->pos, n);
    s->pos += n;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int image_png_decode(const uint8_t *data, size_t len, int channels,
                     uint64_t max_pixels, image *out, char *err, size_t errlen)
{
    /*
     * IHDR must be the first chunk (the standard says so), so its size can be
     * refused even when the rest of the file is missing or bogus.
     */
    if (len < 24 || memcmp(data + 12, "IHDR", 4) != 0)
        return image_fail(err, errlen, ANPR_ERR_IMAGE,
                          len < 24 ? "truncated PNG data" : "corrupt PNG data: no IHDR first");
    int rc = image_check_size(be32(data + 16), be32(data + 20), max_pixels,
                              err, errlen);
    if (rc != ANPR_OK)
        return rc;

    png_src src = {.data = data, .len = len, .code = ANPR_ERR_IMAGE};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src,
                                             on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return image_fail(err, errlen, ANPR_ERR_NOMEM, "out of memory");
    }
    /* Changed after setjmp and needed after longjmp, hence volatile. */
    uint8_t *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(px);
        free(rows);
        return image_fail(err, errlen, src.code, "%s", src.msg);
    }
    /* The pixel limit is ours to enforce, with our message. */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_set_read_fn(png, &src, on_read);
    png_read_info(png, info);

    /* The size was checked above: libpng read the same IHDR. */
    png_uint_32 w = png_get_image_width(png, info);
    png_uint_32 h = png_get_image_height(png, info);
    int orientation = 1;
    png_bytep exif;
    png_uint_32 exif_len;
    if (png_get_eXIf_1(png, info, &exif_len, &exif))
        orientation = image_exif_orientation(exif, exif_len);
    int type = png_get_color_type(png, info);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) {
        png_set_expand_gray_1_2_4_to_8(png);
        if (channels == 3)
            png_set_gray_to_rgb(png);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    /* Grey output from colour decodes RGB and folds it to luma in place. */
    int decoded = png_get_channels(png, info);
    if ((decoded != 1 && decoded != 3) || png_get_bit_depth(png, info) != 8)
        fail_to(png, &src, ANPR_ERR_UNSUPPORTED, "PNG pixel layout not supported");

    image im = {0};
    rc = image_alloc(&im, w, h, decoded, err, errlen);
    if (rc != ANPR_OK) {
        png_destroy_read_struct(&png, &info, NULL);
        return rc;
    }
    px = im.px;
    if (!(rows = malloc(sizeof *rows * h)))
        fail_to(png, &src, ANPR_ERR_NOMEM, "out of memory");
    size_t row_bytes = (size_t)w * (size_t)decoded;
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = im.px + y * row_bytes;
    png_read_image(png, rows);
    /* No png_read_end: the pixels are complete, and only ancillary
     * chunks and IEND can follow. */
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);

    if (decoded == 3 && channels == 1) {
        uint8_t *p = im.px;
        size_t n = (size_t)w * h;
        for (size_t i = 0; i < n; i++)
            p[i] = image_luma(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
        uint8_t *shrunk = realloc(p, n);
        if (shrunk)
            im.px = shrunk;
        im.channels = 1;
    }
    rc = image_orient(&im, orientation, err, errlen);
    if (rc != ANPR_OK) {
        image_free(&im);
        return rc;
    }
    *out = im;
    return ANPR_OK;
}
