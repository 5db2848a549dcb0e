/*
 * _fastparse: a strict, bounds-checked parser for the common shape of conntrack lines
 * (F1 `conntrack -L`, with or without `-o extended`, and F8 /proc/net/nf_conntrack).
 *
 * It fills numpy columns handed in by ctdiag/parse/fast.py through the buffer protocol
 * and DECLINES every line that is not exactly the common grammar; the pure-Python
 * reference parser handles the declined lines. Declining is always safe, guessing never
 * is, so any doubt declines.
 *
 * Safety rules kept throughout: every read is checked against the end of the current line
 * (`e`), no buffer is indexed by an input-controlled length, every allocation is checked,
 * and the GIL is released while the loop runs (only C memory is touched there).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if !defined(_WIN32)
#include <pthread.h>
#define FP_THREADS 1
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif
#define MAX_CHUNKS 8

/* Column order shared with fast.py (_COLUMN_ORDER). */
enum {
    C_LINE, C_FAMILY, C_PROTONUM, C_FLAGS, C_PRESENT, C_TIMEOUT, C_STATE,
    C_ORIG_SRC, C_ORIG_DST, C_REPLY_SRC, C_REPLY_DST, C_ZONE, C_ZONE_ORIG, C_ZONE_REPLY,
    C_MARK, C_USE, C_ID, C_DELTA, C_SECCTX, C_HELPER, C_ORIG_L4, C_REPLY_L4, C_COUNTERS,
    NCOLS
};
/* Bytes per row of each column (itemsize x width). */
static const Py_ssize_t COL_ROW_BYTES[NCOLS] = {
    4, 1, 1, 1, 2, 4, 4,
    4, 4, 4, 4, 2, 2, 2,
    4, 4, 4, 4, 4, 4, 6, 6, 32,
};
static const Py_ssize_t COL_ITEMSIZE[NCOLS] = {
    4, 1, 1, 1, 2, 4, 4,
    4, 4, 4, 4, 2, 2, 2,
    4, 4, 4, 4, 4, 4, 2, 2, 8,
};

/* table.Present bits */
#define P_TIMEOUT (1u << 0)
#define P_STATE (1u << 1)
#define P_MARK (1u << 2)
#define P_USE (1u << 3)
#define P_ID (1u << 4)
#define P_DELTA (1u << 5)
#define P_SECCTX (1u << 6)
#define P_HELPER (1u << 7)
#define P_ZONE_ORIG (1u << 8)
#define P_ZONE_REPLY (1u << 9)
#define P_COUNTERS_ORIG (1u << 10)
#define P_COUNTERS_REPLY (1u << 11)
#define P_L4_ORIG (1u << 12)
#define P_L4_REPLY (1u << 13)

/* table.FlagBit bits */
#define F_UNREPLIED (1u << 0)
#define F_ASSURED (1u << 1)
#define F_OFFLOAD (1u << 2)
#define F_HW_OFFLOAD (1u << 3)

#define U16_MAX_ 0xFFFFull
#define U32_MAX_ 0xFFFFFFFFull
#define U64_MAX_ 0xFFFFFFFFFFFFFFFFull

/* Byte-wise equality, inlined: with a literal and a constant length the compiler unrolls it
 * into a few compares, where memcmp would be a call per token. */
static inline int bytes_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* String dictionary: raw bytes (pointing into the input) -> dense uint32 code, in order  */
/* of first insertion. Open addressing over a power-of-two slot array.                     */

typedef struct {
    const char **ptr;
    uint32_t *len;
    uint32_t *hash;
    uint32_t n, cap;
    uint32_t *slots; /* code + 1, 0 = empty */
    uint32_t mask;   /* slot count - 1 */
} Dict;

static void dict_free(Dict *d)
{
    free(d->ptr);
    free(d->len);
    free(d->hash);
    free(d->slots);
    memset(d, 0, sizeof *d);
}

static int dict_init(Dict *d)
{
    memset(d, 0, sizeof *d);
    d->mask = 63;
    d->slots = calloc((size_t)d->mask + 1, sizeof *d->slots);
    return d->slots ? 0 : -1;
}

static int dict_rehash(Dict *d)
{
    if (d->mask >= 0x7FFFFFFFu)
        return -1;
    uint32_t mask = d->mask * 2 + 1;
    uint32_t *slots = calloc((size_t)mask + 1, sizeof *slots);
    if (!slots)
        return -1;
    for (uint32_t i = 0; i < d->n; i++) {
        uint32_t s = d->hash[i] & mask;
        while (slots[s])
            s = (s + 1) & mask;
        slots[s] = i + 1;
    }
    free(d->slots);
    d->slots = slots;
    d->mask = mask;
    return 0;
}

static int dict_grow(Dict *d)
{
    if (d->cap >= 0x7FFFFFFFu)
        return -1;
    uint32_t cap = d->cap ? d->cap * 2 : 64;
    const char **ptr = realloc(d->ptr, (size_t)cap * sizeof *ptr);
    if (!ptr)
        return -1;
    d->ptr = ptr;
    uint32_t *len = realloc(d->len, (size_t)cap * sizeof *len);
    if (!len)
        return -1;
    d->len = len;
    uint32_t *hash = realloc(d->hash, (size_t)cap * sizeof *hash);
    if (!hash)
        return -1;
    d->hash = hash;
    d->cap = cap;
    return 0;
}

/* Code of s[0:n], inserting it when new; -1 when out of memory. */
static int64_t dict_intern(Dict *d, const char *s, uint32_t n, uint32_t h)
{
    uint32_t slot = h & d->mask;
    for (;;) {
        uint32_t k = d->slots[slot];
        if (!k)
            break;
        k--;
        if (d->hash[k] == h && d->len[k] == n && bytes_eq(d->ptr[k], s, n))
            return k;
        slot = (slot + 1) & d->mask;
    }
    if (d->n == d->cap && dict_grow(d) < 0)
        return -1;
    uint32_t code = d->n++;
    d->ptr[code] = s;
    d->len[code] = n;
    d->hash[code] = h;
    d->slots[slot] = code + 1;
    if ((uint64_t)d->n * 2 > (uint64_t)d->mask + 1 && dict_rehash(d) < 0)
        return -1;
    return code;
}

static uint64_t hash_seed;

static inline uint32_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = hash_seed ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return (uint32_t)(h >> 32);
}

/* ------------------------------------------------------------------------------------ */
/* Address dictionary: binary address -> dense uint32 code, in order of first insertion.  */
/* Keyed by value, not text, so every spelling of an address (exploded, compressed,       */
/* uppercase, ...) gets one code, and a probe touches one slot: no comparison against the */
/* input text, which with hundreds of thousands of distinct addresses misses the cache.   */

typedef struct {
    uint64_t hi, lo;
    uint32_t code1; /* code + 1, 0 = empty */
    uint32_t pad;
} Slot6;

typedef struct {
    uint8_t *fam;  /* code -> 4 or 6 */
    uint64_t *val; /* code -> (hi, lo) */
    uint32_t n, cap;
    uint64_t *s4; /* (code + 1) << 32 | IPv4 value; 0 = empty */
    uint32_t mask4, n4;
    Slot6 *s6;
    uint32_t mask6, n6;
} AddrDict;

/* Zeroed memory for a probe table. Large ones get transparent huge pages where the kernel
 * offers them: with hundreds of thousands of distinct addresses the table is several MB and
 * random probes into 4 KiB pages miss the TLB as well as the cache. */
static void *table_alloc(size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= (2u << 20)) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure is fine */
        return p;
    }
#endif
    return calloc(1, bytes);
}

static void table_free(void *p, size_t bytes)
{
    if (!p)
        return;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= (2u << 20)) {
        munmap(p, bytes);
        return;
    }
