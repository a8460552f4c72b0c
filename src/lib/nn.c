/*
 * nn.c: loads nn weight files (docs/nnfile.md) and runs the networks.
 *
 * A weight file comes from outside, so the loader trusts nothing in it:
 * every count is checked against the bytes that remain before anything is
 * allocated for it, every parameter against a range, every weight tensor
 * against the shape its parameters and its input's channel count imply,
 * and the whole graph is planned once at its own input shape so that a
 * file describing absurd tensors is refused at load time.
 *
 * A run first plans: it works out every tensor's shape for the input at
 * hand and gives each layer's output a buffer "slot", handing a slot back
 * as soon as the last layer reading it has run, so that a deep network
 * needs only a few live tensors. The plan depends on shapes alone, so a
 * second run at the same size picks the same slots, finds them big enough
 * and allocates nothing.
 */
#include "nn.h"
#include "nn_ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OP_CONV = 1, OP_MAXPOOL, OP_AVGPOOL, OP_UPSAMPLE, OP_CONCAT, OP_ADD, OP_ACT };

static const char *const op_names[] = {
    "?", "conv2d", "maxpool", "avgpool", "upsample", "concat", "add", "act"
};

/* Limits far beyond any real network that keep all arithmetic in range. */
#define MAX_CHANNELS 65536
#define MAX_DIM 65536       /* height or width of any tensor */
#define MAX_WINDOW 255      /* kernel size, stride or padding */
#define MAX_FACTOR 64       /* upsampling factor */
#define MAX_K (1 << 24)     /* weights per convolution output */
#define MAX_PLANE INT32_MAX /* pixels of one channel */

typedef struct layer {
    int op, n_in, *in;      /* in: layer numbers, 0 being the graph input */
    int c;                  /* output channels, known at load time */
    int act, factor;
    nn_window win;          /* pooling window (the conv keeps its own) */
    nn_conv conv;
    int last_use;           /* last layer reading this output, else itself */
    int into;               /* the concat this output is made in place in, or 0 */
    int placed;             /* a concat whose inputs are made in place in it */
    /*
     * A conv with a second input adds it before its activation, act (see
     * split_concat_convs()); raw holds the file's weights and bias of a
     * conv that may become one, until loading ends.
     */
    float *raw;
} layer;

struct nn_net {
    int kind, in_c, in_h, in_w;
    char *meta;             /* the meta text with '=' and '\n' made NULs */
    int n_meta;
    const char **kv;        /* key, value, key, value... into meta */
    int n;                  /* layers[1..n]; layers[0] stands for the input */
    layer *layers;
};

typedef struct shape {
    int c, h, w;
} shape;

struct nn_work {
    size_t max_bytes;
    uint64_t allocs;
    int cap;                /* entries in each array below */
    shape *shape;           /* per layer */
    int *slot;              /* per layer: the slot holding its output */
    uint64_t *off;          /* per layer: where in the slot, in floats */
    uint64_t *need;         /* per slot: floats this plan needs */
    uint64_t *have;         /* per slot: floats allocated */
    float **buf;            /* per slot */
    unsigned char *busy;    /* per slot, while planning */
    uint64_t scratch_need, scratch_have;
    float *scratch;
    nn_tensor out;
    const nn_net *ran;      /* the network the shapes above are of */
    double *profile;        /* see nn_work_profile() */
};

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

uint32_t nn_crc32(const void *data, size_t len)
{
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    const uint8_t *p = data;
    uint32_t crc = 0xFFFFFFFFu;
    while (len--)
        crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

/* ---- Loading ----------------------------------------------------------- */

/* The unread part of the file; every read checks it first. */
typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

/* Reads a u32, or gives 0 and -1 at the end of the file. */
static int get_u32(reader *r, uint32_t *v)
{
    *v = 0;
    if (r->left < 4)
        return -1;
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
         (uint32_t)r->p[3] << 24;
    r->p += 4;
    r->left -= 4;
    return 0;
}

static int get_i32(reader *r, int32_t *v)
{
    uint32_t u;
    int rc = get_u32(r, &u);
    memcpy(v, &u, sizeof u);
    return rc;
}

/* Splits "k=v\n" lines in place. Returns 0, or -1 for a malformed line. */
static int parse_meta(nn_net *net, size_t len)
{
    int lines = 0;
    for (size_t i = 0; i < len; i++) {
        if (net->meta[i] == '\0')
            return -1;
        if (net->meta[i] == '\n' || i + 1 == len)
            lines++;
    }
    net->kv = malloc(sizeof(char *) * 2 * (size_t)(lines ? lines : 1));
    if (!net->kv)
        return -1;
    char *p = net->meta, *end = net->meta + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p)), *eq;
        if (!nl)
            nl = end;
        *nl = '\0';
        if (!(eq = strchr(p, '=')) || eq == p)
            return -1;
        *eq = '\0';
        net->kv[2 * net->n_meta] = p;
        net->kv[2 * net->n_meta + 1] = eq + 1;
        net->n_meta++;
        p = nl + 1;
    }
    return 0;
}

