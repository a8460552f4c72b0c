/*
 * detect.h: finding plate quadrilaterals in a grey frame.
 *
 * The detector network (train/det_model.py) sees the frame area-resized to
 * fit DETECT_MAX_SIDE (meta key max_side) keeping its aspect, values in
 * [0,1], zero-padded right and bottom to a multiple of the meta key align.
 * Its one output tensor holds, at every cell of `stride` input pixels,
 * a plate-centre score (channel 0, after a sigmoid) and the four corners
 * TL, TR, BR, BL (channels 1..8, x then y) as offsets from the cell centre
 * divided by corner_scale input pixels. Decoding keeps the 3x3 local maxima
 * of the score above a threshold, turns the offsets around each into
 * corners in frame pixels (averaged over its neighbours, weighted by score),
 * and suppresses any quad whose bounding box overlaps a better one.
 *
 * Coordinates are continuous: pixel (x, y) covers [x, x+1) x [y, y+1).
 * A caller reads each plate by rectifying its quad with image_warp_quad()
 * (image.h) into the recogniser's input, as recog_read() does.
 *
 * The network is shared read-only; each thread needs its own detect_work,
 * which keeps every buffer, so a warm detector allocates nothing per frame.
 */
#ifndef ANPR_DETECT_H
#define ANPR_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include "nn.h"

/* Defaults for files whose meta does not say otherwise. */
#define DETECT_MAX_SIDE 512
#define DETECT_ALIGN 32
/*
 * A peak from DETECT_THRESHOLD up is a plate if the second look (see
 * detect_run) finds it again. One from DETECT_FAINT up to there is faint:
 * looked at again only when the caller asks (detect_faint()), and a plate
 * only if the second look scores it at least DETECT_SURE.
 * Peaks from 0.2 were once all looked at twice (a plain threshold of 0.3
 * had missed plates that 0.2 finds), but of those from 0.2 to 0.3 nine in
 * ten were not plates. With the faint look behind it, on photos-dev and
 * the GB and European scenes (647 photos, 2026-12-06), 0.3 found as many
 * plates, read one fewer exactly (recogniser in int8: 93.35% -> 93.20%;
 * in float: 92.43% -> 92.27%) and reported 203 other readings instead of
 * 301 (float: 217, 310); the first 30 1280x720 photos took 9% fewer
 * instructions. 0.35 lost two more plates in float, 0.4 and 0.5 more.
 */
#define DETECT_THRESHOLD 0.3f
/*
 * 0.3 until 2026-12-08, when photos-dev's CWM3083, a clear Texas plate 134
 * pixels wide on a chrome bumper, scored 0.27 at the first look and 0.29
 * at the third. At 0.25 the three photo sets of bench/read.sh read 94.28%
 * -> 94.44% exactly and find 99.07% -> 99.23% (that plate alone), with as
 * many other readings; the turned and slanted photos and the held-out
 * crops read as photos read the same (one more other reading there); of
 * 300 plate-free scenes one more has a reading (a ten-digit phone number
 * at 0.89). 0.2 read exactly as 0.25.
 */
#define DETECT_SURE 0.25f
/*
 * The best DETECT_FAINT_MAX faint peaks are kept aside for detect_faint().
 * A plate 70 pixels wide in a 1280-pixel frame spans 28 input pixels of
 * the first look, and some score 0.1 to 0.2 there that the second look is
 * sure of. Taking them all (a first-look threshold of 0.1) found 4 more
 * plates of 647 but cost 41% more instructions a photo and read 578 other
 * things, not 306. Eight: photos-dev's TZC207 (0.17) is the fourth of its
 * frame from 0.1 to 0.2 and falls behind its frame's peaks from 0.2 to 0.3,
 * so four or six lose it (test_engine's faint_plate() fails); twelve found
 * no plate more of those 647 then. A faint peak's rough quad is often
 * much larger than its plate, and the second look, whose window it sizes,
 * then sees the plate small and scores it low: one whose second look
 * finds a plate from DETECT_REFINE_THRESHOLD up to DETECT_SURE gets a third
 * look, sized to what the second found (detect_faint()). With that, twelve
 * find photos-dev's 0SG719, the twelfth faint peak of its frame, whose
 * second look found it at 0.22 in a window sized for a quad twice its
 * width (2026-12-07: photos-dev found 171 -> 172 of 173, the three photo
 * sets 99.07% -> 99.23%, exact as before in int8 and float, one more other
 * reading at 0.5 or more; the held-out crops read as photos 93.10% ->
 * 93.42% exact and 99.06% -> 99.37% found, from the third look alone,
 * which eight got too; the plate-free scenes read the same). The cost is
 * in frames with no sure plate, where every faint peak is looked at: the
 * first 300 plate-free scenes took 10.0-10.2 -> 10.8-11.0 ms a frame
 * (median, three alternating runs beside a training job); the 1280x720
 * photos showed no change in their median.
 */
