/* zlib workload: one-shot and streaming compression round trips over
 * generated data of several sizes and shapes, all levels and strategies,
 * zlib/gzip/raw wrappers, inflateBack callbacks, checksum combination,
 * corrupt-input errors and the gz* file API. Prints sizes and checksums.
 * Usage: driver [SCALE]  (SCALE multiplies the largest input size). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zlib.h"

static int failures;

#define CHECK(cond, ...)                                                 \
    do {                                                                 \
        if (!(cond)) {                                                   \
            failures++;                                                  \
            fprintf(stderr, "check failed at line %d: ", __LINE__);      \
            fprintf(stderr, __VA_ARGS__);                                \
            fputc('\n', stderr);                                         \
        }                                                                \
    } while (0)

static unsigned long lcg_state;

static unsigned lcg(void)
{
    lcg_state = lcg_state * 6364136223846793005ul + 1442695040888963407ul;
    return (unsigned)(lcg_state >> 33);
}

enum shape { TEXT, RANDOM, RUNS, SHAPES };
static const char *const shape_names[SHAPES] = {"text", "random", "runs"};

static unsigned char *make_data(enum shape shape, size_t len, unsigned seed)
{
    static const char *const words[] = {"deflate ", "inflate ", "window ", "huffman ", "literal ",
                                        "distance ", "length ", "block ", "stream ", "adler ",
                                        "crc ", "\n"};
    unsigned char *p = malloc(len ? len : 1);
    lcg_state = seed;
    size_t i = 0;
    while (i < len) {
        switch (shape) {
        case TEXT: {
            const char *w = words[lcg() % (sizeof words / sizeof words[0])];
            while (*w && i < len)
                p[i++] = (unsigned char)*w++;
            break;
        }
        case RANDOM:
            p[i++] = (unsigned char)lcg();
            break;
        case RUNS: {
            unsigned char c = (unsigned char)('a' + lcg() % 4);
            size_t run = 1 + lcg() % 300;
            while (run-- && i < len)
                p[i++] = c;
            break;
        }
        default:
            abort();
        }
    }
    return p;
}

static void one_shot(const unsigned char *data, size_t len, const char *what)
{
    static const int levels[] = {0, 1, 6, 9};
    uLong crc = crc32(0L, data, (uInt)len);
    uLong adler = adler32(1L, data, (uInt)len);
    printf("%-22s crc32 %08lx adler32 %08lx |", what, crc, adler);
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        uLong bound = compressBound((uLong)len);
        unsigned char *packed = malloc(bound);
        uLongf packed_len = bound;
        int rc = compress2(packed, &packed_len, data, (uLong)len, levels[l]);
        CHECK(rc == Z_OK, "compress2 level %d: %d", levels[l], rc);
        unsigned char *back = malloc(len ? len : 1);
        uLongf back_len = (uLongf)len;
        rc = uncompress(back, &back_len, packed, packed_len);
        CHECK(rc == Z_OK && back_len == len && memcmp(back, data, len) == 0, "uncompress level %d: %d",
              levels[l], rc);
        printf(" L%d %lu", levels[l], (unsigned long)packed_len);
        free(back);
        free(packed);
    }
    printf("\n");
}

/* Streams through deflate and inflate with small buffers. window_bits
 * selects the zlib (15), gzip (31) or raw (-15) format. */
