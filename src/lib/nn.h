/*
 * nn.h: the tiny inference runtime that runs anpr's networks.
 *
 * A network is loaded once from a weight file (docs/nnfile.md) and is then
 * read-only, so threads may share it. Running it needs an nn_work, which
 * owns every buffer a forward pass touches; after the first run at a given
 * input size a run allocates nothing.
 */
#ifndef ANPR_NN_H
#define ANPR_NN_H

#include <stddef.h>
#include <stdint.h>

typedef struct nn_net nn_net;
typedef struct nn_work nn_work;

enum { NN_KIND_RECOGNISER = 1, NN_KIND_DETECTOR = 2, NN_KIND_REFINER = 3 };

/* A channels-first float tensor owned by an nn_work (or the caller). */
typedef struct nn_tensor {
    int c, h, w;
    float *data;
} nn_tensor;

/*
 * Parses a weight file image held in memory; the network keeps no pointer
 * into `data`. Returns NULL and writes a reason into err on any defect: bad
 * magic, version, CRC, op, parameters, shapes, a truncated file, or a graph
 * that at its own input shape would need over NN_MAX_BYTES_DEFAULT.
 */
nn_net *nn_load(const void *data, size_t len, char *err, size_t errlen);
void nn_free(nn_net *net);

int nn_kind(const nn_net *net);

/*
 * Runs the network's matrix-product convolutions in int8 (on) or float
 * (off, the default after nn_load()): weights quantised per output
 * channel when loaded, inputs per call. Worth it where nn_int8_fast()
 * (nn_ops.h) says so; accuracy is the caller's to measure. Not while the
 * network runs.
 */
void nn_set_int8(nn_net *net, int on);
/* Input shape the network was trained at (it accepts other H, W too). */
void nn_input_shape(const nn_net *net, int *c, int *h, int *w);
/* Value of a meta key ("alphabet", "stride", ...), or NULL. */
const char *nn_meta(const nn_net *net, const char *key);

/* A workspace; NULL when out of memory. Not to be shared between threads. */
nn_work *nn_work_new(void);
void nn_work_free(nn_work *w);

/*
 * Caps the bytes of activations and scratch a run may use (default
 * NN_MAX_BYTES_DEFAULT, also the cap nn_load() applies at the network's
 * own input shape), so an input of absurd size fails instead of exhausting
 * memory.
 */
#define NN_MAX_BYTES_DEFAULT ((size_t)512 << 20)
void nn_work_set_max_bytes(nn_work *w, size_t max_bytes);

/* How many allocations `w` has made so far; a warm run adds none. */
uint64_t nn_work_allocs(const nn_work *w);

/* Bytes of tensors and scratch `w` holds now. */
size_t nn_work_bytes(const nn_work *w);

/*
 * Runs the network on `in` (shape must have the network's channel count).
 * On success *out points at the output, owned by `w` and valid until the
 * next run with `w`. Returns 0, or -1 with a reason in err (out of memory,
 * input too small for the graph, or over the workspace's byte cap).
 */
int nn_run(const nn_net *net, nn_work *w, const nn_tensor *in,
           const nn_tensor **out, char *err, size_t errlen);

/* Milliseconds on the monotonic clock: what layers and reads are timed by. */
double nn_now_ms(void);

/*
 * Per-layer timing, for benchmarks: while ms is set, every nn_run() with w
 * adds the wall-clock milliseconds of layer i (1 to nn_layers()) to
 * ms[i - 1]; NULL stops it. The caller zeroes ms and divides by its runs.
 */
void nn_work_profile(nn_work *w, double *ms);

/* The number of layers of net. */
int nn_layers(const nn_net *net);

/*
 * Writes into buf one line on layer i (1 to nn_layers()) as w's last run
 * shaped it, such as "conv2d 3x3/2 g16 direct 16x144x256 -> 16x72x128",
 * and returns its multiply-adds (0 for a layer that is not a convolution);
 * -1 when w has not run net or i is out of range.
 */
double nn_layer_describe(const nn_net *net, const nn_work *w, int i, char *buf, size_t len);

/* CRC-32 with the zlib polynomial, as in the weight file's trailer. */
uint32_t nn_crc32(const void *data, size_t len);

#endif
