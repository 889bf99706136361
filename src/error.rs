//! The one error type of jitlink. Every variant carries the context a user needs to find the
//! input at fault: file, section, symbol, relocation.

use std::fmt;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One undefined symbol and the inputs that reference it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undefined {
    /// The symbol's name.
    pub name: String,
    /// Inputs that reference it.
    pub referenced_by: Vec<String>,
}

/// A fixup that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixupFailure {
    /// Input file of the block holding the fixup.
    pub file: String,
    /// Section of that block.
    pub section: String,
    /// Offset of the fixup in its section.
    pub offset: u64,
    /// Edge kind, as its debug name.
    pub kind: String,
    /// Target symbol name (or a description of an anonymous target).
    pub target: String,
    /// What went wrong.
    pub reason: jitlink_arch::FixupError,
}

/// A relocation that needs a partner it does not have (RISC-V's `PCREL_LO12` without the
/// `PCREL_HI20` at its label, an `ADD` without its `SUB`), or one it cannot be combined with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpairedRelocation {
    /// The input.
    pub file: String,
    /// The section the relocation applies to.
    pub section: String,
    /// Offset in that section.
    pub offset: u64,
    /// The relocation type's name.
    pub kind: String,
    /// The symbol it names.
    pub symbol: String,
    /// What is wrong.
    pub why: String,
}