static int in_range(int32_t v, int lo, int hi)
{
    return v >= lo && v <= hi;
}

/*
 * Reads one weight tensor, which must have exactly the dims given, into a
 * new float array. Returns NULL with err set otherwise.
 */
static float *read_tensor(reader *r, int ndim, const int *dims, int li,
                          const char *what, char *err, size_t errlen)
{
    uint32_t nd, d;
    if (get_u32(r, &nd))
        goto truncated;
    if (nd != (uint32_t)ndim) {
        fail(err, errlen, "layer %d: %s has %u dimensions, expected %d", li,
             what, nd, ndim);
        return NULL;
    }
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (get_u32(r, &d))
            goto truncated;
        if (d != (uint32_t)dims[i]) {
            fail(err, errlen, "layer %d: %s dimension %d is %u, expected %d",
                 li, what, i, d, dims[i]);
            return NULL;
        }
        count *= d;     /* dims are at most 2^16, 2^16, 255, 255 */
    }
    if (count > r->left / 4)
        goto truncated;
    float *v = malloc(sizeof(float) * (size_t)count);
    if (!v) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    for (uint64_t i = 0; i < count; i++) {
        uint32_t u;
        get_u32(r, &u);
        memcpy(&v[i], &u, sizeof u);
    }
    return v;
truncated:
    fail(err, errlen, "truncated in layer %d's %s", li, what);
    return NULL;
}

/* Checks a window's parameters; max pooling pads at most half a window. */
static int check_window(const int32_t *p, int pad, int half_pad)
{
    for (int i = 0; i < 4; i++)
        if (!in_range(p[i], 1, MAX_WINDOW))
            return -1;
    if (!pad)
        return 0;
    if (!in_range(p[4], 0, MAX_WINDOW) || !in_range(p[5], 0, MAX_WINDOW))
        return -1;
    return half_pad && (p[4] > p[0] / 2 || p[5] > p[1] / 2) ? -1 : 0;
}

/* Parameters and inputs each op takes: n_in of -2 means two or more. */
static const struct { int n_in, n_params, n_weights; } op_form[] = {
    {0, 0, 0}, {1, 9, 2}, {1, 6, 0}, {1, 4, 0}, {1, 1, 0}, {-2, 0, 0},
    {2, 1, 0}, {1, 1, 0},
};

/*
 * Whether conv L has the shape split_concat_convs() rewrites: a 1x1
 * ungrouped convolution of a two-input concatenation whose first input is
 * an upsampling.
 */
static int splittable(const nn_net *net, const layer *L)
{
    const nn_window *p = &L->conv.win;
    if (L->op != OP_CONV || L->conv.groups != 1 || p->kh != 1 || p->kw != 1 || p->sh != 1 ||
        p->sw != 1 || p->ph || p->pw || L->in[0] == 0)
        return 0;
    const layer *C = &net->layers[L->in[0]];
    return C->op == OP_CONCAT && C->n_in == 2 && C->in[0] > 0 &&
           net->layers[C->in[0]].op == OP_UPSAMPLE;
}