#endif
    free(p);
}

static void addr_free(AddrDict *d)
{
    free(d->fam);
    free(d->val);
    table_free(d->s4, ((size_t)d->mask4 + 1) * sizeof *d->s4);
    table_free(d->s6, ((size_t)d->mask6 + 1) * sizeof *d->s6);
    memset(d, 0, sizeof *d);
}

static int addr_init(AddrDict *d)
{
    memset(d, 0, sizeof *d);
    d->mask4 = d->mask6 = 63;
    d->s4 = table_alloc(64 * sizeof *d->s4);
    d->s6 = table_alloc(64 * sizeof *d->s6);
    return d->s4 && d->s6 ? 0 : -1;
}

static inline uint32_t hash_v4(uint32_t v)
{
    uint64_t h = ((uint64_t)v ^ hash_seed) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32);
}

static inline uint32_t hash_v6(uint64_t hi, uint64_t lo)
{
    uint64_t h = (hi ^ hash_seed) * 0x9E3779B97F4A7C15ull;
    h = (h ^ (h >> 29) ^ lo) * 0xBF58476D1CE4E5B9ull;
    return (uint32_t)(h >> 32);
}

static int addr_grow_codes(AddrDict *d)
{
    if (d->cap >= 0x7FFFFFFFu)
        return -1;
    uint32_t cap = d->cap ? d->cap * 2 : 256;
    uint8_t *fam = realloc(d->fam, (size_t)cap);
    if (!fam)
        return -1;
    d->fam = fam;
    uint64_t *val = realloc(d->val, (size_t)cap * 2 * sizeof *val);
    if (!val)
        return -1;
    d->val = val;
    d->cap = cap;
    return 0;
}

static int addr_rehash4(AddrDict *d)
{
    if (d->mask4 >= 0x7FFFFFFFu)
        return -1;
    uint32_t mask = d->mask4 * 2 + 1;
    uint64_t *slots = table_alloc(((size_t)mask + 1) * sizeof *slots);
    if (!slots)
        return -1;
    for (uint32_t i = 0; i <= d->mask4; i++) {
        uint64_t v = d->s4[i];
        if (!v)
            continue;
        uint32_t s = hash_v4((uint32_t)v) & mask;
        while (slots[s])
            s = (s + 1) & mask;
        slots[s] = v;
    }
    table_free(d->s4, ((size_t)d->mask4 + 1) * sizeof *d->s4);
    d->s4 = slots;
    d->mask4 = mask;
    return 0;
}

static int addr_rehash6(AddrDict *d)
{
    if (d->mask6 >= 0x7FFFFFFFu)
        return -1;
    uint32_t mask = d->mask6 * 2 + 1;
    Slot6 *slots = table_alloc(((size_t)mask + 1) * sizeof *slots);
    if (!slots)
        return -1;
    for (uint32_t i = 0; i <= d->mask6; i++) {
        const Slot6 *v = &d->s6[i];
        if (!v->code1)
            continue;
        uint32_t s = hash_v6(v->hi, v->lo) & mask;
        while (slots[s].code1)
            s = (s + 1) & mask;
        slots[s] = *v;
    }
    table_free(d->s6, ((size_t)d->mask6 + 1) * sizeof *d->s6);
    d->s6 = slots;
    d->mask6 = mask;
    return 0;
}

static inline int64_t addr_new_code(AddrDict *d, int family, uint64_t hi, uint64_t lo)
{
    if (d->n == d->cap && addr_grow_codes(d) < 0)
        return -1;
    uint32_t code = d->n++;
    d->fam[code] = (uint8_t)family;
    d->val[2 * code] = hi;
    d->val[2 * code + 1] = lo;
    return code;
}

static inline uint32_t addr_hash(int family, uint64_t hi, uint64_t lo)
{
    return family == 4 ? hash_v4((uint32_t)lo) : hash_v6(hi, lo);
}

/* Ask for the slot of an address early (while the rest of the line is parsed): with
 * hundreds of thousands of distinct addresses the probe is a cache miss otherwise. */
static inline void addr_prefetch(const AddrDict *d, int family, uint32_t hash)
{
#if defined(__GNUC__)
    if (family == 4)
        __builtin_prefetch(&d->s4[hash & d->mask4]);
    else
        __builtin_prefetch(&d->s6[hash & d->mask6]);
#else
    (void)d, (void)family, (void)hash;
#endif
}

/* Code of the address (`hash` = addr_hash of it), inserting it when new; -1 when out of
 * memory. */
static int64_t addr_intern(AddrDict *d, int family, uint64_t hi, uint64_t lo, uint32_t hash)
{
    int64_t code;
    if (family == 4) {
        uint32_t v = (uint32_t)lo, slot = hash & d->mask4;
        for (;;) {
            uint64_t k = d->s4[slot];
            if (!k)
                break;
            if ((uint32_t)k == v)
                return (int64_t)(k >> 32) - 1;
            slot = (slot + 1) & d->mask4;
        }
        if ((code = addr_new_code(d, 4, 0, v)) < 0)
            return -1;
        d->s4[slot] = (uint64_t)(code + 1) << 32 | v;
        if ((uint64_t)++d->n4 * 2 > (uint64_t)d->mask4 + 1 && addr_rehash4(d) < 0)
            return -1;
        return code;
    }
    uint32_t slot = hash & d->mask6;
    for (;;) {
        const Slot6 *k = &d->s6[slot];
        if (!k->code1)
            break;
        if (k->hi == hi && k->lo == lo)
            return (int64_t)k->code1 - 1;
        slot = (slot + 1) & d->mask6;
    }
    if ((code = addr_new_code(d, 6, hi, lo)) < 0)
        return -1;
    Slot6 *k = &d->s6[slot];
    k->hi = hi;
    k->lo = lo;
    k->code1 = (uint32_t)code + 1;
    if ((uint64_t)++d->n6 * 2 > (uint64_t)d->mask6 + 1 && addr_rehash6(d) < 0)
        return -1;
    return code;
}

/* ------------------------------------------------------------------------------------ */
/* Lexing helpers. `p` is the cursor, `e` the end of the line (exclusive, no newline).     */

#define KEY(lit) ((size_t)(e - p) >= sizeof(lit) - 1 && bytes_eq(p, lit, sizeof(lit) - 1))
/* The whole token at p equals lit. */
#define TOKEN_IS(lit) (KEY(lit) && (p + (sizeof(lit) - 1) == e || p[sizeof(lit) - 1] == ' '))

/* After a token ending at *pp: 1 = another token starts at *pp, 0 = end of line,
 * -1 = junk glued to the token or trailing blanks. */
static inline int next_tok(const char **pp, const char *e)
{
    const char *p = *pp;
    if (p == e)
        return 0;
    if (*p != ' ')
        return -1;
    do
        p++;
    while (p < e && *p == ' ');
    if (p == e)
        return -1;
    *pp = p;
    return 1;
}

/* Unsigned decimal of at least one digit, <= max, followed by a blank or the line end. */
static inline int parse_num(const char **pp, const char *e, uint64_t max, uint64_t *out)
{
    const char *p = *pp, *s = p;
    uint64_t v = 0;
    if (max <= U32_MAX_) {
        /* Ten digits cannot overflow 64 bits; an eleventh (leading zeros too) declines. */
        while (p < e && (unsigned char)(*p - '0') < 10 && p - s < 10) {
            v = v * 10 + (unsigned)(*p - '0');
            p++;
        }
        if (v > max)
            return 0;
    } else {
        while (p < e && (unsigned char)(*p - '0') < 10) {
            unsigned d = (unsigned)(*p - '0');
            if (v > (max - d) / 10)
                return 0;
            v = v * 10 + d;
            p++;
        }
    }
    if (p == s || (p < e && *p != ' '))
        return 0;
    *pp = p;
    *out = v;
    return 1;
}

