#!/usr/bin/env python3
"""Whole-process benchmark: `jitlink --noexec` against `llvm-jitlink-22 -noexec`.

Builds the workloads (SQLite, Lua 5.4, a generated scale series) with clang-19 into
target/bench-cache/, then runs both linkers on the same objects, alternating them, and reports
median wall time and median peak RSS of each, their ratios, and jitlink's own `--timings` total.

`--run-sqlite` instead compares running the SQLite driver natively linked by clang-19 against
running the same objects under `jitlink`.

Each run is started through a tiny launcher (C, compiled with clang-19 into the cache), because
a child that Python starts directly reports Python's own peak RSS as a floor of its ru_maxrss;
see SPAWN_C. Standard library only. See benches/README.md.
"""

import argparse
import concurrent.futures
import fnmatch
import gc
import hashlib
import json
import os
import platform
import re
import signal
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "target" / "bench-cache"
CC = "clang-19"
DEFAULT_LLVM = "llvm-jitlink-22"
DEFAULT_JITLINK = ROOT / "target" / "release" / "jitlink"

SQLITE_FLAGS = ["-O2", "-DSQLITE_THREADSAFE=0", "-DSQLITE_OMIT_LOAD_EXTENSION"]
LUA_FLAGS = ["-O2", "-DLUA_USE_POSIX"]
SCALE_FLAGS = ["-O2"]
SCALE_SECTION_FLAGS = ["-ffunction-sections", "-fdata-sections"]
SCALE_SIZES = [(1000, "1k"), (10000, "10k"), (100000, "100k")]
SCALE_FUNCS_PER_FILE = 1000
SQLITE_RUN_ROWS = 200000


class BenchError(Exception):
    """A failure of the benchmark itself (a build, or jitlink): the script exits non-zero."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# C sources written into the cache by the script
# --------------------------------------------------------------------------------------------

SQLITE_DRIVER = r"""
/* Benchmark driver: an in-memory database, one table, N rows (argv[1], default 200000)
 * inserted in one transaction through a prepared statement, then a few aggregate queries. */
#include <stdio.h>
#include <stdlib.h>
#include "sqlite3.h"

static sqlite3 *db;

static void fail(const char *what)
{
    fprintf(stderr, "driver: %s: %s\n", what, sqlite3_errmsg(db));
    exit(2);
}

static void run_sql(const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail(sql);
}

static void show(const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail(sql);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int cols = sqlite3_column_count(st);
        for (int c = 0; c < cols; c++) {
            const unsigned char *text = sqlite3_column_text(st, c);
            printf("%s%s", c ? " | " : "", text ? (const char *)text : "NULL");
        }
        putchar('\n');
    }
    if (rc != SQLITE_DONE)
        fail(sql);
    sqlite3_finalize(st);
}

int main(int argc, char **argv)
{
    long rows = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        fail("open");
    run_sql("CREATE TABLE items(id INTEGER PRIMARY KEY, bucket INTEGER NOT NULL,"
            " weight REAL NOT NULL, label TEXT NOT NULL)");
    run_sql("BEGIN");
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db, "INSERT INTO items VALUES(?1, ?2, ?3, ?4)", -1, &ins, NULL)
        != SQLITE_OK)
        fail("prepare insert");
    unsigned int seed = 20240601u;
    char label[32];
    for (long i = 0; i < rows; i++) {
        seed = seed * 1664525u + 1013904223u;
        snprintf(label, sizeof label, "item-%u", (seed >> 8) % 5000u);
        sqlite3_bind_int64(ins, 1, i);
        sqlite3_bind_int(ins, 2, (int)((seed >> 16) % 64u));
        sqlite3_bind_double(ins, 3, (double)(seed % 100000u) / 100.0);
        sqlite3_bind_text(ins, 4, label, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(ins) != SQLITE_DONE)
            fail("insert");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    run_sql("COMMIT");
    show("SELECT count(*), sum(bucket), printf('%.2f', avg(weight)), min(label), max(label)"
         " FROM items");
    show("SELECT bucket, count(*), printf('%.2f', sum(weight)) FROM items"
         " GROUP BY bucket ORDER BY count(*) DESC, bucket LIMIT 3");
    show("SELECT count(DISTINCT label) FROM items WHERE weight > 500.0");
    sqlite3_close(db);
    return 0;
}
"""

LUA_DRIVER = r"""
/* Benchmark driver: a Lua state with the standard libraries running a short script. */
#include <stdio.h>
#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

static const char script[] =
    "local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end\n"
    "local t = {}\n"
    "for i = 1, 200 do t[i] = (i * 7919) % 211 end\n"
    "table.sort(t)\n"
    "local words = {}\n"
    "for w in ('the quick brown fox jumps over the lazy dog'):gmatch('%a+') do\n"
    "  words[#words + 1] = w:upper()\n"
    "end\n"
    "print(string.format('fib(20)=%d min=%d max=%d words=%s', fib(20), t[1], t[#t],\n"
    "  table.concat(words, ',')))\n";