/* Reads layer li's record into net->layers[li]. Returns 0 or -1 with err. */
static int read_layer(nn_net *net, reader *r, int li, char *err, size_t errlen)
{
    layer *L = &net->layers[li];
    uint32_t op, n_in, n_params, n_weights;
    int32_t p[9];

    L->last_use = li;
    if (get_u32(r, &op) || get_u32(r, &n_in))
        goto truncated;
    if (op < OP_CONV || op > OP_ACT) {
        fail(err, errlen, "layer %d: unknown op %u", li, op);
        return -1;
    }
    L->op = (int)op;
    const char *name = op_names[op];
    int want = op_form[op].n_in;
    if (want > 0 ? n_in != (uint32_t)want : n_in < 2) {
        fail(err, errlen, "layer %d (%s): %u inputs", li, name, n_in);
        return -1;
    }
    if (n_in > r->left / 4)
        goto truncated;
    L->n_in = (int)n_in;
    if (!(L->in = malloc(sizeof(int) * n_in))) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    int64_t channels = 0;
    for (uint32_t i = 0; i < n_in; i++) {
        int32_t x;
        get_i32(r, &x);
        if (x < 0 || x >= li) {
            fail(err, errlen, "layer %d (%s): input %d is not an earlier layer",
                 li, name, x);
            return -1;
        }
        L->in[i] = x;
        net->layers[x].last_use = li;
        channels += net->layers[x].c;
    }
    int in_c = net->layers[L->in[0]].c;

    if (get_u32(r, &n_params))
        goto truncated;
    if (n_params != (uint32_t)op_form[op].n_params) {
        fail(err, errlen, "layer %d (%s): %u parameters, expected %d", li, name,
             n_params, op_form[op].n_params);
        return -1;
    }
    for (uint32_t i = 0; i < n_params; i++)
        if (get_i32(r, &p[i]))
            goto truncated;

    int bad = 0;
    L->c = in_c;
    switch (op) {
    case OP_CONV:
        bad = !in_range(p[0], 1, MAX_CHANNELS) || check_window(p + 1, 1, 0) ||
              !in_range(p[7], 1, MAX_CHANNELS) || !in_range(p[8], 0, 2) ||
              in_c % p[7] || p[0] % p[7] ||
              (int64_t)(in_c / p[7]) * p[1] * p[2] > MAX_K;
        L->c = p[0];
        break;
    case OP_MAXPOOL:
        bad = check_window(p, 1, 1);
        L->win = (nn_window){p[0], p[1], p[2], p[3], p[4], p[5]};
        break;
    case OP_AVGPOOL:
        bad = check_window(p, 0, 0);
        L->win = (nn_window){p[0], p[1], p[2], p[3], 0, 0};
        break;
    case OP_UPSAMPLE:
        bad = !in_range(p[0], 1, MAX_FACTOR);
        L->factor = p[0];
        break;
    case OP_CONCAT:
        bad = channels > MAX_CHANNELS;
        L->c = (int)channels;
        break;
    case OP_ADD:
        bad = net->layers[L->in[1]].c != in_c;
        /* fall through */
    case OP_ACT:
        bad = bad || !in_range(p[0], 0, 2);
        L->act = p[0];
        break;
    }
    if (bad) {
        fail(err, errlen, "layer %d (%s): bad parameters for %d input channels",
             li, name, in_c);
        return -1;
    }

    if (get_u32(r, &n_weights))
        goto truncated;
    if (n_weights != (uint32_t)op_form[op].n_weights) {
        fail(err, errlen, "layer %d (%s): %u weight tensors, expected %d", li,
             name, n_weights, op_form[op].n_weights);
        return -1;
    }
    if (op != OP_CONV)
        return 0;

    nn_conv *cv = &L->conv;
    *cv = (nn_conv){.in_c = in_c, .out_c = p[0], .groups = p[7], .act = p[8],
                    .win = {p[1], p[2], p[3], p[4], p[5], p[6]}};
    int wdims[4] = {p[0], in_c / p[7], p[1], p[2]};
    float *w = read_tensor(r, 4, wdims, li, "weight", err, errlen);
    float *b = w ? read_tensor(r, 1, wdims, li, "bias", err, errlen) : NULL;
    int rc = b ? nn_conv_prepare(cv, w, b) : -1;
    if (rc == 0 && splittable(net, L)) {
        size_t n = (size_t)p[0] * (size_t)in_c;
        if ((L->raw = malloc(sizeof(float) * (n + (size_t)p[0])))) {
            memcpy(L->raw, w, sizeof(float) * n);
            memcpy(L->raw + n, b, sizeof(float) * (size_t)p[0]);
        } else {
            rc = -1;
        }
    }
    if (b && rc)
        fail(err, errlen, "out of memory");
    free(w);
    free(b);
    return rc;
truncated:
    fail(err, errlen, "truncated in layer %d", li);
    return -1;
}

static int plan(const nn_net *net, nn_work *w, int64_t h, int64_t wd,
                char *err, size_t errlen);

