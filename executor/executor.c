/*
 * jitlink-executor: runs code that jitlink links in another process.
 *
 * jitlink starts this program with a socket on the file descriptor given by `--fd N` and talks
 * to it over that socket only, so the linked program keeps stdin, stdout and stderr. The same
 * source is built for the host (by build.rs) and for other architectures by their cross
 * compilers (run under qemu-user); it depends on nothing but the C library.
 *
 * Protocol: every request is a header {u32 op, u32 length} followed by `length` bytes; every
 * reply is {u32 status, u32 length} and `length` bytes, status 0 for success, otherwise an
 * errno value and a message. All integers are little-endian (both supported targets are).
 * Requests are listed in `enum op`; src/executor/mod.rs is the other side. The first request
 * must be OP_HELLO carrying HELLO_MAGIC; anything else, an unknown request or a length over its
 * bound ends the executor with status 2 (the stream cannot be resynchronized). While the program
 * runs, the executor also sends *events* of its own (a lazy function's first call, a hot counter:
 * see "Re-entry" below), frames whose status word has EVENT_FLAG set.
 *
 * `--listen HOST:PORT` serves one TCP connection instead: this process (the supervisor) accepts
 * it, starts itself again as the serving child with the connection as `--fd` (in a process
 * group of its own, killed if the supervisor dies), waits for it, sends jitlink one frame
 * {END_FRAME, 4, u32 wait status}, and exits with the program's status (128 + signal if it was
 * killed). If the connection drops while the program runs, the child ends itself, the
 * supervisor kills whatever is left in the group and exits with status 1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern char **environ;
extern void __register_frame(const void *begin);
extern void __deregister_frame(const void *begin);

enum op {
    OP_HELLO = 1,     /* -> u32 e_machine, u32 page size, u64 address inside the C library,
                         u64 address of the resolver for static TLS descriptors */
    OP_LOOKUP = 2,    /* NUL-terminated names -> u64 address per name (0: not found) */
    OP_RESERVE = 3,   /* u64 size, u64 hint, u64 flags (1: below 2 GiB) -> u64 base of new
                         read-write memory */
    OP_WRITE = 4,     /* u64 address, bytes */
    OP_PROTECT = 5,   /* u64 address, u64 length, u32 protection (1 r, 2 w, 4 x; never w|x) */
    OP_REGISTER_EH = 6,   /* u64 address of a terminated .eh_frame */
    OP_DEREGISTER_EH = 7, /* u64 address */
    OP_SET_ARGS = 8,  /* NUL-terminated arguments, argv[0] first */
    OP_RUN_INITS = 9, /* u64 function addresses, called as f(argc, argv, envp) */
    OP_CALL = 10,     /* u64 function, up to six u64 arguments -> u64 result */
    OP_RUN_MAIN = 11, /* u64 entry: replies, then serves requests on a thread while the main
                         thread runs exit(entry(argc, argv, envp)) */
    OP_WRITE_U64 = 12, /* u64 address, u64 value: one release-ordered atomic store */
    OP_RELEASE = 13,  /* u64 address, u64 length: unmaps */
    OP_REGISTER_FINIS = 14, /* u64 dso handle, u64 functions in the order they run at exit */
    OP_DESCRIBE = 15, /* u64 address -> u64 size, u32 is-function, u32 is-writable of the
                         dynamic symbol starting there; for code that no symbol starts at,
                         size 0 and is-function (ENOENT if neither) */
    OP_READ = 16,     /* u64 address, u64 length -> the bytes */
    OP_LOAD_TLS = 17, /* a shared object holding a PT_TLS segment -> u64 its load bias */
    OP_LOAD_GLOBAL = 18, /* a shared object, loaded RTLD_GLOBAL (its symbols become visible to
                            objects loaded later) -> u64 its load bias */
    OP_TRAMPOLINES = 19, /* u32 kind (TRAMP_REENTRY, TRAMP_COUNTING), u32 count (at most
                            MAX_TRAMPOLINES), u64 threshold, then for counting trampolines one u64
                            target each -> u64 code of the first, u64 code stride, u64 record of
                            the first, u64 record stride (see "Re-entry" below) */
    OP_RESUME = 20,   /* u64 record, u64 address: answers the event of that trampoline, whose
                         callers continue at the address; 0 and a message: jitlink could not
                         link what was called (the message is printed, the program aborts) */
};

/* The TLS descriptor resolver for blocks in static TLS: the descriptor's second word is the
   offset from the thread pointer, returned as the descriptor ABI requires (in %rax / x0, every
   other register preserved). */
#if defined(__x86_64__)
__asm__(".text\n"
        ".type jitlink_tlsdesc_static, @function\n"
        "jitlink_tlsdesc_static:\n"
        "    movq 8(%rax), %rax\n"
        "    ret\n"
        ".size jitlink_tlsdesc_static, . - jitlink_tlsdesc_static\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".type jitlink_tlsdesc_static, %function\n"
        "jitlink_tlsdesc_static:\n"
        "    ldr x0, [x0, #8]\n"
        "    ret\n"
        ".size jitlink_tlsdesc_static, . - jitlink_tlsdesc_static\n");
#elif defined(__riscv) && __riscv_xlen == 64
/* RISC-V: a0 points at the descriptor and the return address is in t0. */
__asm__(".text\n"
        ".type jitlink_tlsdesc_static, %function\n"
        "jitlink_tlsdesc_static:\n"
        "    ld a0, 8(a0)\n"
        "    jr t0\n"
        ".size jitlink_tlsdesc_static, . - jitlink_tlsdesc_static\n");
#endif
void jitlink_tlsdesc_static(void);

/* glibc places a dlopened TLS block in static TLS only if its alignment is at most that of the
   blocks the process started with. This variable raises that to 64 bytes (a cache line), the
   alignment compilers give over-aligned thread-locals; x86-64's thread descriptor has it anyway. */
static _Thread_local _Alignas(64) char tls_alignment_anchor[1] __attribute__((used));

extern int __cxa_atexit(void (*f)(void *), void *arg, void *dso);

#define MAX_PAYLOAD (1u << 30)
/* The most trampolines one OP_TRAMPOLINES makes: code and records then lie within 1 MiB of each
   other, in reach of aarch64's ADR. */
#define MAX_TRAMPOLINES 4096
/* The payload of OP_HELLO: the protocol's name and version. */
#define HELLO_MAGIC "jitlink-executor/1"
/* The status word of the supervisor's last frame. */
#define END_FRAME 0x454e4421u

/* The largest payload a request may carry, or -1 for an unknown request. */
static int64_t max_len(uint32_t op) {
    switch (op) {
    case OP_HELLO: return sizeof HELLO_MAGIC - 1;
    case OP_RESERVE: return 24;
    case OP_PROTECT: return 20;
    case OP_REGISTER_EH: case OP_DEREGISTER_EH: case OP_RUN_MAIN: case OP_DESCRIBE: return 8;
    case OP_WRITE_U64: case OP_RELEASE: case OP_READ: return 16;
    case OP_CALL: return 56;
    case OP_LOOKUP: case OP_SET_ARGS: case OP_RUN_INITS: case OP_REGISTER_FINIS: return 64u << 20;
    case OP_WRITE: case OP_LOAD_TLS: case OP_LOAD_GLOBAL: return MAX_PAYLOAD;
    case OP_TRAMPOLINES: return 16 + 8 * MAX_TRAMPOLINES;
    case OP_RESUME: return 16 + 1024;
    default: return -1;
    }
}