static void streaming(const unsigned char *data, size_t len, int level, int window_bits, int strategy,
                      const char *what)
{
    enum { CHUNK = 1000 };
    z_stream d;
    memset(&d, 0, sizeof d);
    int rc = deflateInit2(&d, level, Z_DEFLATED, window_bits, 8, strategy);
    CHECK(rc == Z_OK, "deflateInit2: %d", rc);
    size_t cap = deflateBound(&d, (uLong)len) + 64, used = 0;
    unsigned char *packed = malloc(cap);
    size_t fed = 0;
    int flush;
    do {
        size_t n = len - fed < 777 ? len - fed : 777;
        d.next_in = (Bytef *)(data + fed);
        d.avail_in = (uInt)n;
        fed += n;
        flush = fed == len ? Z_FINISH : (fed / 777) % 5 == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        do {
            unsigned char out[CHUNK];
            d.next_out = out;
            d.avail_out = CHUNK;
            rc = deflate(&d, flush);
            CHECK(rc != Z_STREAM_ERROR, "deflate: %d", rc);
            size_t have = CHUNK - d.avail_out;
            CHECK(used + have <= cap, "deflate output larger than deflateBound");
            if (used + have <= cap)
                memcpy(packed + used, out, have);
            used += have;
        } while (d.avail_out == 0);
    } while (flush != Z_FINISH);
    CHECK(rc == Z_STREAM_END, "deflate end: %d", rc);
    uLong total_out = d.total_out;
    deflateEnd(&d);

    z_stream i;
    memset(&i, 0, sizeof i);
    /* For zlib and gzip input let inflate detect the header (47). */
    rc = inflateInit2(&i, window_bits < 0 ? window_bits : 47);
    CHECK(rc == Z_OK, "inflateInit2: %d", rc);
    unsigned char *back = malloc(len + 1);
    size_t got = 0, offered = 0;
    do {
        size_t n = used - offered < 333 ? used - offered : 333;
        i.next_in = packed + offered;
        i.avail_in = (uInt)n;
        offered += n;
        do {
            unsigned char out[CHUNK / 3];
            i.next_out = out;
            i.avail_out = sizeof out;
            rc = inflate(&i, Z_NO_FLUSH);
            CHECK(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR, "inflate: %d (%s)", rc,
                  i.msg ? i.msg : "");
            size_t have = sizeof out - i.avail_out;
            if (got + have <= len)
                memcpy(back + got, out, have);
            got += have;
        } while (i.avail_out == 0 && rc != Z_STREAM_END);
    } while (rc != Z_STREAM_END && offered < used);
    CHECK(rc == Z_STREAM_END, "inflate did not reach the end: %d", rc);
    CHECK(got == len && memcmp(back, data, len) == 0, "streaming round trip differs (%s)", what);
    printf("%-34s level %d wbits %3d strategy %d: %7lu -> %7lu adler %08lx\n", what, level, window_bits,
           strategy, (unsigned long)len, (unsigned long)total_out, (unsigned long)i.adler);
    inflateEnd(&i);
    free(back);
    free(packed);
}

/* inflateBack with input and output callbacks. */
struct back_io {
    const unsigned char *in;
    size_t in_len, in_pos;
    uLong crc;
    size_t out_len;
};

static unsigned back_in(void *desc, z_const unsigned char **buf)
{
    struct back_io *io = desc;
    size_t n = io->in_len - io->in_pos < 100 ? io->in_len - io->in_pos : 100;
    *buf = (z_const unsigned char *)io->in + io->in_pos;
    io->in_pos += n;
    return (unsigned)n;
}

static int back_out(void *desc, unsigned char *buf, unsigned len)
{
    struct back_io *io = desc;
    io->crc = crc32(io->crc, buf, len);
    io->out_len += len;
    return 0;
}