/* How many inputs of the layers name layer x. */
static int readers(const nn_net *net, int x)
{
    int n = 0;
    for (int i = 1; i <= net->n; i++)
        for (int a = 0; a < net->layers[i].n_in; a++)
            n += net->layers[i].in[a] == x;
    return n;
}

/*
 * A 1x1 convolution V of concat(upsample(X), S) is V's weights for X's
 * channels run on X before the upsampling, plus V's other weights run on
 * S: upsampling copies pixels and a 1x1 convolution mixes each pixel's
 * channels alone, so the two commute, and the concatenation's channels
 * add up. The detector's top-down path so does each of its three
 * upsamplings at a quarter of the pixels: 62.0 -> 49.6 M multiply-adds at
 * 512x288, and nothing wide is upsampled or concatenated. Where the
 * upsampling and the concatenation have no other reader, their layers are
 * reused: the upsampling becomes the convolution of X (no bias, no
 * activation), the concatenation the upsampling of its result, and V a
 * convolution of S that adds it before V's activation. Returns 0, or -1
 * when out of memory.
 */
static int split_concat_convs(nn_net *net)
{
    for (int v = 1; v <= net->n; v++) {
        layer *V = &net->layers[v];
        if (!V->raw)
            continue;
        int c = V->in[0], u = net->layers[c].in[0], s = net->layers[c].in[1];
        layer *C = &net->layers[c], *U = &net->layers[u];
        /* The weights are out_c rows of cx channels of X, then ns of S. */
        size_t out_c = (size_t)V->conv.out_c, cx = (size_t)net->layers[U->in[0]].c;
        size_t ns = (size_t)V->conv.in_c - cx;
        if (readers(net, u) == 1 && readers(net, c) == 1) {
            float *lo = malloc(sizeof(float) * out_c * (cx + 1));
            float *hi = malloc(sizeof(float) * out_c * ns);
            int *in = realloc(V->in, sizeof(int) * 2), act = V->conv.act, rc = -1;
            if (in)
                V->in = in;
            if (lo && hi && in) {
                for (size_t o = 0; o < out_c; o++) {
                    memcpy(lo + o * cx, V->raw + o * (cx + ns), sizeof(float) * cx);
                    memcpy(hi + o * ns, V->raw + o * (cx + ns) + cx, sizeof(float) * ns);
                }
                memset(lo + out_c * cx, 0, sizeof(float) * out_c);
                nn_conv one = {.out_c = (int)out_c, .groups = 1, .act = NN_ACT_NONE,
                               .win = {1, 1, 1, 1, 0, 0}};
                nn_conv_release(&V->conv);
                V->conv = one;
                V->conv.in_c = (int)ns;
                U->conv = one;
                U->conv.in_c = (int)cx;
                rc = nn_conv_prepare(&V->conv, hi, V->raw + out_c * (cx + ns)) ||
                     nn_conv_prepare(&U->conv, lo, lo + out_c * cx) ? -1 : 0;
            }
            free(lo);
            free(hi);
            if (rc)
                return -1;
            *C = (layer){.op = OP_UPSAMPLE, .n_in = 1, .in = C->in, .c = (int)out_c,
                         .factor = U->factor, .last_use = v};
            C->in[0] = u;
            U->op = OP_CONV;
            U->c = (int)out_c;
            V->act = act;
            V->n_in = 2;
            V->in[0] = s;
            V->in[1] = c;
            if (s > 0 && net->layers[s].last_use < v)
                net->layers[s].last_use = v;
        }
        free(V->raw);
        V->raw = NULL;
    }
    return 0;
}

/*
 * A concatenation's inputs are made in place in its output, where they
 * will lie end to end, so that it copies nothing: the detector's four
 * concatenations copied 4.4 MB of floats a 512x288 frame. That holds
 * where each input is a layer (not the graph input, nor a concatenation)
 * listed once and in no other concatenation so made, and read by nothing
 * after the concatenation's last reader, since they share its buffer from
 * the first one's making until then.
 */
static void place_concats(nn_net *net)
{
    for (int i = 1; i <= net->n; i++) {
        layer *C = &net->layers[i];
        int ok = C->op == OP_CONCAT;
        for (int a = 0; a < C->n_in && ok; a++) {
            const layer *J = &net->layers[C->in[a]];
            ok = C->in[a] > 0 && !J->into && J->op != OP_CONCAT && J->last_use <= C->last_use;
            for (int b = 0; b < a && ok; b++)
                ok = C->in[b] != C->in[a];
        }
        if (!ok)
            continue;
        C->placed = 1;
        for (int a = 0; a < C->n_in; a++)
            net->layers[C->in[a]].into = i;
    }
}

