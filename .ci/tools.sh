# Sourced by .ci/run and .ci/test: makes sure that every external tool the
# tests use is installed (installing Debian's packages when one is missing)
# and fails when one is still missing afterwards. Tests never skip for a
# missing tool: they fail, and so does this script, earlier and clearer.

# tool -> Debian package providing it
JITLINK_TOOLS=(
    "gcc:gcc"
    "g++:g++"
    "ar:binutils"
    "gdb:gdb"
    "perf:linux-perf"
    "clang-19:clang-19"
    "clang++-19:clang-19"
    "ld.lld-19:lld-19"
    "llvm-jitlink-22:llvm-22"
    "llvm-ar-22:llvm-22"
    "llvm-lipo-22:llvm-22"
    "llvm-objdump-22:llvm-22"
    "aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu"
    "qemu-aarch64:qemu-user"
    "/usr/aarch64-linux-gnu/lib/libc.so.6:libc6-dev-arm64-cross"
    "riscv64-linux-gnu-gcc:gcc-riscv64-linux-gnu"
    "qemu-riscv64:qemu-user"
    "/usr/riscv64-linux-gnu/lib/libc.so.6:libc6-dev-riscv64-cross"
    "llvm-mc-19:llvm-19"
    "x86_64-w64-mingw32-gcc:gcc-mingw-w64-x86-64"
)

jitlink_missing_tools() {
    local entry
    local tool
    for entry in "${JITLINK_TOOLS[@]}"; do
        tool="${entry%%:*}"
        case "$tool" in
            /*) [ -e "$tool" ] || echo "$tool" ;; # a file, not a command
            *) command -v "$tool" >/dev/null 2>&1 || echo "$tool" ;;
        esac
    done
}

jitlink_ensure_tools() {
    local missing packages entry sudo=()
    missing=$(jitlink_missing_tools)
    if [ -n "$missing" ]; then
        echo "missing tools: $(echo $missing); installing their packages" >&2
        packages=()
        for entry in "${JITLINK_TOOLS[@]}"; do
            if echo "$missing" | grep -qx "${entry%%:*}"; then
                packages+=("${entry#*:}")
            fi
        done
        if [ "$(id -u)" != 0 ]; then
            if command -v sudo >/dev/null 2>&1; then
                sudo=(sudo)
            else
                echo "error: not root and no sudo: cannot install ${packages[*]}" >&2
                return 1
            fi
        fi
        "${sudo[@]}" apt-get update
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            clang-19 lld-19 llvm-22 "${packages[@]}"
    fi
    missing=$(jitlink_missing_tools)
    if [ -n "$missing" ]; then
        echo "error: required tools still missing: $(echo $missing)" >&2
        return 1
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "error: cargo is not on PATH" >&2
        return 1
    fi
    for entry in "${JITLINK_TOOLS[@]}"; do
        case "${entry%%:*}" in
            /*) printf '%-16s %s\n' "${entry#*:}" "${entry%%:*}" ;;
            *) printf '%-16s %s\n' "${entry%%:*}" "$("${entry%%:*}" --version 2>&1 | head -n 1)" ;;
        esac
    done
}
