/* bench/alloc_count.c - a malloc interposer for LD_PRELOAD that counts heap allocations.
   Every call of malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc
   and pvalloc adds one (any thread; an atomic add), then goes to glibc's own allocator
   (__libc_*), so behaviour is unchanged. free is not counted. A benchmark program reads
   the total through bench_alloc_count(), looked up with dlsym, at the start and the end of
   its measured phase: the difference is the allocations of that phase, libraries and
   their threads included. Built with -shared -fPIC; glibc only. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

static unsigned long count;

static void counted(void) { __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED); }

unsigned long bench_alloc_count(void) { return __atomic_load_n(&count, __ATOMIC_RELAXED); }

void *malloc(size_t n) { counted(); return __libc_malloc(n); }
void *calloc(size_t n, size_t size) { counted(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t n) { counted(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }

void *memalign(size_t align, size_t n) { counted(); return __libc_memalign(align, n); }
void *aligned_alloc(size_t align, size_t n) { counted(); return __libc_memalign(align, n); }
void *valloc(size_t n) { counted(); return __libc_memalign(4096, n); }
void *pvalloc(size_t n) { counted(); return __libc_memalign(4096, (n + 4095) & ~(size_t)4095); }

int posix_memalign(void **out, size_t align, size_t n) {
    if (align < sizeof(void *) || (align & (align - 1))) return EINVAL;
    counted();
    void *p = __libc_memalign(align, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