nn_net *nn_load(const void *data, size_t len, char *err, size_t errlen)
{
    static const uint8_t magic[8] = "ANPRNNW";
    reader r = {data, len};
    uint32_t version, kind, dims[3], meta_len, n_layers, crc;
    nn_net *net = NULL;

    fail(err, errlen, "no error");
    if (!data || len < 12) {
        fail(err, errlen, "weight file truncated (%zu bytes)", len);
        return NULL;
    }
    if (memcmp(data, magic, 8)) {
        fail(err, errlen, "not an nn weight file (bad magic)");
        return NULL;
    }
    r.p += 8;
    r.left -= 8;
    get_u32(&r, &version);
    if (version != 1) {
        fail(err, errlen, "weight file version %u, this reader knows 1", version);
        return NULL;
    }
    if (len < 40) {
        fail(err, errlen, "weight file truncated (%zu bytes)", len);
        return NULL;
    }
    const uint8_t *tail = (const uint8_t *)data + len - 4;
    crc = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 |
          (uint32_t)tail[3] << 24;
    if (crc != nn_crc32(data, len - 4)) {
        fail(err, errlen, "weight file CRC mismatch: corrupt or truncated");
        return NULL;
    }
    r.left -= 4;    /* the CRC, now checked */

    get_u32(&r, &kind);
    for (int i = 0; i < 3; i++)
        get_u32(&r, &dims[i]);
    get_u32(&r, &meta_len);
    if (kind != NN_KIND_RECOGNISER && kind != NN_KIND_DETECTOR && kind != NN_KIND_REFINER) {
        fail(err, errlen, "unknown network kind %u", kind);
        return NULL;
    }
    if (dims[0] < 1 || dims[0] > MAX_CHANNELS || dims[1] < 1 ||
        dims[1] > MAX_DIM || dims[2] < 1 || dims[2] > MAX_DIM) {
        fail(err, errlen, "bad input shape %ux%ux%u", dims[0], dims[1], dims[2]);
        return NULL;
    }
    if (meta_len > r.left) {
        fail(err, errlen, "truncated in the meta text");
        return NULL;
    }
    if (!(net = calloc(1, sizeof *net)) || !(net->meta = malloc(meta_len + 1u)))
        goto nomem;
    net->kind = (int)kind;
    net->in_c = (int)dims[0];
    net->in_h = (int)dims[1];
    net->in_w = (int)dims[2];
    memcpy(net->meta, r.p, meta_len);
    net->meta[meta_len] = '\0';
    r.p += meta_len;
    r.left -= meta_len;
    if (parse_meta(net, meta_len)) {
        fail(err, errlen, "bad meta text: not key=value lines");
        goto bad;
    }

    /* A layer record takes at least 16 bytes. */
    if (get_u32(&r, &n_layers) || n_layers < 1 || n_layers > r.left / 16) {
        fail(err, errlen, "bad layer count %u for a file of %zu bytes",
             n_layers, len);
        goto bad;
    }
    if (!(net->layers = calloc((size_t)n_layers + 1, sizeof(layer))))
        goto nomem;
    net->layers[0].c = net->in_c;
    for (uint32_t i = 1; i <= n_layers; i++) {
        net->n = (int)i;
        if (read_layer(net, &r, (int)i, err, errlen))
            goto bad;
    }
    if (r.left) {
        fail(err, errlen, "%zu stray bytes after the last layer", r.left);
        goto bad;
    }
    if (split_concat_convs(net))
        goto nomem;
    place_concats(net);

    nn_work *w = nn_work_new();
    if (!w)
        goto nomem;
    int rc = plan(net, w, net->in_h, net->in_w, err, errlen);
    nn_work_free(w);
    if (rc)
        goto bad;
    return net;
nomem:
    fail(err, errlen, "out of memory");
bad:
    nn_free(net);
    return NULL;
}

void nn_free(nn_net *net)
{
    if (!net)
        return;
    for (int i = 1; net->layers && i <= net->n; i++) {
        free(net->layers[i].in);
        free(net->layers[i].raw);
        nn_conv_release(&net->layers[i].conv);
    }
    free(net->layers);
    free(net->kv);
    free(net->meta);
    free(net);
}