typedef struct {
    const char *s;
    uint32_t n;
} Span;

/* An opaque value (secctx, helper): printable ASCII without '=', '[' or ']', non-empty. */
static inline int parse_opaque(const char **pp, const char *e, Span *out)
{
    const char *p = *pp, *s = p;
    while (p < e && *p != ' ') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x21 || c > 0x7E || c == '=' || c == '[' || c == ']')
            return 0;
        p++;
    }
    if (p == s || p - s > 0x7FFFFFFF)
        return 0;
    out->s = s;
    out->n = (uint32_t)(p - s);
    *pp = p;
    return 1;
}

/* IPv4 dotted quad as Python's ipaddress accepts it (no leading zeros, octets <= 255). */
static int ipv4_value(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;
    size_t i = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (octet) {
            if (i >= n || s[i] != '.')
                return 0;
            i++;
        }
        size_t start = i;
        unsigned x = 0;
        while (i < n && (unsigned char)(s[i] - '0') < 10 && i - start < 3) {
            x = x * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        size_t len = i - start;
        if (len == 0 || x > 255 || (len > 1 && s[start] == '0'))
            return 0;
        v = (v << 8) | x;
    }
    if (i != n)
        return 0;
    *out = v;
    return 1;
}

/* Hex digit -> value, -1 for every other byte (filled by the module init). */
static int8_t HEX[256];

static void init_hex(void)
{
    for (int c = 0; c < 256; c++)
        HEX[c] = (int8_t)(c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1);
}

/* The 16-bit value of a hextet text of 1..4 hex digits; -1 when it is not one. */
static inline int32_t hextet(const char *s, size_t n)
{
    if (n == 0 || n > 4)
        return -1;
    int32_t v = 0, bad = 0;
    for (size_t k = 0; k < n; k++) {
        int32_t d = HEX[(unsigned char)s[k]];
        bad |= d;
        v = v << 4 | (d & 0xF);
    }
    return bad < 0 ? -1 : v;
}

/* IPv6 text exactly as ipaddress.IPv6Address accepts it (without scope ids): a port of
 * IPv6Address._ip_int_from_string, so that what C accepts the reference accepts too, and
 * with the same value. The value goes to *hi (groups 0-3) and *lo (groups 4-7). */
static int ipv6_parse(const char *s, size_t n, uint64_t *hi, uint64_t *lo)
{
    enum { MAXP = 10 };
    uint16_t w[8];
    /* The kernel's exploded form (/proc): eight groups of four hex digits. */
    if (n == 39 && s[4] == ':' && s[9] == ':' && s[14] == ':' && s[19] == ':' && s[24] == ':' &&
        s[29] == ':' && s[34] == ':') {
        int ok = 1;
        for (int g = 0; g < 8 && ok; g++) {
            int32_t v = hextet(s + 5 * g, 4);
            ok = v >= 0;
            w[g] = (uint16_t)v;
        }
        if (ok)
            goto done;
        return 0;
    }
    const char *ps[MAXP];
    size_t pl[MAXP];
    int np = 0;
    if (n == 0 || n > 45)
        return 0;
    const char *start = s;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ':') {
            if (np >= MAXP)
                return 0;
            ps[np] = start;
            pl[np] = (size_t)(s + i - start);
            np++;
            start = s + i + 1;
        }
    }
    if (np < 3)
        return 0;
    /* Logical parts: the raw texts, the IPv4 tail standing for two hextets. */
    int32_t part[MAXP + 1];
    int empty[MAXP + 1];
    int total = 0;
    uint32_t v4 = 0;
    int has_v4 = memchr(ps[np - 1], '.', pl[np - 1]) != NULL;
    if (has_v4 && !ipv4_value(ps[np - 1], pl[np - 1], &v4))
        return 0;
    for (int i = 0; i < np - has_v4; i++) {
        empty[total] = pl[i] == 0;
        part[total++] = hextet(ps[i], pl[i]);
    }
    if (has_v4) {
        empty[total] = 0;
        part[total++] = (int32_t)(v4 >> 16);
        empty[total] = 0;
        part[total++] = (int32_t)(v4 & 0xFFFF);
    }
    if (total > 9)
        return 0;
    int skip = -1, phi, plo;
    for (int i = 1; i < total - 1; i++) {
        if (empty[i]) {
            if (skip >= 0)
                return 0;
            skip = i;
        }
    }
    if (skip >= 0) {
        phi = skip;
        plo = total - skip - 1;
        if (empty[0] && --phi)
            return 0;
        if (empty[total - 1] && --plo)
            return 0;
        if (8 - (phi + plo) < 1)
            return 0;
    } else {
        if (total != 8 || empty[0] || empty[total - 1])
            return 0;
        phi = total;
        plo = 0;
    }
    memset(w, 0, sizeof w);
    for (int i = 0; i < phi; i++) {
        if (part[i] < 0)
            return 0;
        w[i] = (uint16_t)part[i];
    }
    for (int i = 0; i < plo; i++) {
        int32_t v = part[total - plo + i];
        if (v < 0)
            return 0;
        w[8 - plo + i] = (uint16_t)v;
    }
done:
    *hi = (uint64_t)w[0] << 48 | (uint64_t)w[1] << 32 | (uint64_t)w[2] << 16 | w[3];
    *lo = (uint64_t)w[4] << 48 | (uint64_t)w[5] << 32 | (uint64_t)w[6] << 16 | w[7];
    return 1;
}

/* Dotted quad of v into out (no terminator); its length. */
static size_t format_ipv4(uint32_t v, char *out)
{
    size_t n = 0;
    for (int k = 3; k >= 0; k--) {
        unsigned x = (v >> (8 * k)) & 0xFF;
        if (x >= 100)
            out[n++] = (char)('0' + x / 100);
        if (x >= 10)
            out[n++] = (char)('0' + x / 10 % 10);
        out[n++] = (char)('0' + x % 10);
        if (k)
            out[n++] = '.';
    }
    return n;
}

/* The text the reference parser stores for an IPv6 value (into out, >= 46 bytes; no
 * terminator; returns the length): Python's ipaddress form (RFC 5952: lowercase, no leading
 * zeros, the longest run of two or more zero groups, the first of equal ones, as "::"),
 * except that IPv4-mapped addresses keep the IPv4 part dotted, as glibc prints them. */
static size_t format_ipv6(uint64_t hi, uint64_t lo, char *out)
{
    static const char digits[] = "0123456789abcdef";
    if (hi == 0 && (lo >> 32) == 0xFFFF) {
        memcpy(out, "::ffff:", 7);
        return 7 + format_ipv4((uint32_t)lo, out + 7);
    }
    uint16_t w[8];
    for (int g = 0; g < 4; g++) {
        w[g] = (uint16_t)(hi >> (48 - 16 * g));
        w[4 + g] = (uint16_t)(lo >> (48 - 16 * g));
    }
    int best = -1, best_len = 0, run = -1, run_len = 0;
    for (int g = 0; g < 8; g++) {
        if (w[g]) {
            run = -1;
            run_len = 0;
            continue;
        }
        if (run < 0)
            run = g;
        if (++run_len > best_len) {
            best = run;
            best_len = run_len;
        }
    }
    if (best_len < 2)
        best = -1, best_len = 0;
    size_t n = 0;
    for (int g = 0; g < 8;) {
        if (g == best) {
            out[n++] = ':';
            out[n++] = ':';
            g += best_len;
            continue;
        }
        if (g && g != best + best_len)
            out[n++] = ':';
        unsigned v = w[g];
        int shift = v >= 0x1000 ? 12 : v >= 0x100 ? 8 : v >= 0x10 ? 4 : 0;
        for (; shift >= 0; shift -= 4)
            out[n++] = digits[(v >> shift) & 0xF];
        g++;
    }
    return n;
}

