//! Out-of-process execution: an executor process allocates memory, reports addresses, receives
//! linked bytes, applies protections, registers unwind information, runs initializers and the
//! entry point, on jitlink's request.
//!
//! The executor is a small C program (`executor/executor.c`) built with jitlink for the host and,
//! when `aarch64-linux-gnu-gcc` or `riscv64-linux-gnu-gcc` is installed at build time, for aarch64
//! or riscv64 Linux; all are embedded
//! in jitlink and started from an anonymous file (`memfd`), so nothing needs installing. It talks
//! to jitlink over a socket on file descriptor 3 only: the program keeps stdin, stdout and
//! stderr. An executor for another architecture runs under qemu-user, with the target's system
//! root found by itself (`QEMU_LD_PREFIX`, else `/usr/<triple>`).
//!
//! A crash of the linked code kills the executor, never jitlink: [`Executor::wait`] reports the
//! exit status or the signal.
//!
//! The same executor also runs on its own, on another machine: `jitlink-executor --listen
//! HOST:PORT` (built next to the jitlink binary by build.rs) accepts one TCP connection and
//! serves it, and [`Executor::connect`] (`jitlink --executor tcp:HOST:PORT`) links through it.
//! The transport is a socket descriptor either way, so the protocol code is the same; over TCP
//! the executor's supervisor reports how the program ended in one last frame.
//!
//! While the program runs, the executor also sends *events*: a call into one of its re-entry
//! trampolines, or the call that brings a counting trampoline to its threshold
//! ([`Executor::trampolines`]), waits there until jitlink answers ([`Executor::resume`]). An
//! event frame has the top bit of its status word set, so it can arrive between a request and
//! its reply; [`Executor::next_event`] returns events in order ([`RemoteLazy`] and
//! [`RemoteReoptimizer`] serve them).

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use crate::error::{Error, Result};

pub use crate::graph::Perm;
pub use crate::remote::RemoteSession;
pub use crate::tiered::{RemoteLazy, RemoteReoptimizer};

use crate::target::ArchKind;

const OP_HELLO: u32 = 1;
const OP_LOOKUP: u32 = 2;
const OP_RESERVE: u32 = 3;
const OP_WRITE: u32 = 4;
const OP_PROTECT: u32 = 5;
const OP_REGISTER_EH: u32 = 6;
const OP_DEREGISTER_EH: u32 = 7;
const OP_SET_ARGS: u32 = 8;
const OP_RUN_INITS: u32 = 9;
const OP_CALL: u32 = 10;
const OP_RUN_MAIN: u32 = 11;
const OP_WRITE_U64: u32 = 12;
const OP_RELEASE: u32 = 13;
const OP_REGISTER_FINIS: u32 = 14;
const OP_DESCRIBE: u32 = 15;
const OP_READ: u32 = 16;
const OP_LOAD_TLS: u32 = 17;
const OP_LOAD_GLOBAL: u32 = 18;
const OP_TRAMPOLINES: u32 = 19;
const OP_RESUME: u32 = 20;

/// Set in the status word of a frame the executor sends on its own: an event, not a reply.
const EVENT_FLAG: u32 = 0x8000_0000;
/// The most trampolines one request makes (executor.c's `MAX_TRAMPOLINES`).
const MAX_TRAMPOLINES: usize = 4096;
/// Events read while waiting for a reply are kept for [`Executor::next_event`]; one waits per
/// record, so more than this many means the executor misbehaves.
const MAX_QUEUED_EVENTS: usize = 1 << 16;
/// The longest message [`Executor::resume`] sends with a failure.
const MAX_RESUME_MESSAGE: usize = 1024;

/// The file descriptor of the channel in the executor.
const CHANNEL_FD: i32 = 3;
/// Bytes of static TLS surplus the executor starts with, for linked sets' thread-locals.
const STATIC_TLS_SURPLUS: u32 = 64 << 10;
/// Largest reply accepted (a lookup of many names is the largest).
const MAX_REPLY: u32 = 1 << 28;
/// The payload of the first request: the protocol's name and version (executor.c checks it).
const HELLO_MAGIC: &[u8] = b"jitlink-executor/1";
/// The status word of the last frame a TCP executor sends: the program's wait status follows.
const END_FRAME: u32 = 0x454e_4421;
/// How long connecting to a TCP executor may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