void nn_set_int8(nn_net *net, int on)
{
    for (int i = 1; net && i <= net->n; i++)
        net->layers[i].conv.use_int8 = on;
}

int nn_kind(const nn_net *net)
{
    return net->kind;
}

void nn_input_shape(const nn_net *net, int *c, int *h, int *w)
{
    *c = net->in_c;
    *h = net->in_h;
    *w = net->in_w;
}

const char *nn_meta(const nn_net *net, const char *key)
{
    for (int i = 0; i < net->n_meta; i++)
        if (!strcmp(net->kv[2 * i], key))
            return net->kv[2 * i + 1];
    return NULL;
}

/* ---- Planning ---------------------------------------------------------- */

nn_work *nn_work_new(void)
{
    nn_work *w = calloc(1, sizeof *w);
    if (w)
        w->max_bytes = NN_MAX_BYTES_DEFAULT;
    return w;
}

void nn_work_free(nn_work *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->cap; i++)
        free(w->buf[i]);
    free(w->shape);
    free(w->slot);
    free(w->off);
    free(w->need);
    free(w->have);
    free(w->buf);
    free(w->busy);
    free(w->scratch);
    free(w);
}

void nn_work_set_max_bytes(nn_work *w, size_t max_bytes)
{
    w->max_bytes = max_bytes;
}

uint64_t nn_work_allocs(const nn_work *w)
{
    return w->allocs;
}

size_t nn_work_bytes(const nn_work *w)
{
    uint64_t n = w->scratch_have;
    for (int i = 0; i < w->cap; i++)
        n += w->have[i];
    return (size_t)n * sizeof(float);
}