typedef struct {
    uint64_t hi, lo; /* IPv6 value; IPv4: hi = 0, lo = the 32-bit value */
    int family;      /* 4 or 6 */
    uint32_t hash;   /* addr_hash, set by parse_tuple */
} Addr;

/* A dotted quad as ipv4_value accepts it, ending at a blank or the line end. */
static inline int ipv4_scan(const char **pp, const char *e, uint32_t *out)
{
    const char *p = *pp;
    uint32_t v = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (octet) {
            if (p >= e || *p != '.')
                return 0;
            p++;
        }
        const char *s = p;
        unsigned x = 0;
        while (p < e && (unsigned char)(*p - '0') < 10 && p - s < 3) {
            x = x * 10 + (unsigned)(*p - '0');
            p++;
        }
        if (p == s || x > 255 || (p - s > 1 && *s == '0'))
            return 0;
        v = v << 8 | x;
    }
    if (p < e && *p != ' ')
        return 0;
    *pp = p;
    *out = v;
    return 1;
}

static inline int parse_addr(const char **pp, const char *e, Addr *a)
{
    const char *p = *pp, *q;
    uint32_t v4;
    if (ipv4_scan(&p, e, &v4)) {
        a->family = 4;
        a->hi = 0;
        a->lo = v4;
        *pp = p;
        return 1;
    }
    if (e - p >= 39 && (e - p == 39 || p[39] == ' ') && p[4] == ':' && p[9] == ':' && p[14] == ':' &&
        p[19] == ':' && p[24] == ':' && p[29] == ':' && p[34] == ':') {
        q = p + 39; /* the exploded form (ipv6_parse checks its digits) */
    } else {
        q = p;
        while (q < e && *q != ' ' && q - p <= 45)
            q++;
    }
    /* ipv6_parse refuses every byte but hex digits, ':' and the '.' of an IPv4 tail. */
    if (!ipv6_parse(p, (size_t)(q - p), &a->hi, &a->lo))
        return 0;
    a->family = 6;
    *pp = q;
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* One line                                                                                */

enum { L4_PORTS, L4_ICMP };

typedef struct {
    const char *name;
    size_t name_len;
    const char *num;
    size_t num_len;
    uint8_t protonum;
    int l4;
} Proto;

#define PROTO(name, num, l4) {name, sizeof(name) - 1, #num, sizeof(#num) - 1, num, l4}
static const Proto PROTOS[] = {
    PROTO("tcp", 6, L4_PORTS),     PROTO("udp", 17, L4_PORTS),  PROTO("icmp", 1, L4_ICMP),
    PROTO("icmpv6", 58, L4_ICMP),  PROTO("sctp", 132, L4_PORTS), PROTO("udplite", 136, L4_PORTS),
    PROTO("dccp", 33, L4_PORTS),
};
#define NPROTOS (sizeof(PROTOS) / sizeof(PROTOS[0]))

typedef struct {
    uint8_t family, protonum, flags;
    uint16_t present;
    uint32_t timeout, mark, use, id, delta;
    uint16_t zone, zone_orig, zone_reply;
    uint16_t l4[2][3];
    uint64_t counters[4];
    /* Not cleared per line: written before they are read (addresses always, spans when
     * their Present bit is set). */
    Addr addr[4];
    Span state, secctx, helper;
} Row;

static int parse_tuple(const char **pp, const char *e, Row *r, int dir, int l4, const AddrDict *d)
{
    const char *p = *pp;
    uint64_t v;
    if (!KEY("src="))
        return 0;
    p += 4;
    Addr *a = &r->addr[2 * dir];
    if (!parse_addr(&p, e, a))
        return 0;
    a->hash = addr_hash(a->family, a->hi, a->lo);
    addr_prefetch(d, a->family, a->hash);
    if (next_tok(&p, e) != 1 || !KEY("dst="))
        return 0;
    p += 4;
    if (!parse_addr(&p, e, ++a))
        return 0;
    a->hash = addr_hash(a->family, a->hi, a->lo);
    addr_prefetch(d, a->family, a->hash);
    if (next_tok(&p, e) != 1)
        return 0;
    if (l4 == L4_PORTS) {
        if (!KEY("sport="))
            return 0;
        p += 6;
        if (!parse_num(&p, e, U16_MAX_, &v))
            return 0;
        r->l4[dir][0] = (uint16_t)v;
        if (next_tok(&p, e) != 1 || !KEY("dport="))
            return 0;
        p += 6;
        if (!parse_num(&p, e, U16_MAX_, &v))
            return 0;
        r->l4[dir][1] = (uint16_t)v;
    } else {
        /* type and code are 8-bit on the wire; the reference parser refuses wider ones. */
        if (!KEY("type="))
            return 0;
        p += 5;
        if (!parse_num(&p, e, 0xFF, &v))
            return 0;
        r->l4[dir][0] = (uint16_t)v;
        if (next_tok(&p, e) != 1 || !KEY("code="))
            return 0;
        p += 5;
        if (!parse_num(&p, e, 0xFF, &v))
            return 0;
        r->l4[dir][1] = (uint16_t)v;
        if (next_tok(&p, e) != 1 || !KEY("id="))
            return 0;
        p += 3;
        if (!parse_num(&p, e, U16_MAX_, &v))
            return 0;
        r->l4[dir][2] = (uint16_t)v;
    }
    r->present |= dir ? P_L4_REPLY : P_L4_ORIG;
    *pp = p;
    return 1;
}

/* `packets=N bytes=N` at p (known to start with "packets="). */
static int parse_counters(const char **pp, const char *e, Row *r, int dir)
{
    const char *p = *pp + 8;
    uint64_t v;
    if (!parse_num(&p, e, U64_MAX_, &v))
        return 0;
    r->counters[2 * dir] = v;
    if (next_tok(&p, e) != 1 || !KEY("bytes="))
        return 0;
    p += 6;
    if (!parse_num(&p, e, U64_MAX_, &v))
        return 0;
    r->counters[2 * dir + 1] = v;
    r->present |= dir ? P_COUNTERS_REPLY : P_COUNTERS_ORIG;
    *pp = p;
    return 1;
}

/* 1 when [p, e) is one line of the common grammar (filled into r), 0 to decline it. */
static int parse_line(const char *p, const char *e, Row *r, const AddrDict *d)
{
    uint64_t v;
    int st, l3 = 0;
    memset(r, 0, offsetof(Row, addr));

    if (KEY("ipv4 ")) {
        l3 = 4;
        p += 4;
        if (next_tok(&p, e) != 1 || !TOKEN_IS("2"))
            return 0;
        p += 1;
        if (next_tok(&p, e) != 1)
            return 0;
    } else if (KEY("ipv6 ")) {
        l3 = 6;
        p += 4;
        if (next_tok(&p, e) != 1 || !TOKEN_IS("10"))
            return 0;
        p += 2;
        if (next_tok(&p, e) != 1)
            return 0;
    }

    const char *q = p;
    while (q < e && *q != ' ')
        q++;
    const Proto *proto = NULL;
    for (size_t i = 0; i < NPROTOS; i++) {
        if ((size_t)(q - p) == PROTOS[i].name_len && bytes_eq(p, PROTOS[i].name, PROTOS[i].name_len)) {
            proto = &PROTOS[i];
            break;
        }
    }
    if (!proto)
        return 0; /* gre, unknown, anything else */
    p = q;
    if (next_tok(&p, e) != 1)
        return 0;
    if ((size_t)(e - p) < proto->num_len || !bytes_eq(p, proto->num, proto->num_len))
        return 0;
    p += proto->num_len;
    if (next_tok(&p, e) != 1)
        return 0;
    r->protonum = proto->protonum;

    if ((unsigned char)(*p - '0') < 10) {
        if (!parse_num(&p, e, U32_MAX_, &v) || next_tok(&p, e) != 1)
            return 0;
        r->timeout = (uint32_t)v;
        r->present |= P_TIMEOUT;
    }
    if (*p >= 'A' && *p <= 'Z') {
        q = p;
        while (q < e && ((*q >= 'A' && *q <= 'Z') || (unsigned char)(*q - '0') < 10 || *q == '_'))
            q++;
        if (q - p > 0x7FFFFFFF)
            return 0;
        r->state.s = p;
        r->state.n = (uint32_t)(q - p);
        r->present |= P_STATE;
        p = q;
        if (next_tok(&p, e) != 1)
            return 0;
    }

    if (!parse_tuple(&p, e, r, 0, proto->l4, d) || next_tok(&p, e) != 1)
        return 0;
    if (KEY("zone-orig=")) {
        p += 10;
        if (!parse_num(&p, e, U16_MAX_, &v) || next_tok(&p, e) != 1)
            return 0;
        r->zone_orig = (uint16_t)v;
        r->present |= P_ZONE_ORIG;
    }
    if (KEY("packets=")) {
        if (!parse_counters(&p, e, r, 0) || next_tok(&p, e) != 1)
            return 0;
    }
    if (TOKEN_IS("[UNREPLIED]")) {
        p += 11;
        r->flags |= F_UNREPLIED;
        if (next_tok(&p, e) != 1)
            return 0;
    }
    if (!parse_tuple(&p, e, r, 1, proto->l4, d))
        return 0;
    if ((st = next_tok(&p, e)) < 0)
        return 0;

#define ADVANCE()                              \
    do {                                       \
        if ((st = next_tok(&p, e)) < 0)        \
            return 0;                          \
    } while (0)
#define OPT_NUM(lit, max, field, bit)                     \
    if (st && KEY(lit)) {                                 \
        p += sizeof(lit) - 1;                             \
        if (!parse_num(&p, e, max, &v))                   \
            return 0;                                     \
        r->field = v;                                     \
        r->present |= (bit);                              \
        ADVANCE();                                        \
    }
#define OPT_OPAQUE(lit, field, bit)           \
    if (st && KEY(lit)) {                     \
        p += sizeof(lit) - 1;                 \
        if (!parse_opaque(&p, e, &r->field))  \
            return 0;                         \
        r->present |= (bit);                  \
        ADVANCE();                            \
    }

    OPT_NUM("zone-reply=", U16_MAX_, zone_reply, P_ZONE_REPLY)
    if (st && KEY("packets=")) {
        if (!parse_counters(&p, e, r, 1))
            return 0;
        ADVANCE();
    }
    if (st && *p == '[') {
        if (TOKEN_IS("[ASSURED]")) {
            r->flags |= F_ASSURED;
            p += 9;
        } else if (TOKEN_IS("[OFFLOAD]")) {
            r->flags |= F_OFFLOAD;
            p += 9;
        } else if (TOKEN_IS("[HW_OFFLOAD]")) {
            r->flags |= F_HW_OFFLOAD;
            p += 12;
        } else {
            return 0;
        }
        ADVANCE();
    }
    OPT_NUM("mark=", U32_MAX_, mark, P_MARK)
    OPT_OPAQUE("secctx=", secctx, P_SECCTX)
    if (st && KEY("zone=")) {
        p += 5;
        if (!parse_num(&p, e, U16_MAX_, &v))
            return 0;
        r->zone = (uint16_t)v; /* no Present bit: an absent zone is zone 0 */
        ADVANCE();
    }
    OPT_NUM("delta-time=", U32_MAX_, delta, P_DELTA)
    OPT_OPAQUE("helper=", helper, P_HELPER)
    OPT_NUM("use=", U32_MAX_, use, P_USE)
    OPT_NUM("id=", U32_MAX_, id, P_ID)
    if (st)
        return 0; /* anything else, or a known token out of order */
#undef ADVANCE
#undef OPT_NUM
#undef OPT_OPAQUE

    /* One family for the whole line, agreeing with the L3 prefix when there is one. */
    int fam = r->addr[0].family;
    for (int i = 1; i < 4; i++)
        if (r->addr[i].family != fam)
            return 0;
    if (l3 && l3 != fam)
        return 0;
    r->family = (uint8_t)fam;
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* The parse loop                                                                          */

typedef struct {
    int64_t line_no;
    const char *s;
    size_t n;
} Declined;

typedef struct {
    AddrDict addresses;
    Dict states, secctxs, helpers;
    Declined *declined;
    size_t ndeclined, cap_declined;
    char *col[NCOLS];
    Py_ssize_t row0;     /* first row of this chunk's region in the columns */
    Py_ssize_t cap_rows; /* rows this chunk may write (its region does not overlap others) */
    Py_ssize_t rows;
    int has_counters;
    int error; /* 1 = out of memory, 2 = more rows than capacity */
} Ctx;

static int add_declined(Ctx *c, int64_t line_no, const char *s, size_t n)
{
    if (c->ndeclined == c->cap_declined) {
        size_t cap = c->cap_declined ? c->cap_declined * 2 : 256;
        Declined *d = realloc(c->declined, cap * sizeof *d);
        if (!d)
            return -1;
        c->declined = d;
        c->cap_declined = cap;
    }
    c->declined[c->ndeclined].line_no = line_no;
    c->declined[c->ndeclined].s = s;
    c->declined[c->ndeclined].n = n;
    c->ndeclined++;
    return 0;
}

#define COL(c, idx, type) ((type *)(c)->col[idx])

static int commit(Ctx *c, const Row *r, uint32_t line_no)
{
    uint32_t codes[4], state = 0, secctx = 0, helper = 0;
    int64_t k;
    for (int i = 0; i < 4; i++) {
        const Addr *a = &r->addr[i];
        /* A flow repeats its addresses (reply dst = orig src unless SNAT, ...): reuse. */
        int same = -1;
        for (int j = 0; j < i && same < 0; j++)
            if (r->addr[j].lo == a->lo && r->addr[j].hi == a->hi && r->addr[j].family == a->family)
                same = j;
        if (same >= 0) {
            codes[i] = codes[same];
            continue;
        }
        if ((k = addr_intern(&c->addresses, a->family, a->hi, a->lo, a->hash)) < 0)
            return -1;
        codes[i] = (uint32_t)k;
    }
    if (r->present & P_STATE) {
        if ((k = dict_intern(&c->states, r->state.s, r->state.n, hash_bytes(r->state.s, r->state.n))) < 0)
            return -1;
        state = (uint32_t)k;
    }
    if (r->present & P_SECCTX) {
        if ((k = dict_intern(&c->secctxs, r->secctx.s, r->secctx.n, hash_bytes(r->secctx.s, r->secctx.n))) < 0)
            return -1;
        secctx = (uint32_t)k;
    }
    if (r->present & P_HELPER) {
        if ((k = dict_intern(&c->helpers, r->helper.s, r->helper.n, hash_bytes(r->helper.s, r->helper.n))) < 0)
            return -1;
        helper = (uint32_t)k;
    }
    Py_ssize_t i = c->row0 + c->rows++;
    COL(c, C_LINE, uint32_t)[i] = line_no;
    COL(c, C_FAMILY, uint8_t)[i] = r->family;
    COL(c, C_PROTONUM, uint8_t)[i] = r->protonum;
    COL(c, C_FLAGS, uint8_t)[i] = r->flags;
    COL(c, C_PRESENT, uint16_t)[i] = r->present;
    COL(c, C_TIMEOUT, uint32_t)[i] = r->timeout;
    COL(c, C_STATE, uint32_t)[i] = state;
    COL(c, C_ORIG_SRC, uint32_t)[i] = codes[0];
    COL(c, C_ORIG_DST, uint32_t)[i] = codes[1];
    COL(c, C_REPLY_SRC, uint32_t)[i] = codes[2];
    COL(c, C_REPLY_DST, uint32_t)[i] = codes[3];
    COL(c, C_ZONE, uint16_t)[i] = r->zone;
    COL(c, C_ZONE_ORIG, uint16_t)[i] = r->zone_orig;
    COL(c, C_ZONE_REPLY, uint16_t)[i] = r->zone_reply;
    COL(c, C_MARK, uint32_t)[i] = r->mark;
    COL(c, C_USE, uint32_t)[i] = r->use;
    COL(c, C_ID, uint32_t)[i] = r->id;
    COL(c, C_DELTA, uint32_t)[i] = r->delta;
    COL(c, C_SECCTX, uint32_t)[i] = secctx;
    COL(c, C_HELPER, uint32_t)[i] = helper;
    memcpy(COL(c, C_ORIG_L4, uint16_t) + 3 * i, r->l4[0], 6);
    memcpy(COL(c, C_REPLY_L4, uint16_t) + 3 * i, r->l4[1], 6);
    if (r->present & (P_COUNTERS_ORIG | P_COUNTERS_REPLY)) {
        /* The counters column starts zeroed; rows without counters keep zeros. */
        memcpy(COL(c, C_COUNTERS, uint64_t) + 4 * i, r->counters, 32);
        c->has_counters = 1;
    }
    return 0;
}

static int is_blank(const char *s, const char *e)
{
    for (; s < e; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\v' && *s != '\f')
            return 0;
    return 1;
}

/* Start of the last non-blank line of buf (or NULL): a final line without `use=` may be
 * a truncated one, so it is declined for the reference parser to judge. */
static const char *last_line_start(const char *buf, size_t len)
{
    const char *end = buf + len;
    while (end > buf) {
        const char *line_end = end;
        if (line_end[-1] == '\n')
            line_end--;
        const char *s = line_end;
        while (s > buf && s[-1] != '\n')
            s--;
        if (!is_blank(s, line_end))
            return s;
        end = s;
    }
    return NULL;
}

static void run(Ctx *c, const char *buf, size_t len, int64_t first_line, const char *last)
{
    const char *p = buf, *end = buf + len;
    int64_t line_no = first_line;
    Row row;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (!is_blank(p, e)) {
            int ok = nl != NULL && line_no <= (int64_t)U32_MAX_ && parse_line(p, e, &row, &c->addresses);
            if (ok && p == last && !(row.present & P_USE))
                ok = 0;
            if (ok) {
                if (c->rows >= c->cap_rows) {
                    c->error = 2;
                    return;
                }
                if (commit(c, &row, (uint32_t)line_no) < 0) {
                    c->error = 1;
                    return;
                }
            } else if (add_declined(c, line_no, p, (size_t)(e - p)) < 0) {
                c->error = 1;
                return;
            }
        }
        line_no++;
        p = nl ? nl + 1 : end;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Chunks: the input is cut at line boundaries, each chunk parsed by its own thread into   */
/* its own row region with its own dictionaries, then merged into chunk 0 in order.        */

typedef struct {
    Ctx ctx;
    const char *buf;
    size_t len;
    int64_t first_line;
    const char *last;
} Chunk;

static size_t count_newlines(const char *p, const char *end)
{
    size_t n = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        n++;
        p = nl + 1;
    }
    return n;
}

#ifdef FP_THREADS
static void *chunk_main(void *arg)
{
    Chunk *k = arg;
    run(&k->ctx, k->buf, k->len, k->first_line, k->last);
    return NULL;
}
#endif

/* remap[i] = code in `into` of value i of `from` (inserted when new, so first-use order
 * holds: every row of `into`'s chunk precedes every row of `from`'s). */
static uint32_t *merge_dict(Dict *into, const Dict *from)
{
    uint32_t *remap = malloc(((size_t)from->n + 1) * sizeof *remap);
    if (!remap)
        return NULL;
    for (uint32_t i = 0; i < from->n; i++) {
        int64_t code = dict_intern(into, from->ptr[i], from->len[i], from->hash[i]);
        if (code < 0) {
            free(remap);
            return NULL;
        }
        remap[i] = (uint32_t)code;
    }
    return remap;
}

static uint32_t *merge_addresses(AddrDict *into, const AddrDict *from)
{
    uint32_t *remap = malloc(((size_t)from->n + 1) * sizeof *remap);
    if (!remap)
        return NULL;
    for (uint32_t i = 0; i < from->n; i++) {
        uint64_t hi = from->val[2 * i], lo = from->val[2 * i + 1];
        int64_t code = addr_intern(into, from->fam[i], hi, lo, addr_hash(from->fam[i], hi, lo));
        if (code < 0) {
            free(remap);
            return NULL;
        }
        remap[i] = (uint32_t)code;
    }
    return remap;
}

/* Append chunk `k`'s rows right after chunk 0's, recoding its dictionary codes. */
static int merge_chunk(Ctx *c0, Ctx *k)
{
    uint32_t *remap[4] = {NULL, NULL, NULL, NULL};
    Dict *into[3] = {&c0->states, &c0->secctxs, &c0->helpers};
    const Dict *from[3] = {&k->states, &k->secctxs, &k->helpers};
    int rc = -1;
    if (!(remap[0] = merge_addresses(&c0->addresses, &k->addresses)))
        goto out;
    for (int d = 0; d < 3; d++)
        if (!(remap[d + 1] = merge_dict(into[d], from[d])))
            goto out;
    Py_ssize_t dst = c0->row0 + c0->rows, src = k->row0, n = k->rows;
    for (int col = 0; dst != src && col < NCOLS; col++) {
        char *base = c0->col[col];
        size_t width = (size_t)COL_ROW_BYTES[col];
        if (col == C_COUNTERS && !k->has_counters) {
            /* The counters column is mostly untouched zero pages: do not move zeros, only
             * clear the target when earlier rows may have left counters there. */
            if (c0->has_counters)
                memset(base + (size_t)dst * width, 0, (size_t)n * width);
            continue;
        }
        memmove(base + (size_t)dst * width, base + (size_t)src * width, (size_t)n * width);
    }
    const uint16_t *present = COL(c0, C_PRESENT, uint16_t);
    static const int addr_cols[4] = {C_ORIG_SRC, C_ORIG_DST, C_REPLY_SRC, C_REPLY_DST};
    for (int a = 0; a < 4; a++) {
        uint32_t *codes = COL(c0, addr_cols[a], uint32_t);
        for (Py_ssize_t i = dst; i < dst + n; i++)
            codes[i] = remap[0][codes[i]];
    }
    static const int opt_cols[3] = {C_STATE, C_SECCTX, C_HELPER};
    static const uint16_t opt_bits[3] = {P_STATE, P_SECCTX, P_HELPER};
    for (int o = 0; o < 3; o++) {
        uint32_t *codes = COL(c0, opt_cols[o], uint32_t);
        for (Py_ssize_t i = dst; i < dst + n; i++)
            if (present[i] & opt_bits[o])
                codes[i] = remap[o + 1][codes[i]];
    }
    c0->rows += n;
    c0->has_counters |= k->has_counters;
    rc = 0;
out:
    for (int d = 0; d < 4; d++)
        free(remap[d]);
    return rc;
}

/* Parse buf[0:len] in `nchunks` pieces (threads when available). Results land in chunks[0],
 * except the declined lines, which stay per chunk (in line order chunk after chunk). */
static void run_chunks(Chunk *chunks, int nchunks, const char *buf, size_t len, int64_t first_line)
{
    const char *last = last_line_start(buf, len);
    const char *end = buf + len, *p = buf;
    Py_ssize_t row0 = 0, cap = chunks[0].ctx.cap_rows;
    int64_t line = first_line;
    for (int i = 0; i < nchunks; i++) {
        const char *stop = end;
        if (i < nchunks - 1) {
            const char *target = buf + (len / (size_t)nchunks) * (size_t)(i + 1);
            if (target < p)
                target = p;
            const char *nl = target < end ? memchr(target, '\n', (size_t)(end - target)) : NULL;
            stop = nl ? nl + 1 : end;
        }
        size_t lines = i < nchunks - 1 ? count_newlines(p, stop) : 0;
        Chunk *k = &chunks[i];
        k->buf = p;
        k->len = (size_t)(stop - p);
        k->first_line = line;
        k->last = last;
        k->ctx.row0 = row0;
        /* Each chunk may fill one row per line it holds; the last takes what is left. */
        k->ctx.cap_rows = i < nchunks - 1 ? ((Py_ssize_t)lines < cap - row0 ? (Py_ssize_t)lines : cap - row0)
                                          : cap - row0;
        row0 += k->ctx.cap_rows;
        line += (int64_t)lines;
        p = stop;
    }
#ifdef FP_THREADS
    pthread_t tids[MAX_CHUNKS];
    int started[MAX_CHUNKS] = {0};
    for (int i = 1; i < nchunks; i++)
        started[i] = pthread_create(&tids[i], NULL, chunk_main, &chunks[i]) == 0;
    run(&chunks[0].ctx, chunks[0].buf, chunks[0].len, chunks[0].first_line, chunks[0].last);
    for (int i = 1; i < nchunks; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        else
            run(&chunks[i].ctx, chunks[i].buf, chunks[i].len, chunks[i].first_line, chunks[i].last);
    }
#else
    for (int i = 0; i < nchunks; i++)
        run(&chunks[i].ctx, chunks[i].buf, chunks[i].len, chunks[i].first_line, chunks[i].last);
#endif
    for (int i = 0; i < nchunks; i++) {
        if (chunks[i].ctx.error) {
            chunks[0].ctx.error = chunks[i].ctx.error;
            return;
        }
    }
    for (int i = 1; i < nchunks; i++) {
        if (merge_chunk(&chunks[0].ctx, &chunks[i].ctx) < 0) {
            chunks[0].ctx.error = 1;
            return;
        }
    }
}

static PyObject *dict_to_list(const Dict *d)
{
    PyObject *list = PyList_New(d->n);
    if (!list)
        return NULL;
    for (uint32_t i = 0; i < d->n; i++) {
        PyObject *s = PyUnicode_DecodeASCII(d->ptr[i], d->len[i], "strict");
        if (!s) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, s);
    }
    return list;
}

/* The canonical texts of the addresses from code `base` on, in code order. */
static PyObject *addresses_to_list(const AddrDict *d, uint32_t base)
{
    PyObject *list = PyList_New(d->n - base);
    if (!list)
        return NULL;
    char text[64];
    for (uint32_t i = base; i < d->n; i++) {
        size_t n = d->fam[i] == 4 ? format_ipv4((uint32_t)d->val[2 * i + 1], text)
                                  : format_ipv6(d->val[2 * i], d->val[2 * i + 1], text);
        PyObject *s = PyUnicode_New((Py_ssize_t)n, 127);
        if (!s) {
            Py_DECREF(list);
            return NULL;
        }
        memcpy(PyUnicode_1BYTE_DATA(s), text, n);
        PyList_SET_ITEM(list, i - base, s);
    }
    return list;
}

static PyObject *declined_to_list(const Chunk *chunks, int nchunks)
{
    size_t total = 0;
    for (int k = 0; k < nchunks; k++)
        total += chunks[k].ctx.ndeclined;
    PyObject *list = PyList_New((Py_ssize_t)total);
    if (!list)
        return NULL;
    Py_ssize_t j = 0;
    for (int k = 0; k < nchunks; k++) {
        const Ctx *c = &chunks[k].ctx;
        for (size_t i = 0; i < c->ndeclined; i++) {
            const Declined *d = &c->declined[i];
            PyObject *text = PyUnicode_DecodeUTF8(d->s, (Py_ssize_t)d->n, "replace");
            PyObject *item = text ? Py_BuildValue("(LN)", (long long)d->line_no, text) : NULL;
            if (!item) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, j++, item);
        }
    }
    return list;
}

/* ------------------------------------------------------------------------------------ */
/* An address dictionary kept across parse() calls (the blocks of one streamed listing), so */
/* codes are global and nothing is merged in Python afterwards. Held in a capsule.          */

#define SHARED_NAME "ctdiag.parse._fastparse.AddressDict"

typedef struct {
    AddrDict d;
    int busy;   /* a parse() is using it (the GIL is released meanwhile) */
    int broken; /* a parse() failed half-way: its codes may stand for rows never returned */
} SharedAddr;

static void shared_destructor(PyObject *capsule)
{
    SharedAddr *s = PyCapsule_GetPointer(capsule, SHARED_NAME);
    if (s) {
        addr_free(&s->d);
        free(s);
    }
}

PyDoc_STRVAR(address_dict_doc,
"address_dict() -> capsule\n\n"
"An empty address dictionary for parse(..., addresses=it): calls that share one number\n"
"addresses in first-use order over all their data, and each returns only its new ones.");

static PyObject *fp_address_dict(PyObject *self, PyObject *noargs)
{
    (void)self, (void)noargs;
    SharedAddr *s = calloc(1, sizeof *s);
    if (!s || addr_init(&s->d) < 0) {
        if (s)
            addr_free(&s->d);
        free(s);
        return PyErr_NoMemory();
    }
    PyObject *capsule = PyCapsule_New(s, SHARED_NAME, shared_destructor);
    if (!capsule) {
        addr_free(&s->d);
        free(s);
    }
    return capsule;
}

PyDoc_STRVAR(parse_doc,
"parse(data, first_line, capacity, columns, threads=1, min_chunk=4 MiB, addresses=None)\n"
"-> (rows,\n"
"has_counters, declined, addresses, states, secctxs, helpers)\n\n"
"Fill `columns` (a tuple of writable C-contiguous buffers, in fast.py's column order, each\n"
"sized for `capacity` rows) from the lines of `data`. Returns the number of rows written,\n"
"whether any row had counters, the declined lines as (line_no, text), and the distinct raw\n"
"values of each dictionary in code order (addresses in the reference parser's text form).\n"
"With threads > 1, data of at least 2 x min_chunk bytes is cut at line boundaries into\n"
"up to `threads` chunks parsed in parallel, then merged in order: same result.\n"
"With `addresses` (from address_dict()), address codes continue that dictionary and the\n"
"addresses returned are the ones this call added.");

static void free_chunk(Chunk *k)
{
    addr_free(&k->ctx.addresses);
    dict_free(&k->ctx.states);
    dict_free(&k->ctx.secctxs);
    dict_free(&k->ctx.helpers);
    free(k->ctx.declined);
}

static PyObject *fp_parse(PyObject *self, PyObject *args)
{
    Py_buffer data, views[NCOLS];
    long long first_line;
    Py_ssize_t cap, min_chunk = 4 << 20;
    int threads = 1, nchunks = 1, nviews = 0;
    PyObject *cols, *result = NULL, *shared_obj = Py_None;
    SharedAddr *shared = NULL;
    uint32_t base = 0; /* the first address code this call may add */
    int adopted = 0;   /* chunk 0 holds the shared dictionary */
    Chunk chunks[MAX_CHUNKS];
    (void)self;
    memset(chunks, 0, sizeof chunks);
    if (!PyArg_ParseTuple(args, "y*LnO!|inO", &data, &first_line, &cap, &PyTuple_Type, &cols, &threads,
                          &min_chunk, &shared_obj))
        return NULL;
    if (shared_obj != Py_None) {
        shared = PyCapsule_GetPointer(shared_obj, SHARED_NAME);
        if (!shared)
            goto done;
        if (shared->busy || shared->broken) {
            PyErr_SetString(PyExc_RuntimeError, shared->busy ? "address dictionary in use by another parse"
                                                             : "address dictionary left broken by a failed parse");
            shared = NULL;
            goto done;
        }
    }
    if (first_line < 0 || cap < 0 || cap > PY_SSIZE_T_MAX / 32) {
        PyErr_SetString(PyExc_ValueError, "first_line and capacity must be >= 0");
        goto done;
    }
    if (PyTuple_GET_SIZE(cols) != NCOLS) {
        PyErr_Format(PyExc_ValueError, "expected %d columns", NCOLS);
        goto done;
    }
    for (; nviews < NCOLS; nviews++) {
        Py_buffer *v = &views[nviews];
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(cols, nviews), v, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        if (v->itemsize != COL_ITEMSIZE[nviews] || v->len != cap * COL_ROW_BYTES[nviews]) {
            nviews++;
            PyErr_Format(PyExc_ValueError, "column %d has the wrong size or item size", nviews - 1);
            goto done;
        }
    }
    if (min_chunk < 1)
        min_chunk = 1;
    while (nchunks < threads && nchunks < MAX_CHUNKS && data.len / (nchunks + 1) >= min_chunk)
        nchunks++;
    for (int k = 0; k < nchunks; k++) {
        Ctx *c = &chunks[k].ctx;
        for (int i = 0; i < NCOLS; i++)
            c->col[i] = views[i].buf;
        if (addr_init(&c->addresses) < 0 || dict_init(&c->states) < 0 || dict_init(&c->secctxs) < 0 ||
            dict_init(&c->helpers) < 0) {
            PyErr_NoMemory();
            goto done;
        }
    }
    chunks[0].ctx.cap_rows = cap;
    if (shared) {
        /* Chunk 0 works on the shared dictionary itself; it is handed back right after. */
        addr_free(&chunks[0].ctx.addresses);
        chunks[0].ctx.addresses = shared->d;
        base = shared->d.n;
        shared->busy = 1;
        adopted = 1;
    }

    Py_BEGIN_ALLOW_THREADS
    run_chunks(chunks, nchunks, data.buf, (size_t)data.len, first_line);
    Py_END_ALLOW_THREADS

    Ctx *c = &chunks[0].ctx;
    if (shared) {
        shared->d = c->addresses;
        shared->busy = 0;
        shared->broken = c->error != 0;
    }
    if (c->error == 1) {
        PyErr_NoMemory();
        goto done;
    }
    if (c->error == 2) {
        PyErr_SetString(PyExc_ValueError, "more lines than the capacity given");
        goto done;
    }
    {
        PyObject *parts[5] = {declined_to_list(chunks, nchunks), addresses_to_list(&c->addresses, base), NULL,
                              NULL, NULL};
        const Dict *dicts[3] = {&c->states, &c->secctxs, &c->helpers};
        int ok = parts[0] != NULL && parts[1] != NULL;
        for (int i = 0; ok && i < 3; i++)
            ok = (parts[i + 2] = dict_to_list(dicts[i])) != NULL;
        if (ok)
            result = Py_BuildValue("(nOOOOOO)", c->rows, c->has_counters ? Py_True : Py_False, parts[0],
                                   parts[1], parts[2], parts[3], parts[4]);
        for (int i = 0; i < 5; i++)
            Py_XDECREF(parts[i]);
    }
done:
    if (adopted) /* not chunk 0's to free */
        memset(&chunks[0].ctx.addresses, 0, sizeof chunks[0].ctx.addresses);
    for (int i = 0; i < nviews; i++)
        PyBuffer_Release(&views[i]);
    PyBuffer_Release(&data);
    for (int k = 0; k < MAX_CHUNKS; k++)
        free_chunk(&chunks[k]);
    return result;
}

PyDoc_STRVAR(count_lines_doc,
"count_lines(data) -> int\n\nNumber of lines in data: newlines, plus one for an unterminated tail.");

static PyObject *fp_count_lines(PyObject *self, PyObject *args)
{
    Py_buffer data;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &data))
        return NULL;
    Py_ssize_t n = 0;
    const char *p = data.buf, *end = p + data.len;
    Py_BEGIN_ALLOW_THREADS
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        n++;
        p = nl ? nl + 1 : end;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(n);
}