static HOST_EXECUTOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/jitlink-executor-host"));
#[cfg(jitlink_executor_aarch64)]
static AARCH64_EXECUTOR: Option<&[u8]> = Some(include_bytes!(concat!(
    env!("OUT_DIR"),
    "/jitlink-executor-aarch64"
)));
#[cfg(not(jitlink_executor_aarch64))]
static AARCH64_EXECUTOR: Option<&[u8]> = None;
#[cfg(jitlink_executor_riscv64)]
static RISCV64_EXECUTOR: Option<&[u8]> = Some(include_bytes!(concat!(
    env!("OUT_DIR"),
    "/jitlink-executor-riscv64"
)));
#[cfg(not(jitlink_executor_riscv64))]
static RISCV64_EXECUTOR: Option<&[u8]> = None;

/// Where the executor runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecutorKind {
    /// A child process of the host's architecture.
    Process,
    /// A child process of another architecture under qemu-user.
    Qemu {
        /// The architecture of the target.
        arch: ArchKind,
    },
    /// An executor started with `jitlink-executor --listen HOST:PORT`, reached over TCP.
    Tcp {
        /// `HOST:PORT`.
        addr: String,
    },
}

/// What the executor reported about its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetInfo {
    /// Its architecture.
    pub arch: ArchKind,
    /// Page size.
    pub page_size: u64,
    /// An address inside the target's C library (the anchor for near placement).
    pub libc_anchor: u64,
    /// The executor's resolver for TLS descriptors of static blocks.
    pub tlsdesc_resolver: u64,
}

/// Trampolines made in the executor ([`Executor::trampolines`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrampolineKind {
    /// Each call enters the executor's runtime, which sends [`EventKind::FirstCall`] and waits
    /// for [`Executor::resume`].
    Reentry,
    /// Calls go to the trampoline's target, except the one that brings its counter (shared,
    /// incremented atomically) to the threshold: it sends [`EventKind::Hot`] and waits.
    Counting {
        /// Calls after which the event is sent.
        threshold: u64,
    },
}

/// A trampoline in the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteTrampoline {
    /// Its code (what a stub points at).
    pub addr: u64,
    /// Its record (named by its events and by [`Executor::resume`]).
    pub record: u64,
}

/// What a trampoline's event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A re-entry trampoline was called.
    FirstCall,
    /// A counting trampoline crossed its threshold.
    Hot,
}

/// A frame the executor sent on its own while the program ran: a call waits in a trampoline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The trampoline's record.
    pub record: u64,
}

/// Who the executor is: a child of this process, or a process reached over TCP.
enum Peer {
    Child(Child),
    Remote(String),
}

/// A running executor process.
pub struct Executor {
    peer: Peer,
    /// The socket (a Unix socket pair's end, or a TCP connection), read and written as a file.
    chan: std::fs::File,
    info: TargetInfo,
    /// Whether the program was started ([`Executor::start_main`]).
    started: bool,
    /// Events that arrived while a reply was awaited.
    events: std::collections::VecDeque<Event>,
    /// The wait status in a TCP executor's last frame, once read.
    ended: Option<u32>,
}

fn io_err(what: impl Into<String>, source: std::io::Error) -> Error {
    Error::Executor {
        what: what.into(),
        source,
    }
}

fn proto_err(what: impl Into<String>, detail: &str) -> Error {
    io_err(what, std::io::Error::other(detail.to_string()))
}

