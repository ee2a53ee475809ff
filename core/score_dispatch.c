/* Chooses the BM25 kernel once at start-up: a const table of the variants
 * (name, function, support check) and CPU detection with cpuid and xgetbv,
 * so a variant is used only if the CPU has the instructions AND the OS saves
 * the registers they use. Compiled for the baseline CPU. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ks_score.h"

#ifdef __AVX2__
#error "score_dispatch.c must be compiled for the baseline CPU (no -mavx2/-march=native): it runs before the CPU is checked"
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KS_X86 1

/* XCR0 (the state components the OS saves on context switch); only valid
 * when CPUID.1:ECX.OSXSAVE[27] is set. Raw opcode-free asm, so this file
 * needs no -mxsave. */
static uint64_t xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Feature bits, read once. */
typedef struct cpu_features {
    int sse42, avx2, avx512f;
} cpu_features;

static cpu_features detect(void)
{
    cpu_features f = { 0, 0, 0 };
    unsigned a, b, c, d;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d))
        return f;
    f.sse42 = (c & bit_SSE4_1) && (c & bit_SSE4_2); /* SSE state: always saved on x86-64 (FXSR) */
    int osxsave = (c & bit_OSXSAVE) && (c & bit_AVX);
    uint64_t x = osxsave ? xcr0() : 0;
    int os_avx = (x & 0x6) == 0x6;        /* XMM (bit 1) and YMM (bit 2) state */
    int os_avx512 = (x & 0xe6) == 0xe6;   /* plus opmask, ZMM0-15 upper, ZMM16-31 (bits 5-7) */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return f;
    f.avx2 = os_avx && (b & bit_AVX2);
    f.avx512f = os_avx && os_avx512 && (b & bit_AVX512F);
    return f;
}

static cpu_features features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

static void detect_once(void)
{
    features = detect();
}

static int cpu_has(ks_simd v)
{
    pthread_once(&features_once, detect_once); /* safe even if a thread asks first */
    const cpu_features f = features;
    switch (v) {
    case KS_SIMD_SSE4: return f.sse42;
    case KS_SIMD_AVX2: return f.avx2;
    case KS_SIMD_AVX512: return f.avx512f;
    default: return 0;
    }
}
#endif

static int has_scalar(void) { return 1; }
#ifdef KS_X86
static int has_sse4(void) { return cpu_has(KS_SIMD_SSE4); }
#endif
#if defined(KS_X86) && defined(KS_HAVE_AVX2_TARGET)
static int has_avx2(void) { return cpu_has(KS_SIMD_AVX2); }
#endif
#if defined(KS_X86) && defined(KS_HAVE_AVX512_TARGET)
static int has_avx512(void) { return cpu_has(KS_SIMD_AVX512); }
#endif

/* A variant that is not built has fn == NULL and supported == NULL. */
typedef struct variant {
    const char *name;
    ks_score_fn fn;
    int (*supported)(void);
} variant;

static const variant variants[KS_SIMD_COUNT] = {
    [KS_SIMD_SCALAR] = { "scalar", ks_score_block_scalar, has_scalar },
#ifdef KS_X86
    [KS_SIMD_SSE4] = { "sse4", ks_score_block_sse4, has_sse4 },
#else
    [KS_SIMD_SSE4] = { "sse4", NULL, NULL },
#endif
#if defined(KS_X86) && defined(KS_HAVE_AVX2_TARGET)
    [KS_SIMD_AVX2] = { "avx2", ks_score_block_avx2, has_avx2 },
#else
    [KS_SIMD_AVX2] = { "avx2", NULL, NULL },
#endif
#if defined(KS_X86) && defined(KS_HAVE_AVX512_TARGET)
    [KS_SIMD_AVX512] = { "avx512", ks_score_block_avx512, has_avx512 },
#else
    [KS_SIMD_AVX512] = { "avx512", NULL, NULL },
#endif
};

static ks_simd selected = KS_SIMD_SCALAR;

int ks_score_supported(ks_simd v)
{
    if ((unsigned)v >= KS_SIMD_COUNT || !variants[v].fn)
        return 0;
    return variants[v].supported();
}

const char *ks_simd_name(ks_simd v)
{
    return (unsigned)v < KS_SIMD_COUNT ? variants[v].name : "unknown";
}

ks_score_fn ks_score_variant(ks_simd v)
{
    return ks_score_supported(v) ? variants[v].fn : NULL;
}

int ks_score_select(const char *force, ks_errbuf *eb)
{
    if (!force || !*force || strcmp(force, "auto") == 0) {
        for (int v = KS_SIMD_COUNT - 1; v >= 0; v--)
            if (ks_score_supported((ks_simd)v)) {
                selected = (ks_simd)v;
                return 0;
            }
        selected = KS_SIMD_SCALAR; /* unreachable: scalar is always supported */
        return 0;
    }
    for (int v = 0; v < KS_SIMD_COUNT; v++) {
        if (strcmp(force, variants[v].name) != 0)
            continue;
        if (!variants[v].fn)
            return ks_seterr(eb, KS_EUNSUPPORTED,
                             "SIMD variant '%s' is not built: the compiler cannot target it on this platform",
                             force);
        if (!variants[v].supported())
            return ks_seterr(eb, KS_EUNSUPPORTED, "SIMD variant '%s' is not supported by this CPU or OS", force);
        selected = (ks_simd)v;
        return 0;
    }
    return ks_seterr(eb, KS_EINVAL, "unknown SIMD variant '%s' (expected auto, scalar, sse4, avx2 or avx512)",
                     force);
}

const char *ks_score_env(void)
{
    return getenv("KOSEARCH_SIMD");
}

ks_score_fn ks_score_get(void)
{
    return variants[selected].fn;
}

const char *ks_score_name(void)
{
    return variants[selected].name;
}