PyDoc_STRVAR(line_starts_with_doc,
"line_starts_with(data, prefixes) -> bool\n\n"
"Whether a line of data (at its start or after a newline) begins with one of the bytes\n"
"objects in the tuple prefixes (empty ones are ignored). One memchr pass.");

static PyObject *fp_line_starts_with(PyObject *self, PyObject *args)
{
    Py_buffer data;
    PyObject *prefixes;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*O!", &data, &PyTuple_Type, &prefixes))
        return NULL;
    enum { MAXPREFIX = 16 };
    const char *ps[MAXPREFIX];
    Py_ssize_t pn[MAXPREFIX];
    unsigned char first[256] = {0};
    Py_ssize_t np = PyTuple_GET_SIZE(prefixes), k = 0;
    if (np > MAXPREFIX) {
        PyBuffer_Release(&data);
        PyErr_Format(PyExc_ValueError, "at most %d prefixes", MAXPREFIX);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < np; i++) {
        PyObject *item = PyTuple_GET_ITEM(prefixes, i);
        if (!PyBytes_Check(item)) {
            PyBuffer_Release(&data);
            PyErr_SetString(PyExc_TypeError, "prefixes must be bytes");
            return NULL;
        }
        if (PyBytes_GET_SIZE(item) == 0)
            continue;
        ps[k] = PyBytes_AS_STRING(item);
        pn[k] = PyBytes_GET_SIZE(item);
        first[(unsigned char)ps[k][0]] = 1;
        k++;
    }
    int found = 0;
    const char *p = data.buf, *end = p + data.len;
    Py_BEGIN_ALLOW_THREADS
    while (p < end && !found) {
        if (first[(unsigned char)*p]) {
            for (Py_ssize_t i = 0; i < k && !found; i++)
                found = end - p >= pn[i] && memcmp(p, ps[i], (size_t)pn[i]) == 0;
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyBool_FromLong(found);
}

static PyMethodDef methods[] = {
    {"parse", fp_parse, METH_VARARGS, parse_doc},
    {"count_lines", fp_count_lines, METH_VARARGS, count_lines_doc},
    {"address_dict", fp_address_dict, METH_NOARGS, address_dict_doc},
    {"line_starts_with", fp_line_starts_with, METH_VARARGS, line_starts_with_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ctdiag.parse._fastparse",
    "Strict C parser for the common conntrack line grammar (see ctdiag/parse/fast.py).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastparse(void)
{
    init_hex();
    if (!hash_seed) /* before any dictionary exists: shared ones outlive a parse() call */
        hash_seed = (((uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(uintptr_t)&hash_seed) | 1;
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "NCOLS", NCOLS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