/// The executor binary for `kind`, as an executable anonymous file.
fn executor_file(kind: &ExecutorKind) -> Result<OwnedFd> {
    let bytes = match kind {
        ExecutorKind::Process => HOST_EXECUTOR,
        ExecutorKind::Qemu {
            arch: ArchKind::AArch64,
        } => AARCH64_EXECUTOR.ok_or_else(|| {
            proto_err(
                "starting the aarch64 executor",
                "jitlink was built without it: install gcc-aarch64-linux-gnu and rebuild",
            )
        })?,
        ExecutorKind::Qemu {
            arch: ArchKind::RiscV64,
        } => RISCV64_EXECUTOR.ok_or_else(|| {
            proto_err(
                "starting the riscv64 executor",
                "jitlink was built without it: install gcc-riscv64-linux-gnu and rebuild",
            )
        })?,
        ExecutorKind::Qemu { arch } => {
            return Err(proto_err(
                "starting an executor",
                &format!("no executor for {arch} under qemu"),
            ))
        }
        ExecutorKind::Tcp { addr } => {
            return Err(proto_err(
                format!("starting an executor at {addr}"),
                "a TCP executor is connected to, not started",
            ))
        }
    };
    // SAFETY: memfd_create takes a NUL-terminated name and flags; the descriptor it returns is
    // owned by the OwnedFd below. It is inherited by the child (no MFD_CLOEXEC) so that the
    // child can execute it through /proc/self/fd.
    let fd = unsafe { libc::memfd_create(c"jitlink-executor".as_ptr(), 0) };
    if fd < 0 {
        return Err(io_err(
            "creating the executor file",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // The child puts its channel on descriptor 3; keep the executor file clear of it.
    // SAFETY: F_DUPFD duplicates a descriptor we own onto the lowest free number >= 10.
    let high = unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_DUPFD, 10) };
    if high < 0 {
        return Err(io_err(
            "creating the executor file",
            std::io::Error::last_os_error(),
        ));
    }
    drop(owned);
    // SAFETY: `high` was just returned by fcntl and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(high) };
    let mut file = std::fs::File::from(owned.try_clone().map_err(|e| io_err("executor file", e))?);
    file.write_all(bytes)
        .map_err(|e| io_err("writing the executor file", e))?;
    Ok(owned)
}

/// The system root for qemu-user: `QEMU_LD_PREFIX`, else `/usr/<triple>`.
fn sysroot(arch: ArchKind) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("QEMU_LD_PREFIX") {
        return Ok(PathBuf::from(p));
    }
    let root = Path::new("/usr").join(arch.linux_triple());
    if root.join("lib").is_dir() {
        Ok(root)
    } else {
        Err(proto_err(
            format!("finding the {arch} system root"),
            &format!(
                "{} is missing: install the cross C library (libc6-dev-arm64-cross for aarch64, libc6-dev-riscv64-cross for riscv64) or set QEMU_LD_PREFIX",
                root.display()
            ),
        ))
    }
}