/* Makes room for n entries per array, keeping the buffers already held. */
static int work_reserve(nn_work *w, int n)
{
    if (n <= w->cap)
        return 0;
#define GROW(field)                                                        \
    do {                                                                   \
        void *p = realloc(w->field, sizeof *w->field * (size_t)n);         \
        if (!p)                                                            \
            return -1;                                                     \
        w->field = p;                                                      \
        memset(w->field + w->cap, 0, sizeof *w->field * (size_t)(n - w->cap)); \
        w->allocs++;                                                       \
    } while (0)
    GROW(shape);
    GROW(slot);
    GROW(off);
    GROW(need);
    GROW(have);
    GROW(buf);
    GROW(busy);
#undef GROW
    w->cap = n;
    return 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Shape of layer li's output from its inputs' shapes, or -1 with err. */
static int layer_shape(const nn_net *net, const shape *s, int li, shape *out,
                       char *err, size_t errlen)
{
    const layer *L = &net->layers[li];
    const shape *x = &s[L->in[0]];
    const nn_window *win = L->op == OP_CONV ? &L->conv.win : &L->win;
    int64_t h = x->h, w = x->w;

    switch (L->op) {
    case OP_CONV:
    case OP_MAXPOOL:
    case OP_AVGPOOL:
        h = nn_window_out(h, win->kh, win->sh, win->ph);
        w = nn_window_out(w, win->kw, win->sw, win->pw);
        if (h < 1 || w < 1) {
            fail(err, errlen, "layer %d (%s): its %dx%d input is too small",
                 li, op_names[L->op], x->h, x->w);
            return -1;
        }
        break;
    case OP_UPSAMPLE:
        h *= L->factor;
        w *= L->factor;
        if (h > MAX_DIM || w > MAX_DIM || h * w > MAX_PLANE) {
            fail(err, errlen, "layer %d (upsample): a %lldx%lld output is too "
                 "large", li, (long long)h, (long long)w);
            return -1;
        }
        break;
    }
    /* A concatenation's, a sum's and a conv's second input (see
     * split_concat_convs()) have the output's pixels. */
    for (int i = 1; i < L->n_in; i++) {
        const shape *y = &s[L->in[i]];
        if (y->h != h || y->w != w) {
            fail(err, errlen, "layer %d (%s): inputs of %lldx%lld and %dx%d pixels", li,
                 op_names[L->op], (long long)h, (long long)w, y->h, y->w);
            return -1;
        }
    }
    *out = (shape){L->c, (int)h, (int)w};
    return 0;
}

/*
 * Plans a run on an h x wd input: every layer's shape, which slot holds
 * its output, and how many floats each slot and the scratch need. Only the
 * bookkeeping arrays are allocated here, never the buffers.
 */
static int plan(const nn_net *net, nn_work *w, int64_t h, int64_t wd,
                char *err, size_t errlen)
{
    if (work_reserve(w, net->n + 1)) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    int n_slots = 0;
    uint64_t bytes;
    w->shape[0] = (shape){net->in_c, (int)h, (int)wd};
    w->scratch_need = 0;
    /* Every shape first: a placed concatenation's buffer is taken when its
     * first input is made. */
    for (int i = 1; i <= net->n; i++) {
        const layer *L = &net->layers[i];
        if (layer_shape(net, w->shape, i, &w->shape[i], err, errlen))
            return -1;
        if (L->op == OP_CONV) {
            const shape *x = &w->shape[L->in[0]];
            uint64_t k = nn_conv_scratch(&L->conv, x->h, x->w);
            w->scratch_need = k > w->scratch_need ? k : w->scratch_need;
        }
        w->slot[i] = -1;
    }
    for (int i = 1; i <= net->n; i++) {
        const layer *L = &net->layers[i];
        int t = L->into ? L->into : i;   /* the layer whose buffer i writes */
        w->off[i] = 0;
        for (int a = 0; L->into && net->layers[t].in[a] != i; a++) {
            const shape *y = &w->shape[net->layers[t].in[a]];
            w->off[i] += (uint64_t)y->c * (uint64_t)y->h * (uint64_t)y->w;
        }
        if (w->slot[t] < 0) {
            const shape *s = &w->shape[t];
            uint64_t size = (uint64_t)s->c * (uint64_t)s->h * (uint64_t)s->w;
            /* Best fit among free slots, else grow the biggest free one. */
            int fit = -1, grow = -1;
            for (int k = 0; k < n_slots; k++) {
                if (w->busy[k])
                    continue;
                if (w->need[k] >= size) {
                    if (fit < 0 || w->need[k] < w->need[fit])
                        fit = k;
                } else if (grow < 0 || w->need[k] > w->need[grow]) {
                    grow = k;
                }
            }
            int k = fit >= 0 ? fit : grow >= 0 ? grow : n_slots;
            if (k == n_slots) {
                w->need[n_slots++] = 0;
            }
            if (w->need[k] < size)
                w->need[k] = size;
            w->busy[k] = 1;
            w->slot[t] = k;
        }
        int k = w->slot[i] = w->slot[t];

        /* A placed input's buffer is its concatenation's, freed with it. */
        for (int j = 0; j < L->n_in; j++)
            if (L->in[j] > 0 && net->layers[L->in[j]].last_use == i && !net->layers[L->in[j]].into)
                w->busy[w->slot[L->in[j]]] = 0;
        if (L->last_use == i && i < net->n && !L->into)
            w->busy[k] = 0;
    }
    for (int k = n_slots; k < w->cap; k++)
        w->need[k] = 0;
    bytes = w->scratch_need;
    for (int k = 0; k < n_slots; k++) {
        w->busy[k] = 0;
        bytes = add_sat(bytes, w->need[k]);
    }
    bytes = bytes > UINT64_MAX / 4 ? UINT64_MAX : bytes * 4;
    if (bytes > w->max_bytes) {
        fail(err, errlen, "a %lldx%lld input needs %llu MiB of activations, "
             "over the limit of %zu MiB", (long long)h, (long long)wd,
             (unsigned long long)(bytes >> 20), w->max_bytes >> 20);
        return -1;
    }
    return 0;
}

/* ---- Running ----------------------------------------------------------- */

/* Grows any buffer the plan needs bigger; contents need not survive. */
static int ensure(float **buf, uint64_t *have, uint64_t need, uint64_t *allocs)
{
    if (need <= *have)
        return 0;
    free(*buf);
    *have = 0;
    if (!(*buf = nn_alloc_aligned((size_t)need * sizeof(float))))
        return -1;
    *have = need;
    ++*allocs;
    return 0;
}

/* Layer li's output in w. */
static float *output(const nn_work *w, int li)
{
    return w->buf[w->slot[li]] + w->off[li];
}

static void run_layer(const nn_net *net, nn_work *w, const float *input, int li)
{
    const layer *L = &net->layers[li];
    const shape *s = &w->shape[li], *x = &w->shape[L->in[0]];
    const float *src[2] = {NULL, NULL};
    for (int i = 0; i < 2 && i < L->n_in; i++)
        src[i] = L->in[i] ? output(w, L->in[i]) : input;
    float *out = output(w, li);
    size_t n = (size_t)s->c * s->h * s->w;

    switch (L->op) {
    case OP_CONV:
        nn_conv_run(&L->conv, src[0], x->h, x->w, out, s->h, s->w, w->scratch);
        if (L->n_in == 2)
            nn_add(out, src[1], n, L->act, out);
        break;
    case OP_MAXPOOL:
        nn_maxpool(src[0], x->c, x->h, x->w, &L->win, out, s->h, s->w);
        break;
    case OP_AVGPOOL:
        nn_avgpool(src[0], x->c, x->h, x->w, &L->win, out, s->h, s->w);
        break;
    case OP_UPSAMPLE:
        nn_upsample(src[0], x->c, x->h, x->w, L->factor, out);
        break;
    case OP_CONCAT:
        /* Channels-first tensors of one size concatenate end to end;
         * placed ones lie so already. */
        for (int i = 0; i < L->n_in && !L->placed; i++) {
            int j = L->in[i];
            const float *p = j ? output(w, j) : input;
            size_t m = (size_t)w->shape[j].c * s->h * s->w;
            memcpy(out, p, sizeof(float) * m);
            out += m;
        }
        break;
    case OP_ADD:
        nn_add(src[0], src[1], n, L->act, out);
        break;
    case OP_ACT:
        nn_act(src[0], n, L->act, out);
        break;
    }
}

double nn_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int nn_run(const nn_net *net, nn_work *w, const nn_tensor *in,
           const nn_tensor **out, char *err, size_t errlen)
{
    if (!net || !w || !in || !in->data || !out) {
        fail(err, errlen, "nn_run: missing argument");
        return -1;
    }
    if (in->c != net->in_c || in->h < 1 || in->w < 1 || in->h > MAX_DIM ||
        in->w > MAX_DIM || (int64_t)in->h * in->w > MAX_PLANE) {
        fail(err, errlen, "input of %dx%dx%d where the network takes %d "
             "channels", in->c, in->h, in->w, net->in_c);
        return -1;
    }
    w->ran = NULL;
    if (plan(net, w, in->h, in->w, err, errlen))
        return -1;
    for (int k = 0; k < w->cap; k++)
        if (ensure(&w->buf[k], &w->have[k], w->need[k], &w->allocs))
            goto nomem;
    if (ensure(&w->scratch, &w->scratch_have, w->scratch_need, &w->allocs))
        goto nomem;
    w->ran = net;
    for (int i = 1; i <= net->n; i++) {
        double t0 = w->profile ? nn_now_ms() : 0;
        run_layer(net, w, in->data, i);
        if (w->profile)
            w->profile[i - 1] += nn_now_ms() - t0;
    }
    const shape *s = &w->shape[net->n];
    w->out = (nn_tensor){s->c, s->h, s->w, output(w, net->n)};
    *out = &w->out;
    return 0;
nomem:
    fail(err, errlen, "out of memory for activations");
    return -1;
}

void nn_work_profile(nn_work *w, double *ms)
{
    w->profile = ms;
}

int nn_layers(const nn_net *net)
{
    return net->n;
}

double nn_layer_describe(const nn_net *net, const nn_work *w, int i, char *buf, size_t len)
{
    if (w->ran != net || i < 1 || i > net->n || !len)
        return -1;
    const layer *L = &net->layers[i];
    const shape *x = &w->shape[L->in[0]], *s = &w->shape[i];
    char what[64] = "";
    double macs = 0;
    if (L->op == OP_CONV) {
        const nn_conv *cv = &L->conv;
        /* The path nn_conv_run() takes (int8 falls back to float on an
         * input it cannot scale). */
        const char *path = cv->direct ? "direct" : cv->use_int8 && cv->w8 ? "int8"
                         : cv->wino ? "winograd" : "gemm";
        char stride[24];
        snprintf(stride, sizeof stride, cv->win.sh == cv->win.sw ? "%d" : "%dx%d", cv->win.sh,
                 cv->win.sw);
        snprintf(what, sizeof what, " %dx%d/%s g%d %s", cv->win.kh, cv->win.kw, stride,
                 cv->groups, path);
        macs = (double)s->c * s->h * s->w * (cv->in_c / cv->groups) * cv->win.kh * cv->win.kw;
    }
    snprintf(buf, len, "%s%s %dx%dx%d -> %dx%dx%d", op_names[L->op], what, x->c, x->h, x->w,
             s->c, s->h, s->w);
    return macs;
}