int main(void)
{
    lua_State *L = luaL_newstate();
    if (!L)
        return 1;
    luaL_openlibs(L);
    if (luaL_dostring(L, script) != LUA_OK) {
        fprintf(stderr, "driver: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return 1;
    }
    lua_close(L);
    return 0;
}
"""


def scale_sources(n):
    """The generated scale series for n functions: {file name: C source}.

    f_i calls f_{(i*7+3)%n} and f_{(i*13+5)%n} under a condition and touches a global array;
    1000 functions a file. The functions are noinline so that every call stays a call (and a
    relocation): about four relocations a function (two calls, the array, .eh_frame)."""
    data_len = 4096
    files = {}
    for start in range(0, n, SCALE_FUNCS_PER_FILE):
        end = min(n, start + SCALE_FUNCS_PER_FILE)
        callees = set()
        bodies = []
        for i in range(start, end):
            a = (i * 7 + 3) % n
            b = (i * 13 + 5) % n
            callees.update((a, b))
            bodies.append(
                f"NOINLINE int f_{i}(int x)\n"
                "{\n"
                f"    scale_data[{(i * 31) % data_len}] += x;\n"
                f"    if (x > 2 && (x & 7) > {i % 5})\n"
                f"        return f_{a}(x - 1) + f_{b}(x - 2) + {i % 17};\n"
                f"    return x ^ scale_data[(x + {i}) & {data_len - 1}];\n"
                "}\n"
            )
        decls = "".join(f"int f_{c}(int x);\n" for c in sorted(callees))
        files[f"part{start // SCALE_FUNCS_PER_FILE:04d}.c"] = (
            f"/* generated: functions {start}..{end - 1} of {n} */\n"
            "#define NOINLINE __attribute__((noinline))\n"
            f"extern int scale_data[{data_len}];\n" + decls + "\n" + "\n".join(bodies)
        )
    files["main.c"] = (
        "#include <stdio.h>\n"
        f"int scale_data[{data_len}];\n"
        "int f_0(int x);\n"
        "int main(int argc, char **argv)\n"
        "{\n"
        "    (void)argv;\n"
        "    int r = f_0(argc + 9);\n"
        '    printf("%d %d\\n", r, scale_data[0]);\n'
        "    return 0;\n"
        "}\n"
    )
    return files


# --------------------------------------------------------------------------------------------
# Building, with a cache keyed by compiler, flags and source hashes
# --------------------------------------------------------------------------------------------

_hash_cache = {}


def file_hash(path):
    path = Path(path)
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _hash_cache:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _hash_cache[key] = h.hexdigest()
    return _hash_cache[key]


_cc_version = None


def cc_version():
    global _cc_version
    if _cc_version is None:
        try:
            out = subprocess.run([CC, "--version"], capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            raise BenchError(f"cannot run {CC}: {e}")
        _cc_version = out.stdout.splitlines()[0] if out.stdout else CC
    return _cc_version


def write_if_changed(path, text):
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Compile:
    """One `clang-19 FLAGS -c SRC -o OUT`, skipped when OUT's key file matches."""

    def __init__(self, src, out, flags, deps=()):
        self.src = Path(src)
        self.out = Path(out)
        self.flags = list(flags)
        self.deps = [Path(d) for d in deps]

    def key(self):
        parts = {
            "compiler": CC,
            "version": cc_version(),
            "flags": self.flags,
            "source": file_hash(self.src),
            "deps": sorted(file_hash(d) for d in self.deps),
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def key_path(self):
        return self.out.with_suffix(self.out.suffix + ".key")

    def fresh(self):
        kp = self.key_path()
        return self.out.exists() and kp.exists() and kp.read_text().strip() == self.key()

    def run(self):
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_suffix(".tmp.o")
        cmd = [CC, *self.flags, "-c", str(self.src), "-o", str(tmp)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise BenchError(f"compile failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr}")
        os.replace(tmp, self.out)
        self.key_path().write_text(self.key() + "\n")


def run_compiles(jobs, what):
    stale = [j for j in jobs if not j.fresh()]
    if not stale:
        return
    workers = os.cpu_count() or 1
    log(f"building {what}: {len(stale)} of {len(jobs)} objects with {CC} ({workers} jobs)")
    t0 = time.perf_counter()
    done = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(j.run) for j in stale]
        for fut in concurrent.futures.as_completed(futures):
            fut.result()
            done += 1
            if len(stale) >= 20 and done % 20 == 0:
                log(f"  {done}/{len(stale)}")
    log(f"  built in {time.perf_counter() - t0:.1f} s")


# --------------------------------------------------------------------------------------------
# Locating the C sources of the crates (cargo metadata)
# --------------------------------------------------------------------------------------------

LOCATOR_MANIFEST = """\
# Private to benches/compare.py: only used with `cargo metadata` to have cargo fetch the
# crates that carry the SQLite and Lua C sources. Never built.
[workspace]

[package]
name = "jitlink-bench-src-locator"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
path = "lib.rs"

[dependencies]
libsqlite3-sys = { version = "0.39", features = ["bundled"] }
lua-src = "547"
"""

_crate_dirs = None


def cargo_metadata(manifest, extra=()):
    cmd = ["cargo", "metadata", "--format-version", "1", "--manifest-path", str(manifest), *extra]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return None, res.stderr.strip()
    return json.loads(res.stdout), None


def crate_dirs():
    """{package name: crate directory} for the packages that hold the C sources."""
    global _crate_dirs
    if _crate_dirs is not None:
        return _crate_dirs
    meta = None
    shared = ROOT / "testdata" / "workloads" / "Cargo.toml"
    if shared.exists():
        # --locked: never rewrite the shared package's lock file; fall back to our own locator.
        meta, _ = cargo_metadata(shared, ["--locked"])
    if meta is None:
        locator = CACHE / "src-locator"
        write_if_changed(locator / "Cargo.toml", LOCATOR_MANIFEST)
        write_if_changed(locator / "lib.rs", "")
        meta, err = cargo_metadata(locator / "Cargo.toml")
        if meta is None:
            raise BenchError(f"cargo metadata failed: {err}")
    dirs = {}
    for pkg in meta["packages"]:
        if pkg["name"] in ("libsqlite3-sys", "lua-src"):
            dirs[pkg["name"]] = Path(pkg["manifest_path"]).parent
    for need in ("libsqlite3-sys", "lua-src"):
        if need not in dirs:
            raise BenchError(f"cargo metadata did not list {need}")
    _crate_dirs = dirs
    return dirs


def sqlite_dir():
    d = crate_dirs()["libsqlite3-sys"] / "sqlite3"
    if not (d / "sqlite3.c").exists():
        raise BenchError(f"no sqlite3.c in {d}")
    return d


def lua_dir():
    cands = sorted(crate_dirs()["lua-src"].glob("lua-5.4*"))
    cands = [c for c in cands if (c / "lua.h").exists()]
    if not cands:
        raise BenchError(f"no lua-5.4.x directory in {crate_dirs()['lua-src']}")
    return cands[-1]


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------


class Workload:
    def __init__(self, name, builder, scale=None):
        self.name = name
        self.builder = builder  # () -> list of object paths
        self.scale = scale  # (n functions, variant) for the scale series
        self.objects = None

    def build(self):
        if self.objects is None:
            self.objects = self.builder()
        return self.objects


def build_sqlite():
    src = sqlite_dir()
    out = CACHE / "sqlite"
    driver = out / "driver.c"
    write_if_changed(driver, SQLITE_DRIVER.lstrip())
    flags = SQLITE_FLAGS + ["-I", str(src)]
    jobs = [
        Compile(src / "sqlite3.c", out / "sqlite3.o", SQLITE_FLAGS, deps=[src / "sqlite3.h"]),
        Compile(driver, out / "driver.o", flags, deps=[src / "sqlite3.h"]),
    ]
    run_compiles(jobs, "sqlite")
    return [out / "driver.o", out / "sqlite3.o"]


def build_lua():
    src = lua_dir()
    out = CACHE / "lua"
    driver = out / "driver.c"
    write_if_changed(driver, LUA_DRIVER.lstrip())
    headers = sorted(src.glob("*.h"))
    sources = sorted(p for p in src.glob("*.c") if p.name not in ("lua.c", "luac.c"))
    jobs = [Compile(c, out / (c.stem + ".o"), LUA_FLAGS, deps=headers) for c in sources]
    jobs.append(Compile(driver, out / "driver.o", LUA_FLAGS + ["-I", str(src)], deps=headers))
    run_compiles(jobs, f"lua ({src.name})")
    return [out / "driver.o"] + [j.out for j in jobs[:-1]]


def scale_source_files(n, label):
    d = CACHE / f"scale-{label}" / "src"
    files = scale_sources(n)
    for name, text in files.items():
        write_if_changed(d / name, text)
    return [d / name for name in sorted(files)]


def build_scale(n, label, sections):
    variant = "fsec" if sections else "plain"
    srcs = scale_source_files(n, label)
    out = CACHE / f"scale-{label}" / variant
    flags = SCALE_FLAGS + (SCALE_SECTION_FLAGS if sections else [])
    jobs = [Compile(s, out / (s.stem + ".o"), flags) for s in srcs]
    run_compiles(jobs, f"scale-{label} {variant}")
    objs = [j.out for j in jobs]
    main = [o for o in objs if o.name == "main.o"]
    return main + [o for o in objs if o.name != "main.o"]


def all_workloads():
    wl = [Workload("sqlite", build_sqlite), Workload("lua", build_lua)]
    for sections in (False, True):
        for n, label in SCALE_SIZES:
            name = f"scale-{label}" + ("-fsec" if sections else "")
            wl.append(
                Workload(
                    name,
                    lambda n=n, label=label, s=sections: build_scale(n, label, s),
                    scale=(n, "fsec" if sections else "plain"),
                )
            )
    return wl


# --------------------------------------------------------------------------------------------
# Relocation counting (ELF64 little-endian relocatable objects)
# --------------------------------------------------------------------------------------------

SHT_RELA, SHT_REL = 4, 9
SHF_ALLOC = 0x2


def count_relocations(path):
    """Relocation entries of REL/RELA sections whose target section is allocatable."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise BenchError(f"{path}: not a little-endian ELF64 file")
    e_shoff = struct.unpack_from("<Q", data, 0x28)[0]
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    shdr = struct.Struct("<IIQQQQIIQQ")
    if e_shnum == 0 and e_shoff:
        e_shnum = shdr.unpack_from(data, e_shoff)[5]  # extended count in section 0's sh_size
    sections = [shdr.unpack_from(data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
    total = 0
    for _name, typ, _flags, _addr, _off, size, _link, info, _align, entsize in sections:
        if typ not in (SHT_RELA, SHT_REL) or not entsize:
            continue
        if info < len(sections) and sections[info][2] & SHF_ALLOC:
            total += size // entsize
    return total


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


# Peak RSS cannot be read from os.wait4 on a child that Python starts directly: Linux folds the
# RSS high-water mark of the memory image a process replaces at exec into its ru_maxrss, and a
# child of Python execs out of (a copy of) Python's image, so every child would report at least
# Python's own peak (15-25 MiB here). The children are therefore started through this small
# launcher: it forks the tool from its own ~1 MiB image, reaps it with wait4 and writes the
# tool's ru_maxrss (and the launcher's own fork-to-reap wall time) to a report pipe.
SPAWN_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Runs argv[0..] and waits for it; returns its status as an exit code and its peak RSS. */
static int run(char **argv, long *maxrss)
{
    pid_t pid = fork();
    if (pid < 0)
        return 125;
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "spawn: cannot run %s\n", argv[0]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR)
            return 125;
    if (ru.ru_maxrss > *maxrss)
        *maxrss = ru.ru_maxrss;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/* usage: spawn REPORT_FD PROGRAM [ARG...] [--then PROGRAM2 [ARG...]]: runs PROGRAM (then,
 * if it succeeded, PROGRAM2), writes "<wall ns> <maxrss KiB>\n" to REPORT_FD (the wall time
 * of both, the larger of their peaks), exits with the status of the last one run (128 +
 * signal when killed). */
int main(int argc, char **argv)
{
    if (argc < 3)
        return 125;
    int report = atoi(argv[1]);
    if (fcntl(report, F_SETFD, FD_CLOEXEC) != 0)
        return 125;
    char **second = NULL;
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--then") == 0) {
            argv[i] = NULL;
            second = argv + i + 1;
            break;
        }
    if (second && !*second)
        return 125;
    struct timespec t0, t1;
    long maxrss = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = run(argv + 2, &maxrss);
    if (rc == 0 && second)
        rc = run(second, &maxrss);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    dprintf(report, "%lld %ld\n", ns, maxrss);
    return rc;
}
"""

# Loads a shared object the way a program that links one and opens it would: all symbols bound
# at once (RTLD_NOW), nothing run but the object's initializers.
DLLOAD_C = r"""
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    if (!dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) {
        fprintf(stderr, "dlload: %s\n", dlerror());
        return 1;
    }
    return 0;
}
"""

_spawner = None


def spawner():
    """Path of the launcher, compiled (and cached) on first use."""
    global _spawner
    if _spawner is None:
        d = CACHE / "tools"
        src = d / "spawn.c"
        write_if_changed(src, SPAWN_C.lstrip())
        obj = Compile(src, d / "spawn.o", ["-O2"])
        run_compiles([obj], "launcher")
        exe = d / "spawn"
        key = file_hash(obj.out)
        kp = d / "spawn.key"
        if not (exe.exists() and kp.exists() and kp.read_text().strip() == key):
            res = subprocess.run([CC, str(obj.out), "-o", str(exe)], capture_output=True, text=True)
            if res.returncode != 0:
                raise BenchError(f"cannot link the launcher: {res.stderr}")
            kp.write_text(key + "\n")
        _spawner = exe
    return _spawner


_dlload = None


def dlload():
    """Path of the shared-object loader, compiled (and cached) on first use. It links libm
    and libdl, so that what the workloads take from them resolves as it does in jitlink's
    process."""
    global _dlload
    if _dlload is None:
        d = CACHE / "tools"
        src = d / "dlload.c"
        write_if_changed(src, DLLOAD_C.lstrip())
        obj = Compile(src, d / "dlload.o", ["-O2"])
        run_compiles([obj], "loader")
        exe = d / "dlload"
        key = file_hash(obj.out)
        kp = d / "dlload.key"
        if not (exe.exists() and kp.exists() and kp.read_text().strip() == key):
            res = subprocess.run([CC, str(obj.out), "-o", str(exe), "-lm", "-ldl"],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                raise BenchError(f"cannot link the loader: {res.stderr}")
            kp.write_text(key + "\n")
        _dlload = exe
    return _dlload


# The system linkers jitlink is compared with as `LINKER -shared` + `dlopen`: the command that
# writes OUT from the objects. -Bsymbolic binds the objects' own definitions inside the shared
# object (as jitlink binds them inside the linked set), which also lets objects compiled as
# position-independent executables (Debian's default) link as a shared object. mold runs with
# --no-fork so that its peak memory is that of the process waited for (the default forks the
# linking process off and the parent's peak would be measured).
SHARED_LINKERS = {
    "lld": lambda out, objs: ["ld.lld-19", "-shared", "-Bsymbolic", "-o", str(out), *objs],
    "mold": lambda out, objs: ["mold", "-shared", "-Bsymbolic", "--no-fork", "-o", str(out),
                               *objs],
}


def shared_command(linker, w, objects):
    out = CACHE / "shared" / f"{w.name}-{linker}.so"
    out.parent.mkdir(parents=True, exist_ok=True)
    tool = SHARED_LINKERS[linker](out, [str(o) for o in objects])
    if shutil.which(tool[0]) is None:
        raise BenchError(f"{tool[0]} not found (Debian packages lld-19 and mold)")
    return [*tool, "--then", str(dlload()), str(out)]


def bench_shared(w, args, jitlink, objects, cmd_j):
    """jitlink --noexec against each of --shared's linkers + dlopen, alternated pair by pair."""
    out = {}
    for linker in args.shared:
        cmd_s = shared_command(linker, w, objects)
        log(f"  against {linker} -shared + dlopen")

        def on_fail(s, linker=linker):
            log(f"  {linker} + dlopen failed on {w.name}: {s.failure_text()}")

        j, sh, sout = alternate(
            cmd_j, cmd_s, args.runs, args.warmup, args.timeout,
            lambda s: check_jitlink(s, cmd_j), on_fail,
        )
        entry = {"command": quote(cmd_s), "jitlink": summarize(j),
                 "shared": summarize(sh) if sh and not sout.failure else None,
                 "failure": sout.failure.failure_text() if sout.failure else None}
        if entry["shared"]:
            entry["time_ratio"] = entry["jitlink"]["median_ms"] / entry["shared"]["median_ms"]
            entry["rss_ratio"] = (entry["jitlink"]["median_rss_mib"]
                                  / entry["shared"]["median_rss_mib"])
        out[linker] = entry
    return out


class Sample:
    """One run: wall time (s) measured by this script around the launcher's life, the launcher's
    own fork-to-reap time of the tool (s), the tool's peak RSS (KiB), exit code and output."""

    __slots__ = ("wall", "inner", "rss_kib", "rc", "stdout", "stderr", "timed_out")

    def __init__(self, wall, inner, rss_kib, rc, stdout, stderr, timed_out=False):
        self.timed_out = timed_out
        self.wall = wall
        self.inner = inner
        self.rss_kib = rss_kib
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def failure_text(self):
        if self.timed_out:
            return f"killed after {self.wall:.0f} s (--timeout)"
        return f"exit {self.rc}: {self.first_err_line()}"

    def first_err_line(self):
        for line in self.stderr.decode(errors="replace").splitlines():
            if line.strip():
                return line.strip()
        return ""


def run_once(cmd, timeout):
    """Runs cmd once (through the launcher): perf_counter around start and os.wait4."""
    launcher = str(spawner())
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        rfd, wfd = os.pipe()
        try:
            argv = [launcher, str(wfd), *map(str, cmd)]
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    pass_fds=(wfd,), start_new_session=True)
            killed = []

            def kill():
                killed.append(True)
                os.killpg(proc.pid, signal.SIGKILL)

            timer = threading.Timer(timeout, kill)
            timer.start()
            _pid, status, _usage = os.wait4(proc.pid, 0)
            t1 = time.perf_counter()
            timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
            os.close(wfd)
            wfd = -1
            report = b""
            while True:
                chunk = os.read(rfd, 256)
                if not chunk:
                    break
                report += chunk
        finally:
            os.close(rfd)
            if wfd >= 0:
                os.close(wfd)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    fields = report.split()
    if killed:
        return Sample(t1 - t0, t1 - t0, 0, proc.returncode, stdout, stderr, timed_out=True)
    if len(fields) != 2:
        raise BenchError(f"launcher gave no report (exit {proc.returncode}) for {quote(cmd)}: "
                         f"{stderr.decode(errors='replace')[:500]}")
    inner_ns, rss = int(fields[0]), int(fields[1])
    return Sample(t1 - t0, inner_ns / 1e9, rss, proc.returncode, stdout, stderr)


def quote(cmd):
    return " ".join(str(c) for c in cmd)


def check_jitlink(sample, cmd, expect_stdout=b""):
    if sample.timed_out:
        raise BenchError(f"jitlink {sample.failure_text()}: {quote(cmd)}")
    if sample.rc != 0 or sample.stdout != expect_stdout or (expect_stdout == b"" and sample.stderr):
        detail = sample.stderr.decode(errors="replace")[:2000]
        if sample.stdout != expect_stdout:
            detail += "\nstdout:\n" + sample.stdout.decode(errors="replace")[:2000]
        raise BenchError(f"jitlink failed (exit {sample.rc}): {quote(cmd)}\n{detail}")


# A warm-up run of the second tool longer than this counts as a timed run instead: the
# first-run effects that warm-up absorbs are noise against it, and its repetitions are costly.
LONG_RUN_S = 2.0


class Outcome:
    """What happened to the second tool (B) in `alternate`."""

    def __init__(self):
        self.failure = None  # the failing Sample, when B failed
        self.timed_out = False
        self.stopped_by_budget = False
        self.seconds = 0.0  # B's total time, warm-up included


def alternate(cmd_a, cmd_b, runs, warmup, timeout, check_a, on_b_fail, b_ok=None, budget=None):
    """Runs A B A B ...: `warmup` untimed pairs, then `runs` timed pairs.

    check_a(sample) raises on a failure of A. When B fails (non-zero exit, killed at `timeout`,
    or b_ok(sample) false), on_b_fail(sample) is called once and B is not run again. B's runs stop
    early, keeping at least one timed run, once one more would take its total past `budget`
    seconds. Returns (A's timed samples, B's timed samples, Outcome of B).
    """
    a_samples, b_samples = [], []
    out = Outcome()
    b_warm_left = warmup
    b_active = True
    gc.collect()
    gc.disable()  # no collector pauses inside the timed region
    try:
        for i in range(warmup + runs):
            sa = run_once(cmd_a, timeout)
            check_a(sa)
            if i >= warmup:
                a_samples.append(sa)
            if not b_active or len(b_samples) >= runs:
                continue
            if budget is not None and b_samples and out.seconds + b_samples[-1].wall > budget:
                out.stopped_by_budget = True
                b_active = False
                continue
            sb = run_once(cmd_b, timeout)
            out.seconds += sb.wall
            if sb.timed_out or sb.rc != 0 or (b_ok is not None and not b_ok(sb)):
                out.failure = sb
                out.timed_out = sb.timed_out
                on_b_fail(sb)
                b_active = False
                continue
            if b_warm_left > 0 and sb.wall < LONG_RUN_S:
                b_warm_left -= 1
            else:
                b_warm_left = 0
                b_samples.append(sb)
    finally:
        gc.enable()
    return a_samples, b_samples, out


def summarize(samples):
    walls = [s.wall * 1e3 for s in samples]
    inner = [s.inner * 1e3 for s in samples]
    rss = [s.rss_kib for s in samples]
    return {
        "runs": len(samples),
        "median_ms": statistics.median(walls),
        "median_inner_ms": statistics.median(inner),
        "min_ms": min(walls),
        "max_ms": max(walls),
        "median_rss_mib": statistics.median(rss) / 1024.0,
        "wall_ms": walls,
        "inner_ms": inner,
        "rss_kib": rss,
    }


TIMING_LINE = re.compile(r"^jitlink:\s*([\w-]+):\s*([0-9.]+)\s*ms\s*$")


def jitlink_timings(jitlink, objects, timeout, runs=1):
    """`jitlink --noexec --timings`, `runs` times: the stages of the run with the median total."""
    cmd = [str(jitlink), "--noexec", "--timings", *map(str, objects)]
    parsed = []
    for _ in range(runs):
        s = run_once(cmd, timeout)
        if s.timed_out or s.rc != 0 or s.stdout:
            check_jitlink(s, cmd)
        stages = {}
        for line in s.stderr.decode(errors="replace").splitlines():
            m = TIMING_LINE.match(line.strip())
            if m:
                stages[m.group(1)] = stages.get(m.group(1), 0.0) + float(m.group(2))
        if not stages:
            raise BenchError(f"no timings in the output of {quote(cmd)}:\n{s.stderr.decode()}")
        parsed.append({"stages": stages, "total_ms": stages.get("total", sum(stages.values()))})
    parsed.sort(key=lambda t: t["total_ms"])
    chosen = dict(parsed[len(parsed) // 2])
    chosen["runs"] = runs
    chosen["all_totals_ms"] = [t["total_ms"] for t in parsed]
    return chosen


def bench_workload(w, args, jitlink, llvm):
    objects = w.build()
    relocs = sum(count_relocations(o) for o in objects)
    log(f"measuring {w.name}: {len(objects)} objects, {relocs} relocations, "
        f"{args.warmup}+{args.runs} runs each")
    cmd_j = [str(jitlink), "--noexec", *map(str, objects)]
    # With --baseline, the other tool is an earlier jitlink binary, which takes jitlink's flags.
    cmd_l = [str(llvm), "--noexec" if args.baseline else "-noexec", *map(str, objects)]

    def on_llvm_fail(s):
        log(f"  {Path(llvm).name} failed on {w.name}: {s.failure_text()}")

    j, l, lout = alternate(
        cmd_j, cmd_l, args.runs, args.warmup, args.timeout,
        lambda s: check_jitlink(s, cmd_j), on_llvm_fail, budget=args.llvm_budget,
    )
    if lout.stopped_by_budget:
        log(f"  {Path(llvm).name}: {len(l)} timed runs within --llvm-budget {args.llvm_budget:.0f} s")
    lfail = lout.failure
    res = {
        "name": w.name,
        "objects": len(objects),
        "relocations": relocs,
        "jitlink": summarize(j),
        "llvm": summarize(l) if l and not lfail else None,
        "llvm_failure": (
            {"exit_code": lfail.rc, "timed_out": lfail.timed_out,
             "seconds": lfail.wall, "stderr_first_line": lfail.first_err_line(),
             "text": lfail.failure_text()} if lfail else None
        ),
        "llvm_stopped_by_budget": lout.stopped_by_budget,
        "timings": jitlink_timings(jitlink, objects, args.timeout, args.timings_runs),
        "shared": bench_shared(w, args, jitlink, objects, cmd_j) if args.shared else {},
        "inputs": [str(o) for o in objects],
    }
    if res["llvm"]:
        res["time_ratio"] = res["jitlink"]["median_ms"] / res["llvm"]["median_ms"]
        res["rss_ratio"] = res["jitlink"]["median_rss_mib"] / res["llvm"]["median_rss_mib"]
    if w.scale:
        res["scale"] = {"functions": w.scale[0], "variant": w.scale[1]}
    return res


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def fmt_table(headers, rows, align=None):
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    align = align or ["<"] + [">"] * (len(headers) - 1)

    def line(cells):
        return "| " + " | ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if a == ">" else ("-" * (w + 2))
                         for a, w in zip(align, widths)) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def fmt_ratio(x):
    return f"{x:.2f}" if x >= 0.1 else f"{x:.2g}"


def scale_metrics(results):
    """Adds time per relocation (wall and --timings total) and its ratio to the 1k workload of
    the same variant to each scale-series result."""
    base = {}
    for r in results:
        if "scale" in r and r["scale"]["functions"] == SCALE_SIZES[0][0]:
            base[r["scale"]["variant"]] = r
    for r in results:
        if "scale" not in r:
            continue
        relocs = max(r["relocations"], 1)
        r["jitlink_ns_per_reloc"] = r["jitlink"]["median_ms"] * 1e6 / relocs
        r["timings_ns_per_reloc"] = r["timings"]["total_ms"] * 1e6 / relocs
        b = base.get(r["scale"]["variant"])
        if b is not None and b is not r:
            r["ns_per_reloc_vs_1k"] = r["jitlink_ns_per_reloc"] / b["jitlink_ns_per_reloc"]
            r["timings_ns_per_reloc_vs_1k"] = (r["timings_ns_per_reloc"]
                                               / b["timings_ns_per_reloc"])


def report_noexec(results):
    scale_metrics(results)
    headers = ["workload", "objs", "relocs", "jitlink ms", "llvm ms", "time j/l",
               "jitlink MiB", "llvm MiB", "RSS j/l", "jitlink --timings total ms",
               "ns/reloc", "vs 1k", "llvm-jitlink failure"]
    rows = []
    for r in results:
        j, l = r["jitlink"], r["llvm"]
        l_ms = "FAILED"
        if l:
            l_ms = f"{l['median_ms']:.2f}"
            if l["runs"] < j["runs"]:
                l_ms += f" (n={l['runs']})"
        rows.append([
            r["name"], str(r["objects"]), str(r["relocations"]),
            f"{j['median_ms']:.2f}",
            l_ms,
            fmt_ratio(r["time_ratio"]) if l else "-",
            f"{j['median_rss_mib']:.1f}",
            f"{l['median_rss_mib']:.1f}" if l else "FAILED",
            fmt_ratio(r["rss_ratio"]) if l else "-",
            f"{r['timings']['total_ms']:.2f}",
            f"{r['jitlink_ns_per_reloc']:.0f}" if "jitlink_ns_per_reloc" in r else "",
            f"{r['ns_per_reloc_vs_1k']:.2f}x" if "ns_per_reloc_vs_1k" in r else "",
            r["llvm_failure"]["text"][:110] if r["llvm_failure"] else "",
        ])
    align = ["<"] + [">"] * (len(headers) - 2) + ["<"]
    out = [fmt_table(headers, rows, align)]

    # Second table: fork-to-reap times from the launcher, and jitlink's own stage breakdown.
    stages = []
    for r in results:
        for st in r["timings"]["stages"]:
            if st not in stages and st != "total":
                stages.append(st)
    headers2 = (["workload", "jitlink in ms", "llvm in ms", "in j/l"]
                + [f"{st} ms" for st in stages] + ["total ms", "total ns/reloc", "vs 1k"])
    rows2 = []
    for r in results:
        st = r["timings"]["stages"]
        j_in = r["jitlink"]["median_inner_ms"]
        l_in = r["llvm"]["median_inner_ms"] if r["llvm"] else None
        rows2.append(
            [r["name"], f"{j_in:.2f}", f"{l_in:.2f}" if l_in else "FAILED",
             fmt_ratio(j_in / l_in) if l_in else "-"]
            + [f"{st[x]:.2f}" if x in st else "-" for x in stages]
            + [f"{r['timings']['total_ms']:.2f}",
               f"{r['timings_ns_per_reloc']:.0f}" if "timings_ns_per_reloc" in r else "",
               f"{r['timings_ns_per_reloc_vs_1k']:.2f}x"
               if "timings_ns_per_reloc_vs_1k" in r else ""])
    out.append("")
    n = results[0]["timings"]["runs"] if results else 1
    which = "one `jitlink --noexec --timings` run" if n == 1 else \
        f"the median-total run of {n} `jitlink --noexec --timings` runs"
    out.append("in ms: median fork-to-reap time inside the launcher (no Python spawn overhead). "
               f"Stages: {which} per workload.")
    out.append("")
    out.append(fmt_table(headers2, rows2))

    shared_rows = []
    for r in results:
        for linker, e in r.get("shared", {}).items():
            j, sh = e["jitlink"], e["shared"]
            shared_rows.append([
                r["name"], linker, f"{j['median_ms']:.2f}",
                f"{sh['median_ms']:.2f}" if sh else "FAILED",
                fmt_ratio(e["time_ratio"]) if sh else "-",
                f"{j['median_rss_mib']:.1f}",
                f"{sh['median_rss_mib']:.1f}" if sh else "FAILED",
                fmt_ratio(e["rss_ratio"]) if sh else "-",
                (e["failure"] or "")[:110],
            ])
    if shared_rows:
        out.append("")
        out.append("against LINKER -shared -Bsymbolic + dlopen(RTLD_NOW) in a small loader "
                   "(wall: both processes; peak: the larger of the two), alternated with "
                   "jitlink --noexec pair by pair:")
        out.append("")
        out.append(fmt_table(["workload", "linker", "jitlink ms", "link+dlopen ms", "time j/s",
                              "jitlink MiB", "link+dlopen MiB", "RSS j/s", "failure"],
                             shared_rows, ["<", "<"] + [">"] * 6 + ["<"]))

    growth = []
    by_name = {r["name"]: r for r in results}
    for small, big in (("scale-10k", "scale-100k"), ("scale-10k-fsec", "scale-100k-fsec")):
        if small in by_name and big in by_name:
            a, b = by_name[small], by_name[big]
            growth.append(f"{big} / {small}: wall {b['jitlink']['median_ms'] / a['jitlink']['median_ms']:.2f}x, "
                          f"--timings total {b['timings']['total_ms'] / a['timings']['total_ms']:.2f}x, "
                          f"relocations {b['relocations'] / a['relocations']:.2f}x")
    if growth:
        out.append("")
        out.append("growth of jitlink's whole process: " + "; ".join(growth))
    return "\n".join(out)


def tool_version(cmd):
    try:
        res = subprocess.run([cmd, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    lines = [l.strip() for l in (res.stdout + res.stderr).splitlines() if l.strip()]
    return " / ".join(lines[:2]) if lines else "unknown"


def header_lines(args, llvm=None):
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"host: {platform.node()} {platform.machine()}, {os.cpu_count()} cpus, "
        f"python {platform.python_version()}, load average at report: {load}",
        f"jitlink: {args.jitlink_desc}",
    ]
    if llvm is not None and getattr(args, "baseline", None):
        lines.append(f"baseline (the 'llvm' columns): {args.baseline} (measured as a copy: {llvm})")
    elif llvm is not None:
        lines.append(f"llvm: {llvm} ({tool_version(llvm)})")
    lines += [
        f"compiler: {cc_version()}",
        f"runs: {args.runs} timed + {args.warmup} warm-up per "
        f"{'tool' if llvm else 'mode'}, alternated; medians",
    ]
    return lines


# --------------------------------------------------------------------------------------------
# --run-sqlite
# --------------------------------------------------------------------------------------------


def link_native(name, objects, libs):
    """The program linked by the system linker (through clang-19), cached by its inputs."""
    out = CACHE / "native" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    flags = ["-O2"]
    key = hashlib.sha256(json.dumps({
        "compiler": CC, "version": cc_version(), "flags": flags, "libs": libs,
        "objects": [file_hash(o) for o in objects],
    }, sort_keys=True).encode()).hexdigest()
    kp = out.with_name(out.name + ".key")
    if out.exists() and kp.exists() and kp.read_text().strip() == key:
        return out
    cmd = [CC, *flags, *map(str, objects), "-o", str(out), *libs]
    log(f"linking {out.name}: {quote(cmd)}")
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise BenchError(f"native link failed ({res.returncode}): {quote(cmd)}\n{res.stderr}")
    kp.write_text(key + "\n")
    return out


STATIC_SSL = Path("/usr/lib/x86_64-linux-gnu/libssl.a")
STATIC_CRYPTO = Path("/usr/lib/x86_64-linux-gnu/libcrypto.a")


def build_tls_session():
    src = ROOT / "benches" / "tls_session.c"
    job = Compile(src, CACHE / "tls" / "tls_session.o", ["-O2"])
    run_compiles([job], "tls session")
    for a in (STATIC_SSL, STATIC_CRYPTO):
        if not a.exists():
            raise BenchError(f"{a} not found (Debian package libssl-dev)")
    return [job.out]


def program_commands(name, args, jitlink):
    """(native command, jitlink command, label) of a program the run mode measures."""
    if name == "sqlite":
        driver_o, sqlite_o = build_sqlite()
        native = link_native("sqlite", [driver_o, sqlite_o], ["-lm"])
        rows = str(args.rows)
        return ([str(native), rows], [str(jitlink), str(sqlite_o), str(driver_o), "--", rows],
                f"sqlite ({rows} rows)")
    if name == "lua":
        objects = build_lua()
        native = link_native("lua", objects, ["-lm"])
        return [str(native)], [str(jitlink), *map(str, objects)], "lua"
    if name == "tls":
        objects = build_tls_session()
        archives = [str(STATIC_SSL), str(STATIC_CRYPTO)]
        native = link_native("tls_session", objects,
                             [f"-l:{STATIC_SSL.name}", f"-l:{STATIC_CRYPTO.name}"])
        return ([str(native)], [str(jitlink), *map(str, objects), *archives],
                "TLS 1.3 session over libssl.a + libcrypto.a")
    raise BenchError(f"no program {name} (have {', '.join(RUN_PROGRAMS)})")


RUN_PROGRAMS = ("sqlite", "lua", "tls")


def run_program(name, args, jitlink):
    """Runs program `name` natively and under jitlink, alternated, with the same output."""
    cmd_n, cmd_j, label = program_commands(name, args, jitlink)
    ref = run_once(cmd_n, args.timeout)
    if ref.rc != 0:
        raise BenchError(f"native {label} failed (exit {ref.rc}): {ref.stderr.decode()}")
    expect = ref.stdout

    def check_native(s):
        if s.rc != 0 or s.stdout != expect:
            raise BenchError(f"native {label} failed or changed its output (exit {s.rc})")

    def check_j(s):
        if s.rc != 0 or s.stdout != expect:
            detail = s.stderr.decode(errors="replace")[:2000]
            raise BenchError(f"jitlink run of {label} failed (exit {s.rc}) or its output "
                             f"differs from the native one: {quote(cmd_j)}\n{detail}\n"
                             f"stdout:\n{s.stdout.decode(errors='replace')[:2000]}")

    log(f"measuring {label}: {args.warmup}+{args.runs} runs each")
    # A = native, B = jitlink; a jitlink failure raises from check_j.
    n, j, _ = alternate(cmd_n, cmd_j, args.runs, args.warmup, args.timeout, check_native,
                        check_j, b_ok=lambda s: s.stdout == expect)
    sn, sj = summarize(n), summarize(j)
    result = {
        "mode": "run", "program": name, "label": label,
        "rows": args.rows if name == "sqlite" else None,
        "native": sn, "jitlink": sj,
        "time_ratio": sj["median_ms"] / sn["median_ms"],
        "rss_ratio": sj["median_rss_mib"] / sn["median_rss_mib"],
        "rss_goal_mib": 1.25 * sn["median_rss_mib"] + 4.0,
        "command_native": quote(cmd_n), "command_jitlink": quote(cmd_j),
        "output": expect.decode(errors="replace"),
    }
    result["inner_time_ratio"] = sj["median_inner_ms"] / sn["median_inner_ms"]
    return result


def run_table(results):
    headers = ["program", "run", "runs", "median ms", "min ms", "max ms", "in ms", "median MiB",
               "time vs native", "in vs native", "RSS vs native", "1.25x native + 4 MiB"]
    rows = []
    for r in results:
        sn, sj = r["native"], r["jitlink"]
        rows.append([r["label"], "native (clang-19 linked)", str(sn["runs"]),
                     f"{sn['median_ms']:.1f}", f"{sn['min_ms']:.1f}", f"{sn['max_ms']:.1f}",
                     f"{sn['median_inner_ms']:.1f}", f"{sn['median_rss_mib']:.1f}",
                     "1.000", "1.000", "1.00", ""])
        rows.append([r["label"], "jitlink (link + run)", str(sj["runs"]),
                     f"{sj['median_ms']:.1f}", f"{sj['min_ms']:.1f}", f"{sj['max_ms']:.1f}",
                     f"{sj['median_inner_ms']:.1f}", f"{sj['median_rss_mib']:.1f}",
                     f"{r['time_ratio']:.3f}", f"{r['inner_time_ratio']:.3f}",
                     f"{r['rss_ratio']:.2f}", f"{r['rss_goal_mib']:.1f} MiB"])
    return fmt_table(headers, rows, ["<", "<"] + [">"] * 10)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def build_jitlink():
    log("cargo build --release")
    res = subprocess.run(["cargo", "build", "--release", "--bin", "jitlink"], cwd=ROOT)
    if res.returncode != 0:
        raise BenchError("cargo build --release failed")


def snapshot_binary(path):
    """A private copy of the jitlink binary, so that a rebuild by someone else during the run
    does not change the binary under measurement."""
    digest = file_hash(path)[:16]
    d = CACHE / "bin"
    d.mkdir(parents=True, exist_ok=True)
    dest = d / f"jitlink-{digest}"
    if not dest.exists():
        tmp = d / f".jitlink-{digest}.tmp"
        shutil.copy2(path, tmp)
        os.replace(tmp, dest)
    for old in d.glob("jitlink-*"):
        if old != dest:
            old.unlink()
    return dest


def source_revision():
    """`<commit>` of the repository, with `+dirty` when src/, arch/ or the manifests differ."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src",
                                "arch", "Cargo.toml", "Cargo.lock"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def select(workloads, patterns):
    if not patterns:
        return workloads
    pats = [p.strip() for arg in patterns for p in arg.split(",") if p.strip()]
    chosen = [w for w in workloads if any(fnmatch.fnmatchcase(w.name, p) for p in pats)]
    if not chosen:
        names = ", ".join(w.name for w in workloads)
        raise BenchError(f"--only {','.join(pats)} matches no workload (have: {names})")
    return chosen


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Whole-process benchmark of `jitlink --noexec` against "
                    "`llvm-jitlink-22 -noexec` (or, with --run-sqlite, of running the SQLite "
                    "driver under jitlink against its native build).")
    p.add_argument("--runs", type=int, default=21, help="timed runs per tool (default 21)")
    p.add_argument("--warmup", type=int, default=3, help="untimed warm-up runs per tool (default 3)")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="workloads to run: names or shell patterns, comma-separated or repeated "
                        "(e.g. sqlite, 'scale-*-fsec')")
    p.add_argument("--timings-runs", type=int, default=1, metavar="N",
                   help="jitlink --timings runs per workload; the one with the median total "
                        "is shown (default 1)")
    p.add_argument("--jitlink", metavar="PATH",
                   help="jitlink binary (default: target/release/jitlink, built first with "
                        "cargo build --release)")
    p.add_argument("--no-build", action="store_true",
                   help="do not run cargo build --release for the default jitlink")
    p.add_argument("--llvm", metavar="PATH", default=DEFAULT_LLVM,
                   help=f"llvm-jitlink binary (default {DEFAULT_LLVM})")
    p.add_argument("--baseline", metavar="PATH",
                   help="compare against this (earlier) jitlink binary instead of llvm-jitlink: "
                        "the 'llvm' columns are then the baseline's")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--run-sqlite", action="store_true",
                   help="same as --run sqlite")
    p.add_argument("--run", action="append", choices=RUN_PROGRAMS, metavar="PROGRAM",
                   help="compare running PROGRAM natively linked vs under jitlink (time and max "
                        f"RSS); repeatable; one of {', '.join(RUN_PROGRAMS)}")
    p.add_argument("--rows", type=int, default=SQLITE_RUN_ROWS,
                   help=f"rows for --run-sqlite (default {SQLITE_RUN_ROWS})")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds before one run is killed (default 300); for llvm-jitlink that "
                        "is reported as its failure, for jitlink it is an error")
    p.add_argument("--llvm-budget", type=float, default=300.0, metavar="SECONDS",
                   help="stop timing llvm-jitlink on a workload (keeping at least one timed run) "
                        "once one more run would take its total past SECONDS (default 300)")
    p.add_argument("--shared", default="lld,mold", metavar="LINKERS",
                   help="also compare with LINKER -shared + dlopen for each of these "
                        f"(comma-separated, of {', '.join(SHARED_LINKERS)}; 'none' for none; "
                        "default lld,mold)")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    p.add_argument("--build-only", action="store_true",
                   help="build (or check the cache of) the selected workloads and exit")
    args = p.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.timings_runs < 1:
        p.error("--runs and --timings-runs must be >= 1, --warmup >= 0")
    args.shared = [] if args.shared in ("", "none") else args.shared.split(",")
    for linker in args.shared:
        if linker not in SHARED_LINKERS:
            p.error(f"--shared: unknown linker {linker} (have {', '.join(SHARED_LINKERS)})")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    workloads = all_workloads()
    if args.list:
        for w in workloads:
            print(w.name)
        return 0

    if args.build_only:
        chosen = select(workloads, args.only)
        for w in chosen:
            objs = w.build()
            relocs = sum(count_relocations(o) for o in objs)
            print(f"{w.name}: {len(objs)} objects, {relocs} relocations")
        return 0

    if args.jitlink:
        jitlink_src = Path(args.jitlink).resolve()
        revision = "given with --jitlink"
    else:
        if not args.no_build:
            build_jitlink()
        jitlink_src = DEFAULT_JITLINK
        revision = source_revision()
    if not os.access(jitlink_src, os.X_OK):
        raise BenchError(f"jitlink binary not found or not executable: {jitlink_src}")
    jitlink = snapshot_binary(jitlink_src)
    args.jitlink_desc = f"{jitlink_src} ({revision}; measured as a copy: {jitlink})"
    if shutil.which(CC) is None:
        raise BenchError(f"{CC} not found (Debian package clang-19)")

    if args.run_sqlite:
        args.run = (args.run or []) + ["sqlite"]
    if args.run:
        results = [run_program(name, args, jitlink) for name in args.run]
        head = header_lines(args)
        print("\n".join(head))
        for r in results:
            print(f"{r['label']}, native:  {r['command_native']}")
            print(f"{r['label']}, jitlink: {r['command_jitlink']}")
        print()
        print(run_table(results))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        return 0

    if args.baseline:
        base = Path(args.baseline).resolve()
        if not os.access(base, os.X_OK):
            raise BenchError(f"baseline jitlink not found or not executable: {base}")
        llvm = str(base)
        log(f"baseline: {base} (the 'llvm' columns below are the baseline jitlink's)")
    else:
        llvm = shutil.which(args.llvm) or args.llvm
    if not os.access(llvm, os.X_OK):
        raise BenchError(f"llvm-jitlink not found: {args.llvm} (Debian package llvm-22)")
    chosen = select(workloads, args.only)
    results = []
    for w in chosen:
        results.append(bench_workload(w, args, jitlink, llvm))
    head = header_lines(args, llvm)
    table = report_noexec(results)
    print("\n".join(head))
    print()
    print(table)
    if args.json:
        doc = {"meta": head, "runs": args.runs, "warmup": args.warmup, "workloads": results}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"compare.py: error: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