static int chan = -1;
static int prog_argc;
static char **prog_argv;

/* Reads (`writing` 0) or writes all `n` bytes at `p` on the channel; -1 if it closed. */
static int transfer(void *p, size_t n, int writing) {
    char *c = p;
    while (n > 0) {
        ssize_t r = writing ? write(chan, c, n) : read(chan, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static int read_full(void *p, size_t n) { return transfer(p, n, 0); }
static int write_full(const void *p, size_t n) { return transfer((void *)p, n, 1); }

static pthread_mutex_t reply_lock = PTHREAD_MUTEX_INITIALIZER;

static int reply(uint32_t status, const void *data, uint32_t len) {
    uint32_t h[2] = {status, len};
    pthread_mutex_lock(&reply_lock);
    int r = write_full(h, sizeof h) || (len && write_full(data, len)) ? -1 : 0;
    pthread_mutex_unlock(&reply_lock);
    return r;
}

static int fail(int err, const char *what) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
    return reply((uint32_t)(err ? err : EINVAL), msg, (uint32_t)strlen(msg));
}

static uint64_t get64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Splits NUL-terminated strings; returns their count and fills `out` when given. */
static size_t split(const uint8_t *p, uint32_t len, char **out) {
    size_t n = 0;
    uint32_t start = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (p[i] == 0) {
            if (out)
                out[n] = (char *)p + start;
            n++;
            start = i + 1;
        }
    }
    return n;
}

/* The protection of the mapping holding `addr` (1 r, 2 w, 4 x), -1 if none or unknown. */
static int prot_of(uint64_t addr) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[512];
    int prot = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long long lo, hi;
        char perms[5];
        if (sscanf(line, "%llx-%llx %4s", &lo, &hi, perms) == 3 && addr >= lo && addr < hi) {
            prot = (perms[0] == 'r' ? 1 : 0) | (perms[1] == 'w' ? 2 : 0) | (perms[2] == 'x' ? 4 : 0);
            break;
        }
    }
    fclose(f);
    return prot;
}

/* True if `addr` lies in a writable mapping (or one that cannot be told). */
static int writable(uint64_t addr) {
    int p = prot_of(addr);
    return p < 0 || (p & 2);
}

/* True if code may be called at `addr`: a request never jumps outside executable memory. */
static int executable(uint64_t addr) {
    int p = prot_of(addr);
    return p >= 0 && (p & 4);
}

/* Memory this executor reserved for jitlink: the only memory requests write, protect, unmap
   or register unwind information in. */
#define MAX_REGIONS 4096
static struct {
    uint64_t base, size;
} regions[MAX_REGIONS];
static int nregions;
static uint64_t frames[MAX_REGIONS];
static int nframes;

static int reserved(uint64_t addr, uint64_t len) {
    for (int i = 0; i < nregions; i++)
        if (addr >= regions[i].base && len <= regions[i].size &&
            addr - regions[i].base <= regions[i].size - len)
            return 1;
    return 0;
}

