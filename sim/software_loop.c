/* The compiled reference loop of sw/spec/compiled.py, in C: the integer spec streamed one
 * kline at a time, reading the same tables (sw.spec.compiled.Tables) and state
 * (sw.spec.compiled.State), line for line the same arithmetic. Built by
 * sim/software_bench.py with gcc -O3 -march=native into a shared library. */
#include <stdint.h>
#include <time.h>

enum { BODY, RANGE, UPPER_WICK, LOWER_WICK, RETURN, VOLUME };

typedef struct {
    int64_t volume_window, warmup, ring_mask, n_features, n_layers, width;
    const int64_t *features;  /* [n_features][3]: kind, shift, klines of history needed */
    const int64_t *layers;    /* [n_layers][4]: inputs, outputs, zero point, lowest code */
    const int64_t *weights;   /* [n_layers][width][width] */
    const int64_t *channels;  /* [n_layers][width][3]: bias, multiplier, shift */
    const int64_t *reciprocals;  /* [256]: sw.spec.features.RECIPROCALS */
} tables_t;

typedef struct { int64_t *counters, *closes, *volumes, *act; } state_t;

typedef struct { int64_t *signals; int8_t *raw; uint8_t *warms; } outputs_t;

static int64_t now_ns(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* sw.spec.features: MANTISSA_BITS - 1, WINDOW_SHIFT, WINDOW_LIMIT, PRODUCT_SHIFT */
enum { MANTISSA_SHIFT = 8, WINDOW_SHIFT = 5, WINDOW_LIMIT = 1 << 14, PRODUCT_SHIFT = 13 };

static int64_t code(const int64_t *reciprocals, int64_t num, int64_t den, int64_t shift) {
    int top = 63 - __builtin_clzll((uint64_t)den);
    int64_t r = reciprocals[((den << MANTISSA_SHIFT) >> top) - 256];
    int64_t size = num < 0 ? -num : num, up = shift + WINDOW_SHIFT - top;
    /* a left shift saturates u from |num| >= 2**14 on: clamped first, it cannot overflow */
    int64_t u = up >= 0 ? (size < WINDOW_LIMIT ? size : WINDOW_LIMIT) << up : size >> -up;
    int64_t quotient = u < WINDOW_LIMIT ? (u * r) >> PRODUCT_SHIFT : 255;
    int64_t magnitude = (quotient + 1) >> 1;
    if (magnitude > 127) magnitude = 127;
    return num < 0 ? -magnitude : magnitude;
}

/* Every kline through the spec; returns the loop's ns of `pass_clock`, or -1 when an
 * accumulator leaves INT32. With `dependent`, each kline's fields get
 * (previous signal | clock) & zero added; with `times`, each kline's CLOCK_MONOTONIC ns. */
int64_t stream(const tables_t *t, const state_t *s, const int64_t *klines, int64_t n,
               int64_t zero, int dependent, int64_t *times, clockid_t pass_clock,
               const outputs_t *out) {
    const int64_t width = t->width, last = t->n_layers;
    const int64_t classes = t->layers[4 * (last - 1) + 1];
    int64_t signal = 0;
    int64_t begin = now_ns(pass_clock);
    for (int64_t i = 0; i < n; i++) {
        int64_t start = times ? now_ns(CLOCK_MONOTONIC) : 0;
        int64_t link = dependent ? (signal | start) & zero : 0;
        const int64_t *kline = klines + 5 * i;
        int64_t o = kline[0] + link, h = kline[1] + link, l = kline[2] + link;
        int64_t c = kline[3] + link, v = kline[4] + link;
        int64_t seen = s->counters[0], volume_sum = s->counters[1];
        int64_t previous_sum = s->counters[2];
        for (int64_t f = 0; f < t->n_features; f++) {
            const int64_t *feature = t->features + 3 * f;
            int64_t kind = feature[0], shift = feature[1], need = feature[2], q = 0;
            if (seen >= need) {
                if (kind == VOLUME) {
                    if (previous_sum > 0)
                        q = code(t->reciprocals, t->volume_window * v - previous_sum, previous_sum, shift);
                } else {
                    int64_t past = s->closes[(seen - need) & t->ring_mask];
                    if (kind == RETURN) q = code(t->reciprocals, c - past, past, shift);
                    else if (kind == BODY) q = code(t->reciprocals, c - o, past, shift);
                    else if (kind == RANGE) q = code(t->reciprocals, h - l, past, shift);
                    else if (kind == UPPER_WICK) q = code(t->reciprocals, h - (o > c ? o : c), past, shift);
                    else q = code(t->reciprocals, (o < c ? o : c) - l, past, shift);
                }
            }
            s->act[f] = q;
        }
        int64_t slot = seen & (t->volume_window - 1);
        s->counters[2] = volume_sum;
        s->counters[1] = volume_sum + v - s->volumes[slot];
        s->volumes[slot] = v;
        s->closes[seen & t->ring_mask] = c;
        s->counters[0] = seen + 1;
        for (int64_t k = 0; k < last; k++) {
            const int64_t *layer = t->layers + 4 * k, *x = s->act + k * width;
            int64_t *y = s->act + (k + 1) * width;
            for (int64_t j = 0; j < layer[1]; j++) {
                const int64_t *w = t->weights + (k * width + j) * width;
                const int64_t *channel = t->channels + 3 * (k * width + j);
                int64_t acc = channel[0], m = 0;
                for (; m + 4 <= layer[0]; m += 4)
                    acc += w[m] * x[m] + w[m + 1] * x[m + 1] + w[m + 2] * x[m + 2]
                         + w[m + 3] * x[m + 3];
                for (; m < layer[0]; m++) acc += w[m] * x[m];
                if (acc < INT32_MIN || acc > INT32_MAX) return -1;
                int64_t shift = channel[2];
                int64_t r = layer[2] + ((acc * channel[1] + ((int64_t)1 << (shift - 1))) >> shift);
                y[j] = r < layer[3] ? layer[3] : (r > 127 ? 127 : r);
            }
        }
        const int64_t *result = s->act + last * width;
        signal = 0;
        for (int64_t j = 1; j < classes; j++)
            if (result[j] > result[signal]) signal = j;
        out->signals[i] = signal;
        out->warms[i] = seen >= t->warmup;
        for (int64_t j = 0; j < classes; j++) out->raw[i * classes + j] = (int8_t)result[j];
        if (times) times[i] = now_ns(CLOCK_MONOTONIC) - start;
    }
    return now_ns(pass_clock) - begin;
}

/* `n` times the ns between two CLOCK_MONOTONIC reads with nothing between them. */
void empty_pairs(int64_t *times, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        int64_t start = now_ns(CLOCK_MONOTONIC);
        times[i] = now_ns(CLOCK_MONOTONIC) - start;
    }
}