static void inflate_back(const unsigned char *data, size_t len)
{
    z_stream d;
    memset(&d, 0, sizeof d);
    deflateInit2(&d, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
    uLong cap = deflateBound(&d, (uLong)len);
    unsigned char *raw = malloc(cap);
    d.next_in = (Bytef *)data;
    d.avail_in = (uInt)len;
    d.next_out = raw;
    d.avail_out = (uInt)cap;
    int rc = deflate(&d, Z_FINISH);
    CHECK(rc == Z_STREAM_END, "raw deflate: %d", rc);
    size_t raw_len = cap - d.avail_out;
    deflateEnd(&d);

    unsigned char *window = malloc(1u << 15);
    z_stream b;
    memset(&b, 0, sizeof b);
    rc = inflateBackInit(&b, 15, window);
    CHECK(rc == Z_OK, "inflateBackInit: %d", rc);
    struct back_io io = {raw, raw_len, 0, crc32(0, Z_NULL, 0), 0};
    rc = inflateBack(&b, back_in, &io, back_out, &io);
    CHECK(rc == Z_STREAM_END, "inflateBack: %d", rc);
    CHECK(io.crc == crc32(0, data, (uInt)len) && io.out_len == len, "inflateBack output differs");
    printf("inflateBack: %lu raw bytes -> %lu bytes, crc32 %08lx\n", (unsigned long)raw_len,
           (unsigned long)io.out_len, io.crc);
    inflateBackEnd(&b);
    free(window);
    free(raw);
}

static void checksums(const unsigned char *data, size_t len)
{
    size_t half = len / 3;
    uLong c1 = crc32(0, data, (uInt)half), c2 = crc32(0, data + half, (uInt)(len - half));
    uLong a1 = adler32(1, data, (uInt)half), a2 = adler32(1, data + half, (uInt)(len - half));
    uLong c = crc32_combine(c1, c2, (z_off_t)(len - half));
    uLong a = adler32_combine(a1, a2, (z_off_t)(len - half));
    CHECK(c == crc32(0, data, (uInt)len), "crc32_combine");
    CHECK(a == adler32(1, data, (uInt)len), "adler32_combine");
    printf("combined checksums over %lu bytes: crc32 %08lx adler32 %08lx\n", (unsigned long)len, c, a);
    const z_crc_t *table = get_crc_table();
    printf("crc table[1] %08lx table[255] %08lx\n", (unsigned long)table[1], (unsigned long)table[255]);
}

static void corrupt_input(void)
{
    const char *text = "corrupt me, corrupt me, corrupt me, please";
    unsigned char packed[128], back[128];
    uLongf packed_len = sizeof packed, back_len = sizeof back;
    compress(packed, &packed_len, (const Bytef *)text, (uLong)strlen(text));
    packed[packed_len / 2] ^= 0x55;
    int rc = uncompress(back, &back_len, packed, packed_len);
    printf("corrupted stream: %s (%d)\n", zError(rc), rc);
    back_len = 4;
    rc = uncompress(back, &back_len, packed, 3);
    printf("truncated stream: %s (%d)\n", zError(rc), rc);
}

static void gz_files(void)
{
    gzFile f = gzopen("workload.gz", "wb9");
    CHECK(f != NULL, "gzopen for writing");
    if (!f)
        return;
    for (int i = 0; i < 200; i++)
        gzprintf(f, "line %d: %s %05.2f %x\n", i, i % 3 ? "fizz" : "buzz", i / 7.0, i * 977);
    gzputs(f, "a line written with gzputs\n");
    static const char tail[] = "and the tail, with gzwrite\n";
    gzwrite(f, tail, sizeof tail - 1);
    CHECK(gzclose(f) == Z_OK, "gzclose after writing");

    f = gzopen("workload.gz", "rb");
    CHECK(f != NULL, "gzopen for reading");
    if (!f)
        return;
    char line[256];
    int lines = 0;
    uLong crc = crc32(0, Z_NULL, 0);
    while (gzgets(f, line, sizeof line)) {
        lines++;
        crc = crc32(crc, (const Bytef *)line, (uInt)strlen(line));
        if (lines <= 2 || lines >= 200)
            printf("gz line %d: %s", lines, line);
    }
    printf("gz file: %d lines, crc32 %08lx, eof %d\n", lines, crc, gzeof(f));
    gzrewind(f);
    char head[16] = {0};
    int n = gzread(f, head, 15);
    printf("after rewind read %d bytes: \"%s\"\n", n, head);
    CHECK(gzclose(f) == Z_OK, "gzclose after reading");
}

int main(int argc, char **argv)
{
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1)
        scale = 1;
    printf("zlib %s\n", zlibVersion());
    const size_t sizes[] = {0, 1, 100, 4096, 65536 + 17, (size_t)scale * 100000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int shape = 0; shape < SHAPES; shape++) {
            unsigned char *data = make_data((enum shape)shape, sizes[s], 1234u + (unsigned)s);
            char what[64];
            snprintf(what, sizeof what, "%s %lu", shape_names[shape], (unsigned long)sizes[s]);
            one_shot(data, sizes[s], what);
            free(data);
        }
    }
    size_t big = (size_t)scale * 120000;
    unsigned char *text = make_data(TEXT, big, 99);
    unsigned char *runs = make_data(RUNS, big, 77);
    static const int strategies[] = {Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE, Z_FIXED};
    for (size_t s = 0; s < sizeof strategies / sizeof strategies[0]; s++) {
        streaming(text, big, 6, 15, strategies[s], "text zlib");
        streaming(runs, big, 3, 31, strategies[s], "runs gzip");
    }
    streaming(text, big, 9, -15, Z_DEFAULT_STRATEGY, "text raw");
    streaming(text, 12345, 1, -9, Z_DEFAULT_STRATEGY, "text raw small window");
    inflate_back(text, big);
    checksums(text, big);
    corrupt_input();
    gz_files();
    free(text);
    free(runs);
    printf("failures: %d\n", failures);
    return failures ? 1 : 0;
}