impl Executor {
    /// Starts an executor (or, for [`ExecutorKind::Tcp`], connects to one).
    pub fn spawn(kind: ExecutorKind) -> Result<Self> {
        if let ExecutorKind::Tcp { addr } = &kind {
            return Self::connect(addr);
        }
        let exe = executor_file(&kind)?;
        let exe_path = format!("/proc/self/fd/{}", exe.as_raw_fd());
        let (ours, theirs) = UnixStream::pair().map_err(|e| io_err("creating the channel", e))?;
        let mut cmd = match &kind {
            ExecutorKind::Process | ExecutorKind::Tcp { .. } => Command::new(&exe_path),
            ExecutorKind::Qemu { arch } => {
                let mut c = Command::new(format!("qemu-{}", arch.name()));
                c.arg("-L").arg(sysroot(*arch)?).arg(&exe_path);
                c
            }
        };
        cmd.args(["--fd", &CHANNEL_FD.to_string()]);
        // glibc sizes static TLS when the process starts: give the executor room for the blocks
        // of linked sets (jitlink in process restarts itself instead). The executor puts the
        // program's own GLIBC_TUNABLES back before anything runs.
        let tunable = format!("glibc.rtld.optional_static_tls={STATIC_TLS_SURPLUS}");
        match std::env::var("GLIBC_TUNABLES") {
            Ok(t) => {
                cmd.env("GLIBC_TUNABLES", format!("{t}:{tunable}"));
                cmd.args(["--tunables", &t]);
            }
            Err(_) => {
                cmd.env("GLIBC_TUNABLES", tunable);
                cmd.arg("--no-tunables");
            }
        }
        let child_fd = theirs.as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and only calls dup2 or fcntl,
        // which are async-signal-safe. Either leaves descriptor 3 without FD_CLOEXEC, so the
        // executor inherits the channel there.
        unsafe {
            cmd.pre_exec(move || {
                let ok = if child_fd == CHANNEL_FD {
                    // Already in place: dup2 would do nothing, so clear close-on-exec by hand.
                    libc::fcntl(CHANNEL_FD, libc::F_SETFD, 0) >= 0
                } else {
                    libc::dup2(child_fd, CHANNEL_FD) >= 0
                };
                if ok {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let child = cmd.spawn().map_err(|e| {
            io_err(
                format!("starting {}", cmd.get_program().to_string_lossy()),
                e,
            )
        })?;
        drop(theirs);
        drop(exe);
        Self::greet(Peer::Child(child), OwnedFd::from(ours))
    }

    /// Connects to an executor listening at `addr` (`HOST:PORT`, started with
    /// `jitlink-executor --listen HOST:PORT`); the architecture is the one it reports.
    pub fn connect(addr: &str) -> Result<Self> {
        use std::net::{TcpStream, ToSocketAddrs};
        let what = || format!("connecting to the executor at {addr}");
        let mut last = None;
        let addrs = addr.to_socket_addrs().map_err(|e| io_err(what(), e))?;
        for a in addrs {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(s) => {
                    // Requests and replies are small and strictly alternate: no Nagle delay.
                    s.set_nodelay(true).map_err(|e| io_err(what(), e))?;
                    return Self::greet(Peer::Remote(addr.to_string()), OwnedFd::from(s));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(io_err(
            what(),
            last.unwrap_or_else(|| std::io::Error::other("the name has no address")),
        ))
    }

    /// Says hello on `chan` and reads what the executor reports about itself.
    fn greet(peer: Peer, chan: OwnedFd) -> Result<Self> {
        let mut ex = Executor {
            peer,
            chan: std::fs::File::from(chan),
            info: TargetInfo {
                arch: ArchKind::HOST,
                page_size: 0,
                libc_anchor: 0,
                tlsdesc_resolver: 0,
            },
            started: false,
            events: std::collections::VecDeque::new(),
            ended: None,
        };
        let hello = ex.request(OP_HELLO, HELLO_MAGIC, "hello")?;
        if hello.len() != 24 {
            return Err(proto_err("hello", "short reply"));
        }
        let machine = u32_at(&hello, 0);
        let arch = u16::try_from(machine)
            .ok()
            .and_then(ArchKind::from_elf)
            .ok_or_else(|| proto_err("hello", &format!("unknown ELF machine {machine}")))?;
        ex.info = TargetInfo {
            arch,
            page_size: u64::from(u32_at(&hello, 4)),
            libc_anchor: u64_at(&hello, 8),
            tlsdesc_resolver: u64_at(&hello, 16),
        };
        Ok(ex)
    }

    /// What the executor reported about its process.
    pub fn info(&self) -> TargetInfo {
        self.info
    }

    /// The executor's process id (`None` for an executor reached over TCP).
    pub fn pid(&self) -> Option<u32> {
        match &self.peer {
            Peer::Child(c) => Some(c.id()),
            Peer::Remote(_) => None,
        }
    }

    /// Names the executor in errors about its channel.
    fn name(&self, what: &str) -> String {
        match &self.peer {
            Peer::Child(_) => what.to_string(),
            Peer::Remote(addr) => format!("{what} (executor at {addr})"),
        }
    }

    fn request(&mut self, op: u32, payload: &[u8], what: &str) -> Result<Vec<u8>> {
        let (status, body) = self.request_status(op, payload, what)?;
        if status != 0 {
            return Err(proto_err(self.name(what), &String::from_utf8_lossy(&body)));
        }
        Ok(body)
    }

    /// Sends a request; returns the reply's status (0, or an errno value) and body.
    fn request_status(&mut self, op: u32, payload: &[u8], what: &str) -> Result<(u32, Vec<u8>)> {
        let what = &self.name(what);
        let len = u32::try_from(payload.len())
            .map_err(|_| proto_err(what.to_string(), "request too large"))?;
        let mut msg = Vec::with_capacity(8 + payload.len());
        msg.extend_from_slice(&op.to_le_bytes());
        msg.extend_from_slice(&len.to_le_bytes());
        msg.extend_from_slice(payload);
        self.chan
            .write_all(&msg)
            .map_err(|e| io_err(what.to_string(), e))?;
        loop {
            let (status, body) = self.read_frame(what)?;
            if status == END_FRAME && body.len() == 4 && self.started {
                if let Peer::Remote(_) = self.peer {
                    // The program ended (another thread exited) while jitlink asked for something:
                    // as a closed channel, with the status kept for `wait`.
                    self.ended = Some(u32_at(&body, 0));
                    return Err(io_err(
                        what.to_string(),
                        std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                    ));
                }
            }
            if status & EVENT_FLAG == 0 {
                return Ok((status, body));
            }
            if self.events.len() >= MAX_QUEUED_EVENTS {
                return Err(proto_err(what.to_string(), "too many events"));
            }
            let event = parse_event(status, &body).map_err(|m| proto_err(what.to_string(), m))?;
            self.events.push_back(event);
        }
    }

    /// Waits until the channel has something to read (true), or the child executor has ended
    /// with nothing left to read (false: a process the program forked may hold the channel
    /// open, but no event can come any more). An executor over TCP is waited for on the channel.
    fn frame_or_child_gone(&mut self, what: &str) -> Result<bool> {
        let Peer::Child(child) = &mut self.peer else {
            return Ok(true);
        };
        loop {
            let mut pfd = libc::pollfd {
                fd: self.chan.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `pfd` is one valid pollfd for a descriptor this value owns, for the call.
            let n = unsafe { libc::poll(&mut pfd, 1, 100) };
            if n > 0 {
                return Ok(true);
            }
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(io_err(what.to_string(), e));
                }
                continue;
            }
            if child
                .try_wait()
                .map_err(|e| io_err(what.to_string(), e))?
                .is_some()
            {
                // Anything the executor sent before it ended is readable now.
                // SAFETY: as above.
                let n = unsafe { libc::poll(&mut pfd, 1, 0) };
                return Ok(n > 0);
            }
        }
    }

    /// Reads one frame: a status word (or an event's kind), and its body.
    fn read_frame(&mut self, what: &str) -> Result<(u32, Vec<u8>)> {
        let mut h = [0u8; 8];
        self.chan
            .read_exact(&mut h)
            .map_err(|e| io_err(what.to_string(), e))?;
        let (status, len) = (u32_at(&h, 0), u32_at(&h, 4));
        if len > MAX_REPLY {
            return Err(proto_err(what.to_string(), "reply too large"));
        }
        let mut body = vec![0u8; len as usize];
        self.chan
            .read_exact(&mut body)
            .map_err(|e| io_err(what.to_string(), e))?;
        Ok((status, body))
    }

    /// Makes trampolines of `kind` in the executor, one per target (counting trampolines go
    /// there below their threshold; re-entry trampolines take only the count of `targets`).
    /// Their code is written there and protected read-execute; their records are writable.
    pub fn trampolines(
        &mut self,
        kind: TrampolineKind,
        targets: &[u64],
    ) -> Result<Vec<RemoteTrampoline>> {
        let mut out = Vec::with_capacity(targets.len());
        for chunk in targets.chunks(MAX_TRAMPOLINES) {
            let (k, threshold) = match kind {
                TrampolineKind::Reentry => (0u32, 0),
                TrampolineKind::Counting { threshold } => (1u32, threshold),
            };
            let mut p = k.to_le_bytes().to_vec();
            p.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
            p.extend_from_slice(&threshold.to_le_bytes());
            if k == 1 {
                p.extend_from_slice(&words(chunk));
            }
            let r = self.request(OP_TRAMPOLINES, &p, "making trampolines")?;
            if r.len() != 32 {
                return Err(proto_err("making trampolines", "wrong reply length"));
            }
            let (code, stride, rec, rec_stride) =
                (u64_at(&r, 0), u64_at(&r, 8), u64_at(&r, 16), u64_at(&r, 24));
            for i in 0..chunk.len() as u64 {
                out.push(RemoteTrampoline {
                    addr: code.wrapping_add(i.wrapping_mul(stride)),
                    record: rec.wrapping_add(i.wrapping_mul(rec_stride)),
                });
            }
        }
        Ok(out)
    }

    /// Answers the event of the trampoline with record `record`: its waiting calls continue at
    /// `to`, or, with `Err(message)`, the executor prints the message and the program aborts.
    pub fn resume(&mut self, record: u64, to: std::result::Result<u64, &str>) -> Result<()> {
        let mut p = words(&[record, *to.as_ref().unwrap_or(&0)]);
        if let Err(m) = to {
            let mut end = m.len().min(MAX_RESUME_MESSAGE);
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            p.extend_from_slice(&m.as_bytes()[..end]);
        }
        self.request(OP_RESUME, &p, "resuming a call").map(drop)
    }

    /// The next event of the running program: `None` once the program has ended (the channel
    /// closed, or a TCP executor sent its last frame; [`Executor::wait`] then reports how).
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        if self.ended.is_some() {
            return Ok(None);
        }
        let what = self.name("reading the program's events");
        if !self.frame_or_child_gone(&what)? {
            return Ok(None);
        }
        let mut h = [0u8; 8];
        match self.chan.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            // A child that exited may reset the connection rather than close it.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(io_err(what, e)),
        }
        let (status, len) = (u32_at(&h, 0), u32_at(&h, 4));
        if status == END_FRAME && len == 4 && matches!(self.peer, Peer::Remote(_)) {
            let mut w = [0u8; 4];
            self.chan.read_exact(&mut w).map_err(|e| io_err(what, e))?;
            self.ended = Some(u32::from_le_bytes(w));
            return Ok(None);
        }
        if status & EVENT_FLAG == 0 || len != 16 {
            return Err(proto_err(
                what,
                "the executor sent something else than an event",
            ));
        }
        let mut body = [0u8; 16];
        self.chan
            .read_exact(&mut body)
            .map_err(|e| io_err(what.clone(), e))?;
        parse_event(status, &body)
            .map(Some)
            .map_err(|m| proto_err(what, m))
    }

    /// Addresses of `names` in the executor's process (0 for a name it does not define).
    pub fn lookup(&mut self, names: &[&[u8]]) -> Result<Vec<u64>> {
        let mut p = Vec::new();
        for n in names {
            p.extend_from_slice(n);
            p.push(0);
        }
        let r = self.request(OP_LOOKUP, &p, "looking up symbols")?;
        if r.len() != names.len() * 8 {
            return Err(proto_err("looking up symbols", "wrong reply length"));
        }
        Ok(r.chunks_exact(8).map(|c| u64_at(c, 0)).collect())
    }

    /// Maps `size` bytes of read-write memory (near `hint` if possible, below 2 GiB if `low`);
    /// returns the base.
    pub fn reserve(&mut self, size: u64, hint: u64, low: bool) -> Result<u64> {
        let r = self.request(
            OP_RESERVE,
            &words(&[size, hint, u64::from(low)]),
            "reserving memory",
        )?;
        r.get(..8)
            .map(|b| u64_at(b, 0))
            .ok_or_else(|| proto_err("reserving memory", "short reply"))
    }

    /// Writes `bytes` at `addr`.
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<()> {
        let mut p = addr.to_le_bytes().to_vec();
        p.extend_from_slice(bytes);
        self.request(OP_WRITE, &p, "writing memory").map(drop)
    }

    /// Gives `[addr, addr + len)` the protection `perm` (flushing the instruction cache of code).
    pub fn protect(&mut self, addr: u64, len: u64, perm: Perm) -> Result<()> {
        let bits: u32 = match perm {
            Perm::ReadExec => 1 | 4,
            Perm::Read => 1,
            Perm::ReadWrite => 1 | 2,
        };
        let mut p = words(&[addr, len]);
        p.extend_from_slice(&bits.to_le_bytes());
        self.request(OP_PROTECT, &p, "protecting memory").map(drop)
    }

    /// Registers the terminated `.eh_frame` at `addr` with the executor's unwinder.
    pub fn register_eh_frame(&mut self, addr: u64) -> Result<()> {
        self.request(
            OP_REGISTER_EH,
            &words(&[addr]),
            "registering unwind information",
        )
        .map(drop)
    }

    /// Deregisters an `.eh_frame` registered by [`Executor::register_eh_frame`].
    pub fn deregister_eh_frame(&mut self, addr: u64) -> Result<()> {
        self.request(
            OP_DEREGISTER_EH,
            &words(&[addr]),
            "deregistering unwind information",
        )
        .map(drop)
    }

    /// Sets the program's `argv` (`argv[0]` first) for initializers and the entry point.
    pub fn set_args(&mut self, args: &[String]) -> Result<()> {
        let mut p = Vec::new();
        for a in args {
            if a.as_bytes().contains(&0) {
                return Err(Error::BadValue {
                    option: "program argument",
                    value: a.replace('\0', "\\0"),
                    expected: "no NUL byte",
                });
            }
            p.extend_from_slice(a.as_bytes());
            p.push(0);
        }
        self.request(OP_SET_ARGS, &p, "passing arguments").map(drop)
    }

    /// Calls each initializer as `f(argc, argv, envp)`, in order.
    pub fn run_inits(&mut self, inits: &[u64]) -> Result<()> {
        self.request(OP_RUN_INITS, &words(inits), "running initializers")
            .map(drop)
    }

    /// Registers finalizers (in the order they run at exit) under the set's `dso` handle.
    pub fn register_finis(&mut self, dso: u64, finis: &[u64]) -> Result<()> {
        if finis.is_empty() {
            return Ok(());
        }
        let mut all = vec![dso];
        all.extend_from_slice(finis);
        self.request(OP_REGISTER_FINIS, &words(&all), "registering finalizers")
            .map(drop)
    }

    /// Calls the function at `addr` with up to six integer arguments; returns its result.
    pub fn call(&mut self, addr: u64, args: &[u64]) -> Result<u64> {
        if args.len() > 6 {
            return Err(Error::BadValue {
                option: "remote call arguments",
                value: args.len().to_string(),
                expected: "at most six",
            });
        }
        let mut all = vec![addr];
        all.extend_from_slice(args);
        let r = self.request(OP_CALL, &words(&all), "calling a function")?;
        r.get(..8)
            .map(|b| u64_at(b, 0))
            .ok_or_else(|| proto_err("calling a function", "short reply"))
    }

    /// Starts `exit(entry(argc, argv, envp))` in the executor. Requests are still served while
    /// the program runs; [`Executor::wait`] returns how it ended.
    pub fn start_main(&mut self, entry: u64) -> Result<()> {
        self.request(OP_RUN_MAIN, &words(&[entry]), "starting the program")?;
        self.started = true;
        Ok(())
    }

    /// Stores `value` at the 8-byte aligned `addr` with one release-ordered atomic store (a
    /// stub's slot: this is how a redirect reaches the executor).
    pub fn write_u64(&mut self, addr: u64, value: u64) -> Result<()> {
        self.request(OP_WRITE_U64, &words(&[addr, value]), "redirecting")
            .map(drop)
    }

    /// The dynamic symbol that starts at `addr` in the executor's process: size, whether it is
    /// a function, whether it lies in writable memory. `None` if there is none.
    pub fn describe(&mut self, addr: u64) -> Result<Option<crate::passes::got_stubs::HostSymbol>> {
        let (status, r) =
            self.request_status(OP_DESCRIBE, &words(&[addr]), "describing a symbol")?;
        match status {
            0 if r.len() == 16 => Ok(Some(crate::passes::got_stubs::HostSymbol {
                size: u64_at(&r, 0),
                function: u32_at(&r, 8) != 0,
                writable: u32_at(&r, 12) != 0,
            })),
            0 => Err(proto_err("describing a symbol", "wrong reply length")),
            // ENOENT: no symbol starts there.
            s if s == libc::ENOENT as u32 => Ok(None),
            _ => Err(proto_err(
                self.name("describing a symbol"),
                &String::from_utf8_lossy(&r),
            )),
        }
    }

    /// `len` bytes of the executor's memory at `addr`.
    pub fn read(&mut self, addr: u64, len: u64) -> Result<Vec<u8>> {
        self.request(OP_READ, &words(&[addr, len]), "reading memory")
    }

    /// Loads a TLS module (see `crate::runtime::tls::build_module`) with the executor's
    /// dynamic loader; returns the module's id and, if asked, its block's offset from the
    /// thread pointer.
    pub fn load_tls(
        &mut self,
        module: &crate::runtime::tls::TlsModule,
        static_tls: bool,
        total: u64,
    ) -> Result<jitlink_arch::TlsValues> {
        let bias = match self.request(OP_LOAD_TLS, &module.bytes, "loading a TLS module") {
            Ok(r) => r
                .get(..8)
                .map(|b| u64_at(b, 0))
                .ok_or_else(|| proto_err("loading a TLS module", "short reply"))?,
            Err(Error::Executor { source, .. })
                if static_tls && source.to_string().contains("static TLS") =>
            {
                return Err(Error::StaticTlsExhausted {
                    inputs: String::new(),
                    needed: total,
                })
            }
            Err(e) => return Err(e),
        };
        let words = self.read(bias + module.module_at, 16)?;
        Ok(jitlink_arch::TlsValues {
            module: u64_at(&words, 0),
            tp_offset: if static_tls {
                u64_at(&words, 8) as i64
            } else {
                0
            },
        })
    }

    /// Loads shared object `module` with the executor's dynamic loader (as a TLS module is
    /// loaded) and returns `n` words of it at file offset `at`, as the loader relocated them.
    pub fn load_module_words(&mut self, module: &[u8], at: u64, n: usize) -> Result<Vec<u64>> {
        let bias = self
            .request(OP_LOAD_TLS, module, "loading a module")?
            .get(..8)
            .map(|b| u64_at(b, 0))
            .ok_or_else(|| proto_err("loading a module", "short reply"))?;
        let bytes = self.read(bias + at, 8 * n as u64)?;
        Ok(bytes.chunks_exact(8).map(|c| u64_at(c, 0)).collect())
    }

    /// Loads shared object `module` with the executor's dynamic loader with `RTLD_GLOBAL`: its
    /// symbols become visible to the objects loaded after it.
    pub fn load_global(&mut self, module: &[u8]) -> Result<()> {
        self.request(
            OP_LOAD_GLOBAL,
            module,
            "loading a module of exported symbols",
        )
        .map(drop)
    }

    /// Unmaps memory reserved by [`Executor::reserve`].
    pub fn release(&mut self, addr: u64, len: u64) -> Result<()> {
        self.request(OP_RELEASE, &words(&[addr, len]), "releasing memory")
            .map(drop)
    }

    /// Waits for the executor process to end: after the program exits, or at once (closing the
    /// channel ends an executor that runs no program). The channel stays open while a program
    /// runs: an executor whose channel closes then ends the program (jitlink is gone).
    pub fn wait(mut self) -> Result<ExitStatus> {
        if !self.started {
            // SAFETY: shutdown on a socket descriptor this value owns; it only ends the
            // sending direction, so the executor sees end of file.
            unsafe { libc::shutdown(self.chan.as_raw_fd(), libc::SHUT_WR) };
        }
        match &mut self.peer {
            Peer::Child(child) => child
                .wait()
                .map_err(|e| io_err("waiting for the executor", e)),
            Peer::Remote(_) if self.ended.is_some() => {
                Ok(ExitStatus::from_raw(self.ended.unwrap_or(0) as i32))
            }
            Peer::Remote(addr) => {
                let what = format!("waiting for the program (executor at {addr})");
                let mut frame = [0u8; 12];
                self.chan.read_exact(&mut frame).map_err(|e| {
                    let e = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        std::io::Error::other("the connection was closed before the program ended")
                    } else {
                        e
                    };
                    io_err(what.clone(), e)
                })?;
                if u32_at(&frame, 0) != END_FRAME || u32_at(&frame, 4) != 4 {
                    return Err(proto_err(
                        what,
                        "the executor sent something else than its end",
                    ));
                }
                Ok(ExitStatus::from_raw(u32_at(&frame, 8) as i32))
            }
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // An executor that was not waited for is ended: it holds no state worth keeping. One
        // over TCP ends when the connection closes (its supervisor kills the program).
        if let Peer::Child(child) = &mut self.peer {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// How a program's end is reported: `Ok(code)` for an exit, `Err(message)` for a signal.
pub fn describe_status(status: ExitStatus) -> std::result::Result<i32, String> {
    if let Some(code) = status.code() {
        return Ok(code);
    }
    let sig = status.signal().unwrap_or(0);
    // SAFETY: strsignal returns a pointer to a static or thread-local string (or NULL).
    let name = unsafe {
        let p = libc::strsignal(sig);
        if p.is_null() {
            String::from("unknown signal")
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    Err(format!("killed by signal {sig} ({name})"))
}

/// An event frame's kind (its status word) and body: the record, and the kind again.
fn parse_event(status: u32, body: &[u8]) -> std::result::Result<Event, &'static str> {
    let kind = match status & !EVENT_FLAG {
        1 => EventKind::FirstCall,
        2 => EventKind::Hot,
        _ => return Err("an event of an unknown kind"),
    };
    if body.len() != 16 || u64_at(body, 8) != u64::from((status & !EVENT_FLAG) - 1) {
        return Err("a malformed event");
    }
    Ok(Event {
        kind,
        record: u64_at(body, 0),
    })
}

fn words(ws: &[u64]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}
