/*
 * fuzz_image.c: libFuzzer target for image decoding and resampling.
 *
 * Any bytes go to image_decode with a small pixel limit (so the fuzzer
 * spends its time in parsers, not in decoding huge pictures); what
 * decodes is then resized and warped, to run the hot-path samplers over
 * odd shapes. Channels and scale come from the input length, so one
 * corpus covers every path. Seeds: fuzz/corpus/image/.
 */
#include "image.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int channels = size & 1 ? 3 : 1;
    int scale_max = 1 << ((size >> 1) & 3);
    image im;
    char err[256];
    if (image_decode(data, size, channels, 1 << 20, scale_max, 8, 8, NULL, &im,
                     err, sizeof err) != 0)
        return 0;
    if (channels == 1) {
        static float out[24 * 17];
        const float quad[4][2] = {
            {-2.5f, 1.0f}, {(float)im.w * 0.9f, -3.0f},
            {(float)im.w + 4.0f, (float)im.h * 1.1f}, {0.5f, (float)im.h * 0.7f}};
        image_resize_gray(im.px, im.w, im.h, im.w, out, 24, 17);
        image_warp_quad(im.px, im.w, im.h, im.w, quad, out, 17, 24);
    }
    image_free(&im);
    return 0;
}