#define DETECT_FAINT 0.1f
#define DETECT_FAINT_MAX 12
/* Two quads whose bounding boxes overlap more than this are one plate. */
#define DETECT_NMS_IOU 0.3f
/* Peaks considered per frame, best first, before suppression. */
#define DETECT_MAX_PEAKS 256
/*
 * The second look at each plate found (see detect_run): its window,
 * DETECT_REFINE_ZOOM times the plate's width (or twice its height if more),
 * is resized to this input, so a plate spans about a hundred input pixels
 * there. The best plate scoring at least DETECT_REFINE_THRESHOLD whose
 * centre lies within DETECT_REFINE_CENTRE window widths of the first
 * one's replaces its corners. Chosen on photos-dev with
 * train/det_eval.py --refine.
 */
#define DETECT_REFINE_W 160
#define DETECT_REFINE_H 96
#define DETECT_REFINE_ZOOM 1.5f
#define DETECT_REFINE_THRESHOLD 0.2f
#define DETECT_REFINE_CENTRE 0.25f
#define DETECT_REFINE_PEAKS 8

typedef struct detect_box {
    float q[4][2];   /* TL, TR, BR, BL in frame pixels */
    float score;     /* 0..1, the centre heatmap's peak */
} detect_box;

typedef struct detect_work detect_work;

/* The geometry of a detector's input and output, from its file's meta. */
typedef struct detect_head {
    int stride;           /* input pixels per output cell */
    float corner_scale;   /* input pixels per unit of corner offset */
    int align;            /* the input is padded to a multiple of this */
    int max_side;         /* the frame is resized to fit this square */
} detect_head;

/*
 * Checks that net is a detector this code can drive (kind, one input
 * channel, sane meta) and reads its head geometry into *head. Returns 0,
 * or -1 with a reason in err.
 */
int detect_head_read(const nn_net *net, detect_head *head, char *err, size_t errlen);

/* detect_head_read() for a caller that only wants the verdict. */
int detect_check(const nn_net *net, char *err, size_t errlen);

/* Scratch space for one thread; NULL when out of memory. */
detect_work *detect_work_new(void);
void detect_work_free(detect_work *w);

/*
 * Finds plates in a width x height grey plane whose rows are `stride`
 * bytes apart. Each plate found in the whole frame is then looked at again
 * in a window around it (DETECT_REFINE_*): at whole-frame scale a plate 100
 * pixels wide in a 1920-pixel frame spans 26 input pixels, and its corners
 * come out rough (boxes twice too wide, or around the text line only).
 * Writes up to max_boxes boxes, best score first, and returns
 * how many; returns -1 with a reason in err on bad arguments, a network
 * that does not fit detect_check(), or when out of memory.
 */
int detect_run(const nn_net *net, detect_work *w, const uint8_t *gray, int width,
               int height, int stride, detect_box *boxes, int max_boxes,
               char *err, size_t errlen);

/*
 * Looks again at the faint peaks (DETECT_FAINT_*) of the last detect_run()
 * on this work and frame: each that the second look (or a third, see
 * DETECT_FAINT_MAX) scores at least DETECT_SURE and that overlaps no box
 * detect_run() returned is written to boxes. Returns how many (0 after the
 * first call for a frame), or -1 with a reason in err. It is separate
 * because it costs a second look per peak and pays only where nothing
 * better was found: the caller decides.
 */
int detect_faint(const nn_net *net, detect_work *w, const uint8_t *gray, int width,
                 int height, int stride, detect_box *boxes, int max_boxes, char *err,
                 size_t errlen);

/* The bounding box x0, y0, x1, y1 of quad q (TL, TR, BR, BL). */
void detect_bounds(const float q[4][2], float b[4]);
/* The area two such bounding boxes share (0 when apart). */
float detect_overlap(const float a[4], const float b[4]);
/* Intersection over union of two such boxes (0 when either is empty). */
float detect_iou(const float a[4], const float b[4]);

/*
 * Looks for a plate that fills most of the frame: an image that is a plate
 * cut out with a little margin, or a close-up. Such a plate spans more of
 * the whole-frame input than any the network was taught on, and the first
 * look misses it or finds only its parts; here the whole frame is looked at
 * as the second look looks at one plate. Writes to *b the plate found near
 * the frame's centre at least DETECT_WHOLE_WIDTH of its width wide, scoring
 * at least DETECT_SURE, and returns 1; returns 0 when there is none, -1
 * with a reason in err. At that scale a building front or the back of a
 * car can pass for a plate: the caller reads what it gets before trusting
 * it.
 */
#define DETECT_WHOLE_WIDTH 0.4f
int detect_whole(const nn_net *net, detect_work *w, const uint8_t *gray, int width,
                 int height, int stride, detect_box *b, char *err, size_t errlen);

/*
 * Decodes a detector output tensor (9 channels). Cells whose top-left
 * corner lies at or beyond valid_w x valid_h input pixels are padding and
 * ignored; sx, sy scale input pixels to frame pixels. Writes up to
 * max_boxes boxes, best first, and returns how many (0 for a tensor of the
 * wrong shape). detect_run() uses it; it is separate so it can be tested.
 */
int detect_decode(detect_work *w, const nn_tensor *out, const detect_head *head,
                  int valid_w, int valid_h, float sx, float sy, float threshold,
                  float nms_iou, detect_box *boxes, int max_boxes);

#endif
