# Sourced by .ci/run and .ci/test: makes sure that every external tool the
# tests use is installed (installing Debian's packages when one is missing)
# and fails when one is still missing afterwards. Tests never skip for a
# missing tool: they fail, and so does this script, earlier and clearer.

# tool -> Debian package providing it
JITLINK_TOOLS=(
    "gcc:gcc"
    "g++:g++"
    "ar:binutils"
    "clang-19:clang-19"
    "clang++-19:clang-19"
    "ld.lld-19:lld-19"
    "llvm-jitlink-22:llvm-22"
    "llvm-mc-19:llvm-19"
)

jitlink_missing_tools() {
    local entry
    for entry in "${JITLINK_TOOLS[@]}"; do
        command -v "${entry%%:*}" >/dev/null 2>&1 || echo "${entry%%:*}"
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
        printf '%-16s %s\n' "${entry%%:*}" "$("${entry%%:*}" --version 2>&1 | head -n 1)"
    done
}