/* Copies through a pipe, so that an address the peer got wrong is EFAULT, not a crash. */
static int copy_pipe[2] = {-1, -1};
static int safe_copy(void *dst, const void *src, size_t n) {
    if (copy_pipe[0] < 0 && pipe2(copy_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
        return -1;
    char *d = dst;
    const char *s = src;
    while (n > 0) {
        ssize_t w = write(copy_pipe[1], s, n < 65536 ? n : 65536);
        if (w <= 0)
            return -1;
        ssize_t r = read(copy_pipe[0], d, (size_t)w);
        if (r != w) {
            char scratch[4096];
            while (read(copy_pipe[0], scratch, sizeof scratch) > 0) {
            }
            return -1;
        }
        d += w;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static uint16_t machine(void) {
#if defined(__x86_64__)
    return EM_X86_64;
#elif defined(__aarch64__)
    return EM_AARCH64;
#elif defined(__riscv) && __riscv_xlen == 64
    return EM_RISCV;
#else
#error "unsupported architecture"
#endif
}

/*
 * Re-entry: lazy linking and re-optimization with the program in this process.
 *
 * OP_TRAMPOLINES makes trampolines here: code (r-x) followed by one 64-byte record (rw-) per
 * trampoline. A trampoline puts its record's address in the architecture's scratch register
 * (x86-64 r11, aarch64 x16, riscv64 t5: none carries an argument) and jumps to the record's `resolver`
 * word, jitlink_executor_reenter; a counting trampoline first adds one to its record's counter
 * (atomically) and goes to its `target` unless that call brought the counter to zero.
 * jitlink_executor_reenter saves the argument registers, calls reenter() with the record,
 * restores them and jumps where reenter() says. reenter() sends jitlink an *event* frame
 * {EVENT_FLAG | kind, 16, u64 record, u64 kind} on the channel (under the reply lock, so frames
 * never interleave; the flag tells events from replies, over a socket pair and TCP alike) and
 * waits until jitlink answers with OP_RESUME. Threads calling a trampoline whose event is
 * already sent wait for the same answer: jitlink links once. Another architecture adds its
 * trampoline code in make_trampolines() and its register-saving entry below.
 */
#define EVENT_FLAG 0x80000000u
enum { TRAMP_REENTRY = 0, TRAMP_COUNTING = 1 };

struct record {
    uint64_t counter;  /* counting: starts at -threshold; the call that brings it to 0 enters */
    uint64_t target;   /* counting: where calls go below the threshold */
    uint64_t resolver; /* jitlink_executor_reenter */
    uint64_t kind;     /* TRAMP_* */
    uint64_t state;    /* 0: not entered, 1: event sent, 2: answered (under event_lock) */
    uint64_t resume;   /* the answer: where callers continue (0: the link failed) */
    uint64_t pad[2];
};
_Static_assert(sizeof(struct record) == 64, "one record per cache line");

/* The entry that trampolines jump to: saves the argument registers, calls
   jitlink_executor_resolve(record), restores them and jumps where it says (below, per
   architecture). */
__attribute__((visibility("hidden"))) void jitlink_executor_reenter(void);

#if defined(__x86_64__)
__asm__(".text\n"
        ".p2align 4\n"
        ".globl jitlink_executor_reenter\n"
        ".hidden jitlink_executor_reenter\n"
        ".type jitlink_executor_reenter, @function\n"
        "jitlink_executor_reenter:\n"
        /* [rsp] is the caller's return address; the stack may be only 8-byte aligned. */
        "    pushq %rbp\n"
        "    movq %rsp, %rbp\n"
        "    andq $-16, %rsp\n"
        "    subq $192, %rsp\n"
        "    movaps %xmm0, 0(%rsp)\n"
        "    movaps %xmm1, 16(%rsp)\n"
        "    movaps %xmm2, 32(%rsp)\n"
        "    movaps %xmm3, 48(%rsp)\n"
        "    movaps %xmm4, 64(%rsp)\n"
        "    movaps %xmm5, 80(%rsp)\n"
        "    movaps %xmm6, 96(%rsp)\n"
        "    movaps %xmm7, 112(%rsp)\n"
        "    movq %rax, 128(%rsp)\n" /* al: vector registers of a varargs call */
        "    movq %rdi, 136(%rsp)\n"
        "    movq %rsi, 144(%rsp)\n"
        "    movq %rdx, 152(%rsp)\n"
        "    movq %rcx, 160(%rsp)\n"
        "    movq %r8, 168(%rsp)\n"
        "    movq %r9, 176(%rsp)\n"
        "    movq %r10, 184(%rsp)\n" /* static chain */
        "    movq %r11, %rdi\n"      /* the record */
        "    call jitlink_executor_resolve\n"
        "    movq %rax, %r11\n"
        "    movaps 0(%rsp), %xmm0\n"
        "    movaps 16(%rsp), %xmm1\n"
        "    movaps 32(%rsp), %xmm2\n"
        "    movaps 48(%rsp), %xmm3\n"
        "    movaps 64(%rsp), %xmm4\n"
        "    movaps 80(%rsp), %xmm5\n"
        "    movaps 96(%rsp), %xmm6\n"
        "    movaps 112(%rsp), %xmm7\n"
        "    movq 128(%rsp), %rax\n"
        "    movq 136(%rsp), %rdi\n"
        "    movq 144(%rsp), %rsi\n"
        "    movq 152(%rsp), %rdx\n"
        "    movq 160(%rsp), %rcx\n"
        "    movq 168(%rsp), %r8\n"
        "    movq 176(%rsp), %r9\n"
        "    movq 184(%rsp), %r10\n"
        "    movq %rbp, %rsp\n"
        "    popq %rbp\n"
        "    jmp *%r11\n"
        ".size jitlink_executor_reenter, . - jitlink_executor_reenter\n");

/* Where the OS manages the extended state (OSXSAVE), the entry saves the whole vector state
   with xsave64 (ymm/zmm arguments and AVX-512 masks: the C code below may change their upper
   parts), for the components enabled in XCR0 among SSE, AVX and AVX-512, in an area sized from
   CPUID leaf 0xD; set once by choose_entry(), before any trampoline exists. */
__attribute__((used)) static uint32_t xsave_mask;
__attribute__((used)) static uint64_t xsave_size;
__asm__(".text\n"
        ".p2align 4\n"
        ".globl jitlink_executor_reenter_xsave\n"
        ".hidden jitlink_executor_reenter_xsave\n"
        ".type jitlink_executor_reenter_xsave, @function\n"
        "jitlink_executor_reenter_xsave:\n"
        "    pushq %rbp\n"
        "    movq %rsp, %rbp\n"
        "    pushq %rax\n" /* rbp-8 */
        "    pushq %rdi\n"
        "    pushq %rsi\n"
        "    pushq %rdx\n"
        "    pushq %rcx\n"
        "    pushq %r8\n"
        "    pushq %r9\n"
        "    pushq %r10\n" /* rbp-64 */
        "    pushq %r11\n" /* rbp-72: the record */
        "    subq xsave_size(%rip), %rsp\n"
        "    andq $-64, %rsp\n"
        /* Standard-form XRSTOR faults unless the header's reserved bytes are zero. */
        "    xorl %eax, %eax\n"
        "    movq %rax, 512(%rsp)\n"
        "    movq %rax, 520(%rsp)\n"
        "    movq %rax, 528(%rsp)\n"
        "    movq %rax, 536(%rsp)\n"
        "    movq %rax, 544(%rsp)\n"
        "    movq %rax, 552(%rsp)\n"
        "    movq %rax, 560(%rsp)\n"
        "    movq %rax, 568(%rsp)\n"
        "    movl xsave_mask(%rip), %eax\n"
        "    xorl %edx, %edx\n"
        "    xsave64 (%rsp)\n"
        "    movq -72(%rbp), %rdi\n"
        "    call jitlink_executor_resolve\n"
        "    movq %rax, %r11\n"
        "    movl xsave_mask(%rip), %eax\n"
        "    xorl %edx, %edx\n"
        "    xrstor64 (%rsp)\n"
        "    leaq -64(%rbp), %rsp\n"
        "    popq %r10\n"
        "    popq %r9\n"
        "    popq %r8\n"
        "    popq %rcx\n"
        "    popq %rdx\n"
        "    popq %rsi\n"
        "    popq %rdi\n"
        "    popq %rax\n"
        "    popq %rbp\n"
        "    jmp *%r11\n"
        ".size jitlink_executor_reenter_xsave, . - jitlink_executor_reenter_xsave\n");
__attribute__((visibility("hidden"))) void jitlink_executor_reenter_xsave(void);

#include <cpuid.h>
/* The entry trampolines jump to: the xsave one where the OS manages the extended state. */
static uint64_t choose_entry(void) {
    static uint64_t chosen;
    if (chosen)
        return chosen;
    chosen = (uint64_t)(uintptr_t)&jitlink_executor_reenter;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))
        return chosen;
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    uint32_t mask = lo & ((1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7));
    if (!(mask & (1u << 1)))
        return chosen;
    uint64_t size = 576; /* the legacy region and the header */
    for (unsigned i = 2; i < 8; i++)
        if (mask & (1u << i)) {
            __cpuid_count(0xd, i, a, b, c, d);
            if ((uint64_t)b + a > size)
                size = (uint64_t)b + a;
        }
    xsave_mask = mask;
    xsave_size = (size + 63) & ~(uint64_t)63;
    chosen = (uint64_t)(uintptr_t)&jitlink_executor_reenter_xsave;
    return chosen;
}
#elif defined(__aarch64__)
__asm__(".text\n"
        ".p2align 4\n"
        /* Global (hidden): GNU ld for aarch64 gives GOT references to two local symbols of one
           section a single entry (the section's), and the address taken in C would be wrong. */
        ".globl jitlink_executor_reenter\n"
        ".hidden jitlink_executor_reenter\n"
        ".type jitlink_executor_reenter, %function\n"
        "jitlink_executor_reenter:\n"
        "    stp x29, x30, [sp, #-224]!\n"
        "    mov x29, sp\n"
        "    stp x0, x1, [sp, #16]\n"
        "    stp x2, x3, [sp, #32]\n"
        "    stp x4, x5, [sp, #48]\n"
        "    stp x6, x7, [sp, #64]\n"
        "    str x8, [sp, #80]\n" /* indirect result location */
        "    stp q0, q1, [sp, #96]\n"
        "    stp q2, q3, [sp, #128]\n"
        "    stp q4, q5, [sp, #160]\n"
        "    stp q6, q7, [sp, #192]\n"
        "    mov x0, x16\n" /* the record */
        "    bl jitlink_executor_resolve\n"
        "    mov x16, x0\n"
        "    ldp q6, q7, [sp, #192]\n"
        "    ldp q4, q5, [sp, #160]\n"
        "    ldp q2, q3, [sp, #128]\n"
        "    ldp q0, q1, [sp, #96]\n"
        "    ldr x8, [sp, #80]\n"
        "    ldp x6, x7, [sp, #64]\n"
        "    ldp x4, x5, [sp, #48]\n"
        "    ldp x2, x3, [sp, #32]\n"
        "    ldp x0, x1, [sp, #16]\n"
        "    ldp x29, x30, [sp], #224\n"
        "    br x16\n"
        ".size jitlink_executor_reenter, . - jitlink_executor_reenter\n");
static uint64_t choose_entry(void) { return (uint64_t)(uintptr_t)&jitlink_executor_reenter; }
#elif defined(__riscv) && __riscv_xlen == 64 && defined(__riscv_d)
__asm__(".text\n"
        ".p2align 2\n"
        ".globl jitlink_executor_reenter\n"
        ".hidden jitlink_executor_reenter\n"
        ".type jitlink_executor_reenter, @function\n"
        "jitlink_executor_reenter:\n"
        "    addi sp, sp, -144\n"
        "    sd ra, 0(sp)\n"
        "    sd a0, 8(sp)\n"
        "    sd a1, 16(sp)\n"
        "    sd a2, 24(sp)\n"
        "    sd a3, 32(sp)\n"
        "    sd a4, 40(sp)\n"
        "    sd a5, 48(sp)\n"
        "    sd a6, 56(sp)\n"
        "    sd a7, 64(sp)\n"
        "    fsd fa0, 72(sp)\n"
        "    fsd fa1, 80(sp)\n"
        "    fsd fa2, 88(sp)\n"
        "    fsd fa3, 96(sp)\n"
        "    fsd fa4, 104(sp)\n"
        "    fsd fa5, 112(sp)\n"
        "    fsd fa6, 120(sp)\n"
        "    fsd fa7, 128(sp)\n"
        "    mv a0, t5\n" /* the record */
        "    call jitlink_executor_resolve\n"
        "    mv t6, a0\n"
        "    fld fa7, 128(sp)\n"
        "    fld fa6, 120(sp)\n"
        "    fld fa5, 112(sp)\n"
        "    fld fa4, 104(sp)\n"
        "    fld fa3, 96(sp)\n"
        "    fld fa2, 88(sp)\n"
        "    fld fa1, 80(sp)\n"
        "    fld fa0, 72(sp)\n"
        "    ld a7, 64(sp)\n"
        "    ld a6, 56(sp)\n"
        "    ld a5, 48(sp)\n"
        "    ld a4, 40(sp)\n"
        "    ld a3, 32(sp)\n"
        "    ld a2, 24(sp)\n"
        "    ld a1, 16(sp)\n"
        "    ld a0, 8(sp)\n"
        "    ld ra, 0(sp)\n"
        "    addi sp, sp, 144\n"
        "    jr t6\n"
        ".size jitlink_executor_reenter, . - jitlink_executor_reenter\n");
static uint64_t choose_entry(void) { return (uint64_t)(uintptr_t)&jitlink_executor_reenter; }
#else
__attribute__((visibility("hidden"))) void jitlink_executor_reenter(void) { abort(); } /* unused */
static uint64_t choose_entry(void) { return 0; }
#endif

/* Trampoline templates: bytes, the offset of the PC-relative reference to the record (patched
   per trampoline) and the stride. */
#if defined(__x86_64__)
static const uint8_t REENTRY_CODE[16] = {
    0x4c, 0x8d, 0x1d, 0, 0, 0, 0, /* lea rec(%rip), %r11     ; rel32 at 3 */
    0x41, 0xff, 0x63, 0x10,       /* jmp *16(%r11)           ; the resolver */
    0xcc, 0xcc, 0xcc, 0xcc, 0xcc, /* int3 padding */
};
static const uint8_t COUNTING_CODE[32] = {
    0x4c, 0x8d, 0x1d, 0, 0, 0, 0, /* 0: lea rec(%rip), %r11  ; rel32 at 3 */
    0xf0, 0x49, 0xff, 0x03,       /* 7: lock incq (%r11)     ; the counter */
    0x74, 0x04,                   /* 11: je 17               ; reached zero: enter */
    0x41, 0xff, 0x63, 0x08,       /* 13: jmp *8(%r11)        ; the target */
    0x41, 0xff, 0x63, 0x10,       /* 17: jmp *16(%r11)       ; the resolver */
    0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, /* int3 padding */
};
/* Writes the reference at `at` (of code at `pc`) to the record at `rec`. */
static int patch_record(uint8_t *at, uint64_t pc, uint64_t rec) {
    int64_t d = (int64_t)(rec - (pc + 7)); /* rel32 is relative to the end of the lea */
    if (d != (int32_t)d)
        return -1;
    int32_t d32 = (int32_t)d;
    memcpy(at + 3, &d32, 4);
    return 0;
}
#elif defined(__aarch64__)
#define W(x) (uint8_t)(x), (uint8_t)((x) >> 8), (uint8_t)((x) >> 16), (uint8_t)((x) >> 24)
static const uint8_t REENTRY_CODE[16] = {
    W(0x10000010u), /* adr x16, rec            ; immediate patched */
    W(0xf9400a11u), /* ldr x17, [x16, #16]     ; the resolver */
    W(0xd61f0220u), /* br x17 */
    W(0xd4200000u), /* brk #0 padding */
};
static const uint8_t COUNTING_CODE[48] = {
    W(0x10000010u), /* 0: adr x16, rec         ; immediate patched */
    W(0xa9bf07e0u), /* 4: stp x0, x1, [sp, #-16]! */
    W(0xc85f7e11u), /* 8: ldxr x17, [x16]      ; the counter */
    W(0x91000631u), /* 12: add x17, x17, #1 */
    W(0xc8007e11u), /* 16: stxr w0, x17, [x16] */
    W(0x35ffffa0u), /* 20: cbnz w0, 8          ; lost the reservation: again */
    W(0xa8c107e0u), /* 24: ldp x0, x1, [sp], #16 */
    W(0xb4000071u), /* 28: cbz x17, 40         ; reached zero: enter */
    W(0xf9400611u), /* 32: ldr x17, [x16, #8]  ; the target */
    W(0xd61f0220u), /* 36: br x17 */
    W(0xf9400a11u), /* 40: ldr x17, [x16, #16] ; the resolver */
    W(0xd61f0220u), /* 44: br x17 */
};
#undef W
static int patch_record(uint8_t *at, uint64_t pc, uint64_t rec) {
    int64_t d = (int64_t)(rec - pc);
    if (d < -(1 << 20) || d >= (1 << 20))
        return -1;
    uint32_t insn;
    memcpy(&insn, at, 4);
    insn |= ((uint32_t)d & 3) << 29 | (((uint32_t)d >> 2) & 0x7ffff) << 5;
    memcpy(at, &insn, 4);
    return 0;
}
#elif defined(__riscv) && __riscv_xlen == 64 && defined(__riscv_d)
/* The record's address goes in t5 and the scratch is t6: jitlink's stubs and range-extension
   stubs use t3 only, and no argument travels in t5 or t6. */
#define W(x) (uint8_t)(x), (uint8_t)((x) >> 8), (uint8_t)((x) >> 16), (uint8_t)((x) >> 24)
static const uint8_t REENTRY_CODE[16] = {
    W(0x00000f17u), /* auipc t5, %pcrel_hi(rec) ; patched */
    W(0x000f0f13u), /* addi t5, t5, %pcrel_lo   ; patched */
    W(0x010f3f83u), /* ld t6, 16(t5)            ; the resolver */
    W(0x000f8067u), /* jr t6 */
};
static const uint8_t COUNTING_CODE[48] = {
    W(0x00000f17u), /* 0: auipc t5, %pcrel_hi(rec) ; patched */
    W(0x000f0f13u), /* 4: addi t5, t5, %pcrel_lo   ; patched */
    W(0x00100f93u), /* 8: li t6, 1 */
    W(0x01ff3fafu), /* 12: amoadd.d t6, t6, (t5)   ; the counter, old value in t6 */
    W(0x001f8f93u), /* 16: addi t6, t6, 1          ; the new value */
    W(0x000f8663u), /* 20: beqz t6, 32             ; reached zero: enter */
    W(0x008f3f83u), /* 24: ld t6, 8(t5)            ; the target */
    W(0x000f8067u), /* 28: jr t6 */
    W(0x010f3f83u), /* 32: ld t6, 16(t5)           ; the resolver */
    W(0x000f8067u), /* 36: jr t6 */
    W(0x00100073u), /* 40: ebreak padding */
    W(0x00100073u), /* 44: ebreak padding */
};
#undef W
static int patch_record(uint8_t *at, uint64_t pc, uint64_t rec) {
    int64_t d = (int64_t)(rec - pc);
    if (d < -(INT64_C(1) << 31) + 0x800 || d >= (INT64_C(1) << 31) - 0x800)
        return -1;
    int64_t hi = (d + 0x800) >> 12, lo = d - hi * 4096;
    uint32_t auipc, addi;
    memcpy(&auipc, at, 4);
    memcpy(&addi, at + 4, 4);
    auipc |= ((uint32_t)hi & 0xfffff) << 12;
    addi |= ((uint32_t)lo & 0xfff) << 20;
    memcpy(at, &auipc, 4);
    memcpy(at + 4, &addi, 4);
    return 0;
}
#else
/* No trampolines for this architecture yet: OP_TRAMPOLINES is refused (ENOTSUP). */
#define NO_TRAMPOLINES 1
static const uint8_t REENTRY_CODE[1], COUNTING_CODE[1];
static int patch_record(uint8_t *at, uint64_t pc, uint64_t rec) {
    (void)at, (void)pc, (void)rec;
    return -1;
}
#endif

/* Trampoline memory: the only records OP_RESUME answers. */
static struct {
    uint64_t records;
    uint32_t count;
} tramps[MAX_REGIONS];
static int ntramps;

static pthread_mutex_t event_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t event_answered = PTHREAD_COND_INITIALIZER;
/* Set on a thread while it serves requests: jitlink waits for its reply, not for events. */
static __thread int serving;

/* Called by jitlink_executor_reenter with a trampoline's record: where the call continues. */
__attribute__((used, visibility("hidden"))) uint64_t jitlink_executor_resolve(struct record *r) {
    int saved = errno;
    if (serving) {
        fprintf(stderr, "jitlink-executor: a lazy or counted function was called while a "
                        "request of jitlink ran (from an initializer?); link it eagerly\n");
        abort();
    }
    pthread_mutex_lock(&event_lock);
    if (r->state == 0) {
        r->state = 1;
        uint32_t h[2] = {EVENT_FLAG | (uint32_t)(r->kind + 1), 16};
        uint64_t body[2] = {(uint64_t)(uintptr_t)r, r->kind};
        pthread_mutex_lock(&reply_lock);
        int sent = write_full(h, sizeof h) == 0 && write_full(body, sizeof body) == 0;
        pthread_mutex_unlock(&reply_lock);
        if (!sent) {
            fprintf(stderr, "jitlink-executor: connection to jitlink lost while the program ran\n");
            _exit(1);
        }
    }
    while (r->state != 2)
        pthread_cond_wait(&event_answered, &event_lock);
    uint64_t to = r->resume;
    pthread_mutex_unlock(&event_lock);
    if (!to)
        abort(); /* OP_RESUME printed why */
    errno = saved;
    return to;
}

/* OP_TRAMPOLINES: see above. */
static int make_trampolines(const uint8_t *p, uint32_t len) {
    uint32_t kind, count;
    if (len < 16)
        return fail(EINVAL, "trampolines");
    memcpy(&kind, p, 4);
    memcpy(&count, p + 4, 4);
    uint64_t threshold = get64(p + 8);
#ifdef NO_TRAMPOLINES
    return fail(ENOTSUP, "trampolines on this architecture");
#endif
    if (kind > TRAMP_COUNTING || count == 0 || count > MAX_TRAMPOLINES ||
        len != 16 + (kind == TRAMP_COUNTING ? 8 * count : 0))
        return fail(EINVAL, "trampolines");
    if (kind == TRAMP_COUNTING && (threshold == 0 || threshold > INT64_MAX))
        return fail(EINVAL, "trampolines: threshold");
    if (ntramps == MAX_REGIONS)
        return fail(ENOMEM, "trampolines: too many batches");
    const uint8_t *code = kind == TRAMP_COUNTING ? COUNTING_CODE : REENTRY_CODE;
    size_t stride = kind == TRAMP_COUNTING ? sizeof COUNTING_CODE : sizeof REENTRY_CODE;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t code_len = (count * stride + page - 1) / page * page;
    size_t data_len = (count * sizeof(struct record) + page - 1) / page * page;
    uint8_t *m = mmap(NULL, code_len + data_len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return fail(errno, "trampolines");
    struct record *recs = (struct record *)(m + code_len);
    uint64_t entry = choose_entry();
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *t = m + i * stride;
        memcpy(t, code, stride);
        if (patch_record(t, (uint64_t)(uintptr_t)t, (uint64_t)(uintptr_t)&recs[i]) != 0) {
            munmap(m, code_len + data_len);
            return fail(ERANGE, "trampolines: record out of reach");
        }
        memset(&recs[i], 0, sizeof recs[i]);
        recs[i].kind = kind;
        recs[i].resolver = entry;
        if (kind == TRAMP_COUNTING) {
            recs[i].counter = (uint64_t)0 - threshold;
            recs[i].target = get64(p + 16 + 8 * i);
        }
    }
    __builtin___clear_cache((char *)m, (char *)m + code_len);
    if (mprotect(m, code_len, PROT_READ | PROT_EXEC) != 0) {
        int e = errno;
        munmap(m, code_len + data_len);
        return fail(e, "trampolines: protect");
    }
    tramps[ntramps].records = (uint64_t)(uintptr_t)recs;
    tramps[ntramps++].count = count;
    uint64_t out[4] = {(uint64_t)(uintptr_t)m, stride, (uint64_t)(uintptr_t)recs,
                       sizeof(struct record)};
    return reply(0, out, sizeof out);
}

/* OP_RESUME: see enum op. */
static int resume(const uint8_t *p, uint32_t len) {
    if (len < 16)
        return fail(EINVAL, "resume");
    uint64_t rec = get64(p), to = get64(p + 8);
    struct record *r = NULL;
    for (int i = 0; i < ntramps && !r; i++)
        if (rec >= tramps[i].records && (rec - tramps[i].records) % sizeof(struct record) == 0 &&
            (rec - tramps[i].records) / sizeof(struct record) < tramps[i].count)
            r = (struct record *)(uintptr_t)rec;
    if (!r)
        return fail(EFAULT, "resume: not a trampoline");
    if (to && !executable(to))
        return fail(EFAULT, "resume: not executable");
    if (!to)
        fprintf(stderr, "jitlink: error: %.*s\n", (int)(len - 16), (const char *)p + 16);
    pthread_mutex_lock(&event_lock);
    int waiting = r->state == 1; /* only this thread moves it on */
    pthread_mutex_unlock(&event_lock);
    if (!waiting)
        return fail(EINVAL, "resume: no call is waiting there");
    /* Reply first: the program may end as soon as the calls continue. */
    int sent = reply(0, NULL, 0);
    pthread_mutex_lock(&event_lock);
    r->resume = to;
    r->state = 2;
    pthread_cond_broadcast(&event_answered);
    pthread_mutex_unlock(&event_lock);
    return sent;
}

typedef uint64_t (*call6)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
typedef void (*init_fn)(int, char **, char **);
typedef int (*main_fn)(int, char **, char **);

static void *serve(void *arg);

/* Handles one request; returns -1 when the channel is gone. `*entry` is set by OP_RUN_MAIN. */
static int handle(uint32_t op, uint8_t *p, uint32_t len, uint64_t *entry) {
    switch (op) {
    case OP_HELLO: {
        if (len != sizeof HELLO_MAGIC - 1 || memcmp(p, HELLO_MAGIC, len) != 0)
            return fail(EPROTO, "hello: not the jitlink executor protocol version 1");
        uint8_t out[24];
        uint32_t m = machine(), page = (uint32_t)sysconf(_SC_PAGESIZE);
        uint64_t resolver = (uint64_t)(uintptr_t)&jitlink_tlsdesc_static;
        tls_alignment_anchor[0] = 1;
        uint64_t anchor = (uint64_t)(uintptr_t)&printf;
        Dl_info info;
        if (dladdr((void *)&printf, &info) && info.dli_fbase)
            anchor = (uint64_t)(uintptr_t)info.dli_fbase;
        memcpy(out, &m, 4);
        memcpy(out + 4, &page, 4);
        memcpy(out + 8, &anchor, 8);
        memcpy(out + 16, &resolver, 8);
        return reply(0, out, sizeof out);
    }
    case OP_LOOKUP: {
        size_t n = split(p, len, NULL);
        char **names = calloc(n ? n : 1, sizeof *names);
        uint64_t *addrs = calloc(n ? n : 1, 8);
        if (!names || !addrs) {
            free(names);
            free(addrs);
            return fail(ENOMEM, "lookup");
        }
        split(p, len, names);
        for (size_t i = 0; i < n; i++) {
            /* glibc exports atexit only from libc_nonshared.a, linked into this program. */
            if (strcmp(names[i], "atexit") == 0)
                addrs[i] = (uint64_t)(uintptr_t)&atexit;
            else
                addrs[i] = (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, names[i]);
        }
        int r = reply(0, addrs, (uint32_t)(n * 8));
        free(names);
        free(addrs);
        return r;
    }
    case OP_RESERVE: {
        if (len != 24)
            return fail(EINVAL, "reserve");
        uint64_t size = get64(p), hint = get64(p + 8), flags = get64(p + 16);
        int extra = 0;
        if (flags & 1) {
#ifdef MAP_32BIT
            extra = MAP_32BIT;
            hint = 0;
#elif defined(__riscv) && defined(MAP_FIXED_NOREPLACE)
            /* No MAP_32BIT on RISC-V (whose -fno-pic code addresses data with lui): try free
               places below 2 GiB in turn, from 256 MiB up. */
            extra = MAP_FIXED_NOREPLACE;
            for (hint = 0x10000000; hint + size <= (1ull << 31); hint += 0x1000000) {
                void *t = mmap((void *)(uintptr_t)hint, size, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | extra, -1, 0);
                if (t != MAP_FAILED) {
                    munmap(t, size);
                    break;
                }
            }
#else
            return fail(ENOTSUP, "reserve below 2 GiB");
#endif
        }
        /* A hint inside memory reserved before (jitlink asks below the C library each time)
           moves below it: the kernel would honour it elsewhere, qemu-user far away. */
        uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
        for (int moved = 1; moved && hint;) {
            moved = 0;
            for (int i = 0; i < nregions && hint; i++)
                if (hint < regions[i].base + regions[i].size && hint + size > regions[i].base) {
                    hint = regions[i].base > size ? (regions[i].base - size) & ~(page - 1) : 0;
                    moved = 1;
                }
        }
        void *m = mmap((void *)(uintptr_t)hint, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | extra, -1, 0);
        if (m == MAP_FAILED)
            return fail(errno, "reserve");
        if ((flags & 1) && (uint64_t)(uintptr_t)m + size > (1ull << 31)) {
            munmap(m, size);
            return fail(ENOMEM, "reserve below 2 GiB");
        }
        if (nregions == MAX_REGIONS) {
            munmap(m, size);
            return fail(ENOMEM, "reserve: too many reservations");
        }
        uint64_t base = (uint64_t)(uintptr_t)m;
        regions[nregions].base = base;
        regions[nregions++].size = size;
        return reply(0, &base, 8);
    }
    case OP_WRITE:
        if (len < 8)
            return fail(EINVAL, "write");
        if (!reserved(get64(p), len - 8))
            return fail(EFAULT, "write: outside reserved memory");
        if (safe_copy((void *)(uintptr_t)get64(p), p + 8, len - 8) != 0)
            return fail(EFAULT, "write: memory not writable");
        return reply(0, NULL, 0);
    case OP_PROTECT: {
        if (len != 20)
            return fail(EINVAL, "protect");
        uint64_t addr = get64(p), size = get64(p + 8);
        uint32_t want;
        memcpy(&want, p + 16, 4);
        if ((want & 2) && (want & 4))
            return fail(EPERM, "protect: writable and executable");
        if (!reserved(addr, size))
            return fail(EFAULT, "protect: outside reserved memory");
        int prot = ((want & 1) ? PROT_READ : 0) | ((want & 2) ? PROT_WRITE : 0) |
                   ((want & 4) ? PROT_EXEC : 0);
        if (want & 4)
            __builtin___clear_cache((char *)(uintptr_t)addr, (char *)(uintptr_t)(addr + size));
        if (mprotect((void *)(uintptr_t)addr, size, prot) != 0)
            return fail(errno, "protect");
        return reply(0, NULL, 0);
    }
    case OP_REGISTER_EH:
    case OP_DEREGISTER_EH:
        if (len != 8)
            return fail(EINVAL, "eh_frame");
        if (op == OP_REGISTER_EH) {
            if (!reserved(get64(p), 4) || nframes == MAX_REGIONS)
                return fail(EFAULT, "eh_frame: outside reserved memory");
            __register_frame((void *)(uintptr_t)get64(p));
            frames[nframes++] = get64(p);
        } else {
            /* libgcc aborts on a frame it does not know: only registered ones go back. */
            int i = 0;
            while (i < nframes && frames[i] != get64(p))
                i++;
            if (i == nframes)
                return fail(ENOENT, "eh_frame: not registered");
            frames[i] = frames[--nframes];
            __deregister_frame((void *)(uintptr_t)get64(p));
        }
        return reply(0, NULL, 0);
    case OP_SET_ARGS: {
        size_t n = split(p, len, NULL);
        char **argv = calloc(n + 1, sizeof *argv);
        char *copy = malloc(len ? len : 1);
        if (!argv || !copy) {
            free(argv);
            free(copy);
            return fail(ENOMEM, "arguments");
        }
        memcpy(copy, p, len);
        split((uint8_t *)copy, len, argv);
        prog_argc = (int)n;
        prog_argv = argv;
        return reply(0, NULL, 0);
    }
    case OP_RUN_INITS:
        if (len % 8)
            return fail(EINVAL, "initializers");
        for (uint32_t i = 0; i < len; i += 8)
            if (!executable(get64(p + i)))
                return fail(EFAULT, "initializers: not executable");
        for (uint32_t i = 0; i + 8 <= len; i += 8)
            ((init_fn)(uintptr_t)get64(p + i))(prog_argc, prog_argv, environ);
        return reply(0, NULL, 0);
    case OP_CALL: {
        if (len < 8 || len > 56 || len % 8)
            return fail(EINVAL, "call");
        uint64_t a[6] = {0};
        for (uint32_t i = 8; i < len; i += 8)
            a[i / 8 - 1] = get64(p + i);
        if (!executable(get64(p)))
            return fail(EFAULT, "call: not executable");
        uint64_t r = ((call6)(uintptr_t)get64(p))(a[0], a[1], a[2], a[3], a[4], a[5]);
        return reply(0, &r, 8);
    }
    case OP_RUN_MAIN:
        if (len != 8)
            return fail(EINVAL, "run");
        if (!executable(get64(p)))
            return fail(EFAULT, "run: not executable");
        *entry = get64(p);
        return reply(0, NULL, 0);
    case OP_WRITE_U64:
        if (len != 16 || get64(p) % 8)
            return fail(EINVAL, "write_u64");
        if (!reserved(get64(p), 8) || prot_of(get64(p)) != 3)
            return fail(EFAULT, "write_u64: not reserved writable memory");
        __atomic_store_n((uint64_t *)(uintptr_t)get64(p), get64(p + 8), __ATOMIC_RELEASE);
        return reply(0, NULL, 0);
    case OP_RELEASE:
        if (len != 16)
            return fail(EINVAL, "release");
        if (!reserved(get64(p), get64(p + 8)))
            return fail(EFAULT, "release: outside reserved memory");
        if (munmap((void *)(uintptr_t)get64(p), get64(p + 8)) != 0)
            return fail(errno, "release");
        for (int i = 0; i < nregions; i++)
            if (regions[i].base == get64(p) && regions[i].size == get64(p + 8))
                regions[i] = regions[--nregions];
        return reply(0, NULL, 0);
    case OP_REGISTER_FINIS:
        if (len < 8 || len % 8)
            return fail(EINVAL, "finalizers");
        for (uint32_t i = 8; i < len; i += 8)
            if (!executable(get64(p + i)))
                return fail(EFAULT, "finalizers: not executable");
        /* Handlers run last-registered first: register the last finalizer first. A function
           of no arguments may be called with one on the supported ABIs. */
        for (uint32_t i = len; i > 8; i -= 8)
            __cxa_atexit((void (*)(void *))(uintptr_t)get64(p + i - 8), NULL,
                         (void *)(uintptr_t)get64(p));
        return reply(0, NULL, 0);
    case OP_DESCRIBE: {
        if (len != 8)
            return fail(EINVAL, "describe");
        uint64_t addr = get64(p);
        Dl_info info;
        const Elf64_Sym *sym = NULL;
        uint8_t out[16];
        if (!dladdr1((void *)(uintptr_t)addr, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym ||
            (uint64_t)(uintptr_t)info.dli_saddr != addr) {
            /* No symbol starts here, but code is code (an IFUNC's selected implementation,
               which has no dynamic symbol): described as a function of unknown size. */
            if (!executable(addr))
                return fail(ENOENT, "describe");
            uint64_t zero = 0;
            uint32_t yes = 1, no = 0;
            memcpy(out, &zero, 8);
            memcpy(out + 8, &yes, 4);
            memcpy(out + 12, &no, 4);
            return reply(0, out, sizeof out);
        }
        uint64_t size = sym->st_size;
        uint32_t type = ELF64_ST_TYPE(sym->st_info);
        uint32_t function = type == STT_FUNC || type == STT_GNU_IFUNC;
        uint32_t w = (uint32_t)writable(addr);
        memcpy(out, &size, 8);
        memcpy(out + 8, &function, 4);
        memcpy(out + 12, &w, 4);
        return reply(0, out, sizeof out);
    }
    case OP_READ: {
        if (len != 16 || get64(p + 8) > MAX_PAYLOAD)
            return fail(EINVAL, "read");
        uint32_t n = (uint32_t)get64(p + 8);
        uint8_t *out = malloc(n ? n : 1);
        if (!out)
            return fail(ENOMEM, "read");
        if (safe_copy(out, (void *)(uintptr_t)get64(p), n) != 0) {
            free(out);
            return fail(EFAULT, "read: memory not readable");
        }
        int r = reply(0, out, n);
        free(out);
        return r;
    }
    case OP_LOAD_TLS:
    case OP_LOAD_GLOBAL: {
        /* The descriptor stays open: glibc knows loaded objects by name, and a reused number
           would make the next module's path equal to this one's. */
        int fd = memfd_create("jitlink-tls", 0);
        if (fd < 0)
            return fail(errno, "TLS module");
        for (uint32_t done = 0; done < len;) {
            ssize_t n = write(fd, p + done, len - done);
            if (n <= 0) {
                close(fd);
                return fail(errno, "TLS module");
            }
            done += (uint32_t)n;
        }
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        void *h = dlopen(path, RTLD_NOW | (op == OP_LOAD_GLOBAL ? RTLD_GLOBAL : RTLD_LOCAL));
        if (!h) {
            const char *msg = dlerror();
            close(fd);
            if (!msg)
                msg = "dlopen failed";
            return reply(EINVAL, msg, (uint32_t)strlen(msg));
        }
        void *map = NULL;
        if (dlinfo(h, RTLD_DI_LINKMAP, &map) != 0 || !map)
            return fail(EINVAL, "TLS module: dlinfo");
        uint64_t bias = *(uint64_t *)map; /* struct link_map starts with l_addr */
        return reply(0, &bias, 8);
    }
    case OP_TRAMPOLINES:
        return make_trampolines(p, len);
    case OP_RESUME:
        return resume(p, len);
    default:
        return fail(ENOSYS, "unknown request");
    }
}

/* Ends the executor on a request it cannot parse: the stream is out of step. */
static void garbage(uint32_t op, uint32_t len, const char *why) {
    fprintf(stderr, "jitlink-executor: bad request (op %u, length %u): %s\n", op, len, why);
    fail(EPROTO, why);
    _exit(2);
}

/* Serves requests until the channel closes or, on the main thread, until OP_RUN_MAIN. */
static uint64_t loop(void) {
    static int greeted;
    serving = 1;
    uint8_t *buf = NULL;
    uint32_t cap = 0;
    for (;;) {
        uint32_t h[2];
        if (read_full(h, sizeof h) != 0)
            break;
        int64_t max = max_len(h[0]);
        if (max < 0)
            garbage(h[0], h[1], "unknown request");
        if (h[1] > max)
            garbage(h[0], h[1], "length over the request's bound");
        if (!greeted && h[0] != OP_HELLO)
            garbage(h[0], h[1], "the first request is not hello: the peer is not jitlink");
        if (h[1] > cap) {
            uint8_t *n = realloc(buf, h[1]);
            if (!n)
                break;
            buf = n;
            cap = h[1];
        }
        if (h[1] && read_full(buf, h[1]) != 0)
            break;
        if (h[0] == OP_HELLO && (h[1] != sizeof HELLO_MAGIC - 1 ||
                                 memcmp(buf, HELLO_MAGIC, h[1]) != 0))
            garbage(h[0], h[1], "hello without the protocol's name: the peer is not jitlink");
        greeted = 1;
        uint64_t entry = 0;
        if (handle(h[0], buf, h[1], &entry) != 0)
            break;
        if (entry) {
            free(buf);
            serving = 0;
            return entry;
        }
    }
    free(buf);
    return 0;
}

static void *serve(void *arg) {
    (void)arg;
    loop();
    /* jitlink is gone while the program runs: nobody waits for it, so it ends here. */
    fprintf(stderr, "jitlink-executor: connection to jitlink lost while the program ran\n");
    _exit(1);
    return NULL;
}

static void on_child(int sig) { (void)sig; }

static void hold_channel(void) { pthread_mutex_lock(&reply_lock); }

/* Accepts one connection on HOST:PORT, serves it in a child and reports how it ended. */
static int supervise(char *spec, char *self) {
    char *colon = strrchr(spec, ':');
    if (!colon) {
        fprintf(stderr, "jitlink-executor: --listen takes HOST:PORT, not %s\n", spec);
        return 2;
    }
    *colon = 0;
    char *host = spec, *port = colon + 1;
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        host[strlen(host) - 1] = 0;
        host++;
    }
    signal(SIGPIPE, SIG_IGN);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int e = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (e != 0) {
        fprintf(stderr, "jitlink-executor: %s:%s: %s\n", host, port, gai_strerror(e));
        return 2;
    }
    int ls = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    int one = 1;
    if (ls >= 0)
        setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ls < 0 || bind(ls, ai->ai_addr, ai->ai_addrlen) != 0 || listen(ls, 1) != 0) {
        fprintf(stderr, "jitlink-executor: listening on %s:%s: %s\n", host, port, strerror(errno));
        return 2;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    char hbuf[NI_MAXHOST], sbuf[NI_MAXSERV];
    if (getsockname(ls, (struct sockaddr *)&sa, &sl) == 0 &&
        getnameinfo((struct sockaddr *)&sa, sl, hbuf, sizeof hbuf, sbuf, sizeof sbuf,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        fprintf(stderr, "jitlink-executor: listening on %s:%s\n", hbuf, sbuf);
    int c = accept(ls, NULL, NULL);
    if (c < 0) {
        fprintf(stderr, "jitlink-executor: accept: %s\n", strerror(errno));
        return 2;
    }
    close(ls);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* SIGCHLD stays blocked except inside ppoll, which it then interrupts: the child's end is
       seen at once, with no window between waitpid and ppoll. */
    struct sigaction sact;
    memset(&sact, 0, sizeof sact);
    sact.sa_handler = on_child;
    sigaction(SIGCHLD, &sact, NULL);
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "jitlink-executor: fork: %s\n", strerror(errno));
        return 2;
    }
    if (child == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        /* Started again (like jitlink starts it) so that glibc sizes static TLS with room for
           linked thread-locals; under qemu-user without binfmt the exec fails and this process
           serves the connection itself. */
        char fd[16], tunable[64];
        snprintf(fd, sizeof fd, "%d", c);
        snprintf(tunable, sizeof tunable, "glibc.rtld.optional_static_tls=%u", 64u << 10);
        const char *old = getenv("GLIBC_TUNABLES");
        char *copy = old ? strdup(old) : NULL;
        char joined[1024];
        snprintf(joined, sizeof joined, "%s%s%s", old ? old : "", old ? ":" : "", tunable);
        setenv("GLIBC_TUNABLES", joined, 1);
        char *args[] = {self, "--fd", fd, copy ? "--tunables" : "--no-tunables", copy, NULL};
        execv("/proc/self/exe", args);
        if (copy)
            setenv("GLIBC_TUNABLES", copy, 1);
        else
            unsetenv("GLIBC_TUNABLES");
        chan = c;
        return -1; /* main serves the connection in this process */
    }
    int lost = 0, killed = 0, status = 0;
    for (;;) {
        pid_t w = waitpid(child, &status, WNOHANG);
        if (w == child)
            break;
        struct pollfd pf = {c, POLLRDHUP, 0};
        if (!lost && ppoll(&pf, 1, NULL, &old) > 0 &&
            (pf.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
            lost = 1;
            /* A child with no program ends by itself on end of file; give it a second. */
            pid_t w2 = 0;
            for (int i = 0; i < 100 && (w2 = waitpid(child, &status, WNOHANG)) == 0; i++)
                usleep(10000);
            if (w2 != child) {
                killed = 1;
                kill(-child, SIGKILL);
                waitpid(child, &status, 0);
            }
            break;
        }
    }
    kill(-child, SIGKILL); /* whatever the program left behind */
    if (killed) {
        fprintf(stderr, "jitlink-executor: connection to jitlink lost; the program was ended\n");
        return 1;
    }
    uint32_t frame[3] = {END_FRAME, 4, (uint32_t)status};
    if (send(c, frame, sizeof frame, MSG_NOSIGNAL) != (ssize_t)sizeof frame && !lost)
        fprintf(stderr, "jitlink-executor: could not report the program's end to jitlink\n");
    close(c);
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "jitlink-executor: the program was killed by signal %d (%s)\n",
                WTERMSIG(status), strsignal(WTERMSIG(status)));
        return 128 + WTERMSIG(status);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            int r = supervise(argv[++i], argv[0]);
            if (r >= 0)
                return r;
        } else if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc)
            chan = atoi(argv[++i]);
        else if (strcmp(argv[i], "--tunables") == 0 && i + 1 < argc)
            setenv("GLIBC_TUNABLES", argv[++i], 1); /* the program's own value */
        else if (strcmp(argv[i], "--no-tunables") == 0)
            unsetenv("GLIBC_TUNABLES"); /* jitlink's, read by the loader already */
    }
    if (chan < 0) {
        fprintf(stderr, "usage: jitlink-executor --listen HOST:PORT (serve one jitlink "
                        "connection; jitlink --executor tcp:HOST:PORT connects)\n");
        return 2;
    }
    /* Programs the linked code starts do not inherit the channel: jitlink reads events until
       it closes, which must be when this process ends. */
    fcntl(chan, F_SETFD, FD_CLOEXEC);
    /* What a compiler driver links by default, so that linked code finds it. */
    static const char *libs[] = {"libm.so.6", "libgcc_s.so.1", "libstdc++.so.6"};
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++)
        dlopen(libs[i], RTLD_NOW | RTLD_GLOBAL);
    /* Registered first, so run last at exit: the program ends between frames, never inside
       a reply or an event that another thread is writing (jitlink would read the end of the
       stream, or over TCP the supervisor's last frame, as part of it). */
    atexit(hold_channel);
    uint64_t entry = loop();
    if (!entry)
        return 0;
    /* The program runs on this thread; redirections and other requests go on being served. */
    pthread_t t;
    if (pthread_create(&t, NULL, serve, NULL) == 0)
        pthread_detach(t);
    exit(((main_fn)(uintptr_t)entry)(prog_argc, prog_argv, environ));
}
