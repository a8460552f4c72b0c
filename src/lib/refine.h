/*
 * refine.h: placing a found plate's corners on its edges.
 *
 * The detector's quads are rough: upright where the plate is tilted, or
 * hugging its characters, or taking in a holder or a bumper recess. The
 * refiner network (train/ref_train.py) sees the window around such a quad,
 * the quad's own bilinear map extended expand_x times its width and
 * expand_y times its height about its centre (meta keys), warped to the
 * network's input size and normalised as the recogniser's input is, and
 * says where the plate's four corners lie in that window, as fractions of
 * its width and height (TL, TR, BR, BL, x then y). Those map back to image
 * pixels through the window's homography.
 *
 * The network is shared read-only; each thread needs its own refine_work,
 * so a warm refiner allocates nothing.
 */
#ifndef ANPR_REFINE_H
#define ANPR_REFINE_H

#include <stddef.h>
#include <stdint.h>

#include "nn.h"

typedef struct refine_work refine_work;

/* Checks that net is a refiner this code can drive (kind, meta, input
 * shape; the output's shape, which only a run shows, refine_quad checks).
 * Returns 0, or -1 with a reason in err. */
int refine_check(const nn_net *net, char *err, size_t errlen);

/* Scratch space for one thread; NULL when out of memory. */
refine_work *refine_work_new(void);
void refine_work_free(refine_work *w);

/*
 * Moves the corners of quad q (TL, TR, BR, BL, image pixels) of a grey
 * image to where the refiner sees the plate's edges. Returns 0, or -1 with
 * a reason in err (out of memory); q is unchanged then, and also when the
 * network's answer is not eight numbers or not a sane quad (non-finite,
 * crossed, or a corner moved by more than the window's size).
 */
int refine_quad(const nn_net *net, refine_work *w, const uint8_t *gray, int width,
                int height, int stride, float q[4][2], char *err, size_t errlen);

#endif