/// Everything that can go wrong while loading, linking, running or removing code.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An input is not a supported object file or archive.
    UnknownFormat {
        /// The input.
        file: String,
    },
    /// An input is malformed.
    Malformed {
        /// The input.
        file: String,
        /// What is wrong with it.
        what: String,
    },
    /// An input targets an architecture or format combination jitlink does not handle.
    Unsupported {
        /// The input.
        file: String,
        /// What is unsupported.
        what: String,
    },
    /// A relocation type that jitlink does not handle.
    UnsupportedRelocation {
        /// The input.
        file: String,
        /// The section the relocation applies to.
        section: String,
        /// Offset in that section.
        offset: u64,
        /// The relocation type's name (or number).
        kind: String,
        /// Why it is unsupported.
        why: &'static str,
    },
    /// Symbols that no input, archive or host library defines.
    UndefinedSymbols(Vec<Undefined>),
    /// Two strong definitions of one symbol.
    DuplicateDefinition {
        /// The symbol.
        symbol: String,
        /// The input with the first definition.
        first: String,
        /// The input with the second definition.
        second: String,
    },
    /// A relocation refers to a section that was discarded (a duplicate COMDAT group).
    DiscardedReference {
        /// The input.
        file: String,
        /// The referring section.
        section: String,
        /// Offset in that section.
        offset: u64,
    },
    /// Fixups that overflowed or did not match their instruction.
    Fixup(Box<FixupFailure>),
    /// A relocation without the partner it needs.
    UnpairedRelocation(Box<UnpairedRelocation>),
    /// A memory operation failed.
    Memory {
        /// What was being done.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The executor process failed or broke the protocol (see [`crate::executor`]).
    Executor {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A looked-up symbol is not defined anywhere.
    SymbolNotFound(String),
    /// A linked set that does not exist (already removed).
    NoSuchLinkedSet(u32),
    /// A linked set cannot be removed: other live sets or stubs still point into it.
    InUse {
        /// The set.
        what: String,
        /// What points into it.
        by: Vec<String>,
    },
    /// Two command-line options (or API settings) that cannot be used together.
    Conflict {
        /// The option given.
        option: &'static str,
        /// What it cannot be combined with.
        with: &'static str,
    },
    /// A command-line option or API argument whose value is not accepted.
    BadValue {
        /// The option or argument.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is expected.
        expected: &'static str,
    },
    /// A library given with `-l` was found nowhere.
    LibraryNotFound {
        /// The name after `-l`.
        name: String,
        /// What each attempt reported.
        tried: Vec<String>,
    },
    /// A redirectable symbol of that name exists already (or appears twice in one request).
    DuplicateRedirectable {
        /// The name.
        name: String,
    },
    /// A stub or trampoline cannot reach its pointer slot or entry point.
    StubOutOfRange {
        /// What was being made (`stub batch`, `trampoline batch`, `stub for NAME`).
        what: String,
        /// Why the fixup failed.
        reason: jitlink_arch::FixupError,
    },
    /// A finite resource of the process is used up (counter slots, trampoline ids).
    Exhausted {
        /// What ran out.
        what: String,
    },
    /// A feature this machine does not offer (per-thread counters without the needed
    /// thread-local support).
    Unavailable {
        /// The feature.
        what: &'static str,
    },
    /// A fixed base address that cannot hold the linked image.
    BadBase {
        /// The base.
        base: u64,
        /// Why it cannot.
        why: String,
    },
    /// Something is larger than jitlink accepts.
    TooLarge {
        /// The inputs of the link (empty where no link is involved).
        inputs: String,
        /// What it is.
        what: &'static str,
        /// Its size in bytes.
        size: u64,
        /// The largest size accepted.
        limit: u64,
    },
    /// A peer (the executor) answered something that breaks the protocol.
    Protocol {
        /// What was wrong.
        what: String,
    },
    /// A link was asked for with no input to link.
    NothingToLink,
    /// A condition that jitlink's own code should make impossible: a bug, reported rather than
    /// a panic.
    Internal(&'static str),
    /// A new definition of a running function that cannot be bound to the live image safely
    /// (re-optimization); the old version keeps running.
    Unbindable {
        /// The input holding the new definition.
        file: String,
        /// The function being replaced.
        symbol: String,
        /// Why it cannot be bound.
        reason: String,
    },
    /// The C library has no static TLS space left for a linked set's thread-local block. glibc
    /// sizes that space at process start (`GLIBC_TUNABLES=glibc.rtld.optional_static_tls=N`).
    StaticTlsExhausted {
        /// The inputs of the link.
        inputs: String,
        /// Bytes the block needs.
        needed: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::UnknownFormat { file } => {
                write!(f, "{file}: not a relocatable object file or archive")
            }
            Error::Malformed { file, what } => write!(f, "{file}: malformed input: {what}"),
            Error::Unsupported { file, what } => write!(f, "{file}: unsupported: {what}"),
            Error::UnsupportedRelocation { file, section, offset, kind, why } => write!(
                f,
                "{file}: section {section} offset {offset:#x}: unsupported relocation {kind}: {why}"
            ),
            Error::UndefinedSymbols(list) => {
                write!(f, "undefined symbols:")?;
                for u in list {
                    write!(f, "\n  {} (referenced by {})", u.name, u.referenced_by.join(", "))?;
                }
                Ok(())
            }
            Error::DuplicateDefinition { symbol, first, second } => {
                write!(f, "duplicate definition of symbol {symbol}: in {first} and in {second}")
            }
            Error::DiscardedReference { file, section, offset } => write!(
                f,
                "{file}: section {section} offset {offset:#x}: relocation refers to a discarded COMDAT section"
            ),
            Error::UnpairedRelocation(x) => write!(
                f,
                "{}: section {} offset {:#x}: relocation {} against {}: {}",
                x.file, x.section, x.offset, x.kind, x.symbol, x.why
            ),
            Error::Fixup(x) => write!(
                f,
                "{}: section {} offset {:#x}: fixup {} against {} failed: {}",
                x.file, x.section, x.offset, x.kind, x.target, x.reason
            ),
            Error::Memory { what, source } => write!(f, "memory: {what}: {source}"),
            Error::Executor { what, source } => write!(f, "executor: {what}: {source}"),
            Error::SymbolNotFound(name) => write!(f, "symbol not found: {name}"),
            Error::NoSuchLinkedSet(id) => write!(f, "no linked set with id {id}"),
            Error::InUse { what, by } => {
                let more = by.len().saturating_sub(8);
                let shown: Vec<&str> = by.iter().take(8).map(String::as_str).collect();
                write!(f, "{what} is still referenced by {}", shown.join(", "))?;
                if more > 0 {
                    write!(f, " and {more} more")?;
                }
                Ok(())
            }
            Error::Conflict { option, with } => write!(f, "{option} cannot be used with {with}"),
            Error::BadValue { option, value, expected } => {
                write!(f, "{option} {value}: expected {expected}")
            }
            Error::LibraryNotFound { name, tried } if tried.is_empty() => {
                write!(f, "library -l{name} not found")
            }
            Error::LibraryNotFound { name, tried } => {
                write!(f, "library -l{name} not found ({})", tried.join("; "))
            }
            Error::DuplicateRedirectable { name } => {
                write!(f, "redirectable symbol {name} already exists")
            }
            Error::StubOutOfRange { what, reason } => write!(f, "{what}: {reason}"),
            Error::Exhausted { what } => write!(f, "out of {what}"),
            Error::Unavailable { what } => write!(f, "{what} are not available on this machine"),
            Error::BadBase { base, why } => write!(f, "base address {base:#x}: {why}"),
            Error::TooLarge { inputs, what, size, limit } => {
                if !inputs.is_empty() {
                    write!(f, "{inputs}: ")?;
                }
                if *size == u64::MAX {
                    write!(f, "{what} overflows the address space (the limit is {limit:#x} bytes)")
                } else {
                    write!(f, "{what} of {size:#x} bytes is larger than {limit:#x}")
                }
            }
            Error::Protocol { what } => write!(f, "executor protocol: {what}"),
            Error::NothingToLink => write!(f, "nothing to link"),
            Error::Internal(what) => write!(f, "internal error (a bug in jitlink): {what}"),
            Error::Unbindable { file, symbol, reason } => {
                write!(f, "{file}: cannot bind new definition of {symbol}: {reason}")
            }
            Error::StaticTlsExhausted { inputs, needed } => write!(
                f,
                "{inputs}: no static TLS space left for a {needed}-byte thread-local block: start the process \
                 with GLIBC_TUNABLES=glibc.rtld.optional_static_tls=N (N bytes of surplus), or \
                 compile with -fPIC so that thread-locals use the dynamic model"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. }
            | Error::Memory { source, .. }
            | Error::Executor { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Shorthand for a [`Error::Malformed`].
pub(crate) fn malformed(file: &str, what: impl fmt::Display) -> Error {
    Error::Malformed {
        file: file.to_string(),
        what: what.to_string(),
    }
}
