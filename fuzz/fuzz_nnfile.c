/*
 * fuzz_nnfile.c: libFuzzer target for the nn weight-file loader.
 *
 * The input's last four bytes are overwritten with the CRC of the rest
 * before it is loaded: otherwise nearly every mutation would stop at the
 * CRC check and the parser behind it would go unexplored. (The CRC check
 * itself is covered by tests/test_nn.c.) A file that loads is run once on
 * a small input, when its own input shape is small, so that the planner
 * and the operators see whatever graphs the parser lets through. Seeds:
 * fuzz/corpus/nnfile/.
 */
#include "nn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    char err[256];
    if (!p)
        return 0;
    memcpy(p, data, size);
    if (size >= 8) {
        uint32_t crc = nn_crc32(p, size - 4);
        for (int i = 0; i < 4; i++)
            p[size - 4 + i] = (uint8_t)(crc >> 8 * i);
    }
    nn_net *net = nn_load(p, size, err, sizeof err);
    free(p);
    if (!net)
        return 0;

    int c, h, w;
    nn_input_shape(net, &c, &h, &w);
    if ((int64_t)c * h * w <= 4096) {
        /* The input shape as the file says, then one pixel smaller, which
         * may well be refused: both paths must be clean. */
        float *x = calloc((size_t)c * h * w, sizeof(float));
        nn_work *work = nn_work_new();
        if (x && work) {
            for (int i = 0; i < c * h * w; i++)
                x[i] = (float)(i % 13) - 6;
            nn_work_set_max_bytes(work, (size_t)64 << 20);
            nn_tensor in = {c, h, w, x};
            const nn_tensor *out;
            nn_run(net, work, &in, &out, err, sizeof err);
            in.h = h > 1 ? h - 1 : h;
            nn_run(net, work, &in, &out, err, sizeof err);
        }
        nn_work_free(work);
        free(x);
    }
    nn_free(net);
    return 0;
}
