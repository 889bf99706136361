//! The executor over TCP on 127.0.0.1: `jitlink-executor --listen 127.0.0.1:0` (the binary
//! build.rs puts next to jitlink) serves one `jitlink --executor tcp:...` connection. The
//! program's output is the executor's; a dropped connection ends both sides with an error and
//! leaves nothing running; garbage is an error exit of the executor, never a crash.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::rng::{Random, SplitMix64};
use crate::common::*;

/// A listening executor: its process, port, and its stdout and stderr lines as they come.
struct Listening {
    child: Child,
    port: u16,
    stdout: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Drop for Listening {
    /// A failing test leaves nothing running: the executor's child dies with it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn executor_path() -> std::path::PathBuf {
    jitlink_path().with_file_name("jitlink-executor")
}

fn listen() -> Listening {
    listen_with(Command::new(executor_path()))
}

/// The aarch64 executor under qemu-user, as on a board.
fn listen_aarch64() -> Listening {
    let mut cmd = Command::new(&tool("qemu-aarch64").path);
    cmd.arg("-L")
        .arg(AARCH64_SYSROOT)
        .arg(jitlink_path().with_file_name("jitlink-executor-aarch64"));
    listen_with(cmd)
}

/// The riscv64 executor under qemu-user, as on a board.
fn listen_riscv64() -> Listening {
    let mut cmd = Command::new(&tool("qemu-riscv64").path);
    cmd.arg("-L")
        .arg("/usr/riscv64-linux-gnu")
        .arg(jitlink_path().with_file_name("jitlink-executor-riscv64"));
    listen_with(cmd)
}

fn listen_with(mut cmd: Command) -> Listening {
    let mut child = cmd
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start jitlink-executor (build.rs copies it next to jitlink)");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    err.read_line(&mut first)
        .expect("the executor's first line");
    let port = first
        .trim()
        .strip_prefix("jitlink-executor: listening on 127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    let stderr = std::thread::spawn(move || {
        let mut rest = first;
        let _ = err.read_to_string(&mut rest);
        rest
    });
    let (tx, stdout) = mpsc::channel();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Listening {
        child,
        port,
        stdout,
        stderr,
    }
}

/// The executor's stderr, once it has ended.
fn join(ex: &mut Listening) -> String {
    let handle = std::mem::replace(&mut ex.stderr, std::thread::spawn(String::new));
    handle.join().expect("stderr")
}

/// Waits up to 20 s for `child` to end.
fn wait_ended(child: &mut Child, who: &str) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s;
        }
        assert!(Instant::now() < deadline, "{who} is still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether process `pid` exists and is not a zombie (a zombie runs nothing; a reparented one
/// may wait for a reaper that a container lacks).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Waits up to 10 s for process `pid` to be gone.
fn gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

const PROGRAM: &str = r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static __thread int calls;
static int cmp(const void *a, const void *b) { calls++; return strcmp(*(char *const *)a, *(char *const *)b); }
int main(int argc, char **argv) {
    qsort(argv + 1, argc - 1, sizeof *argv, cmp);
    for (int i = 1; i < argc; i++) printf("%d: %s\n", i, argv[i]);
    printf("compared %d times\n", calls > 0);
    fprintf(stderr, "to stderr\n");
    return 3;
}
"#;

/// A C program with arguments, a thread-local, stdout, stderr and an exit status, linked by
/// jitlink through a TCP executor: its output (the executor's) and status are native's.
#[test]
fn a_program_over_tcp_matches_native() {
    over_tcp(Compiler::Gcc, listen);
}

/// The same with the aarch64 executor (under qemu-user): the architecture is the executor's.
#[test]
fn an_aarch64_program_over_tcp_matches_native() {
    over_tcp(Compiler::Aarch64Gcc, listen_aarch64);
}

/// The same with the riscv64 executor (under qemu-user).
#[test]
fn a_riscv64_program_over_tcp_matches_native() {
    over_tcp(Compiler::Riscv64Gcc, listen_riscv64);
}

fn over_tcp(compiler: Compiler, listen: fn() -> Listening) {
    let config = Config::new(compiler, Opt::O2, Pic::Pie, false, false);
    let objs = compile_generated(&config, &[("tcp_prog.c", PROGRAM)]);
    let exe = native_link(&config, &objs, "tcp_prog");
    let args: Vec<String> = ["pear", "apple", "fig"].map(String::from).to_vec();
    let (ncode, nout, nerr) = outcome(native_command(compiler, &exe).args(&args));
    assert_eq!(ncode, Some(3));

    let mut ex = listen();
    let spec = format!("tcp:127.0.0.1:{}", ex.port);
    let (jcode, jout, jerr) = outcome(&mut jitlink_command(&["--executor", &spec], &objs, &args));
    let status = wait_ended(&mut ex.child, "the executor");
    let out: Vec<String> = ex.stdout.iter().collect(); // to the end: the executor has ended
    let err = join(&mut ex);
    assert_eq!(jcode, ncode, "jitlink's status is the program's: {jerr}");
    assert_eq!(jout, "", "the program's output is the executor's");
    assert_eq!(
        status.code(),
        ncode,
        "the executor exits with the program's status: {err}"
    );
    assert_eq!(out.join("\n") + "\n", nout);
    assert!(
        err.ends_with(&nerr),
        "executor stderr {err:?} ends with {nerr:?}"
    );
}

const SLEEPER: &str = r#"#include <stdio.h>
#include <unistd.h>
int main(void) {
    printf("running %d\n", (int)getpid());
    fflush(stdout);
    for (int i = 0; i < 600; i++) sleep(1);
    return 0;
}
"#;

/// Starts SLEEPER through a listening executor; returns both sides and the program's pid.
fn start_sleeper() -> (Listening, Child, i32) {
    let config = Config::new(Compiler::Gcc, Opt::O0, Pic::Pie, false, false);
    let objs = compile_generated(&config, &[("tcp_sleeper.c", SLEEPER)]);
    let ex = listen();
    let spec = format!("tcp:127.0.0.1:{}", ex.port);
    let jit = jitlink_command(&["--executor", &spec], &objs, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start jitlink");
    let line = ex
        .stdout
        .recv_timeout(Duration::from_secs(30))
        .expect("the program runs in the executor");
    let pid = line
        .strip_prefix("running ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(alive(pid));
    (ex, jit, pid)
}

/// Killing jitlink while the program runs ends the executor with an error, and the program.
#[test]
fn killing_jitlink_mid_run_ends_the_executor() {
    let (mut ex, mut jit, pid) = start_sleeper();
    jit.kill().expect("kill jitlink");
    let _ = jit.wait();
    let status = wait_ended(&mut ex.child, "the executor");
    let err = join(&mut ex);
    assert_eq!(status.code(), Some(1), "an error exit: {err}");
    assert!(err.contains("connection to jitlink lost"), "{err}");
    assert!(gone(pid), "the program was left running");
}

/// The same channel end in a child (`--executor process`): killing jitlink while the program
/// runs ends the executor, which sees its channel close, instead of leaving an orphan.
#[test]
fn killing_jitlink_ends_a_child_executor() {
    let config = Config::new(Compiler::Gcc, Opt::O0, Pic::Pie, false, false);
    let objs = compile_generated(&config, &[("tcp_sleeper.c", SLEEPER)]);
    let mut jit = jitlink_command(&["--executor", "process"], &objs, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start jitlink");
    let mut line = String::new();
    BufReader::new(jit.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the program's first line");
    let pid: i32 = line
        .trim()
        .strip_prefix("running ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(alive(pid));
    jit.kill().expect("kill jitlink");
    let _ = jit.wait();
    assert!(gone(pid), "the executor was left running as an orphan");
}

/// Killing the executor (the process the user started) while the program runs ends jitlink
/// with an error naming the executor, and the program with it.
#[test]
fn killing_the_executor_mid_run_ends_jitlink() {
    let (mut ex, mut jit, pid) = start_sleeper();
    ex.child.kill().expect("kill the executor");
    let _ = ex.child.wait();
    let status = wait_ended(&mut jit, "jitlink");
    let mut err = String::new();
    let _ = jit.stderr.take().expect("stderr").read_to_string(&mut err);
    assert_eq!(status.code(), Some(1), "an error exit: {err}");
    assert!(
        err.contains("executor at 127.0.0.1") && err.contains("closed before the program ended"),
        "{err}"
    );
    assert!(gone(pid), "the program was left running");
}

/// One request frame.
fn frame(op: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = op.to_le_bytes().to_vec();
    m.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    m.extend_from_slice(payload);
    m
}

/// Sends `bytes` to a fresh listening executor, closes, and returns how it ended and its stderr.
fn send_to_executor(bytes: &[u8]) -> (ExitStatus, String) {
    let mut ex = listen();
    let mut s = TcpStream::connect(("127.0.0.1", ex.port)).expect("connect");
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    drop(s);
    let status = wait_ended(&mut ex.child, "the executor");
    (status, join(&mut ex))
}

/// Garbage (an HTTP request, random bytes, a hello of another protocol, lengths over their
/// bound, unknown requests) ends the executor with status 2 and a message, never a signal;
/// then a valid session with one request's op replaced, or one bit of its length flipped, ends
/// it without a signal (another op turns names and sizes into addresses to write to or call).
#[test]
fn garbage_is_an_error_exit_never_a_crash() {
    let hello = frame(1, b"jitlink-executor/1");
    let mut rng = SplitMix64(0x7c9);
    let random: Vec<u8> = (0..64).map(|_| rng.next() as u8).collect();
    let mut over = hello.clone();
    over.extend_from_slice(&frame(3, &[0; 24])[..4]);
    over.extend_from_slice(&u32::MAX.to_le_bytes());
    let mut unknown = hello.clone();
    unknown.extend_from_slice(&frame(999, b"x"));
    let cases: [(&str, Vec<u8>); 6] = [
        ("http", b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        ("random", random),
        ("other hello", frame(1, b"jitlink-executor/0")),
        ("lookup first", frame(2, b"printf\0")),
        ("length over bound", over),
        ("unknown request", unknown),
    ];
    for (what, bytes) in &cases {
        let (status, err) = send_to_executor(bytes);
        assert_eq!(status.code(), Some(2), "{what}: {err}");
        assert!(err.contains("bad request"), "{what}: {err}");
    }

    // A valid session with no address in it: hello, lookup, arguments, reserve.
    let mut session = hello.clone();
    session.extend_from_slice(&frame(2, b"printf\0malloc\0"));
    session.extend_from_slice(&frame(8, b"prog\0arg\0"));
    let mut reserve = 4096u64.to_le_bytes().to_vec();
    reserve.extend_from_slice(&[0; 16]);
    session.extend_from_slice(&frame(3, &reserve));
    let (status, err) = send_to_executor(&session);
    assert_eq!(
        status.code(),
        Some(0),
        "the valid session ends cleanly: {err}"
    );
    // Every request's op replaced by each op (and one past the last), and every bit of its
    // length word flipped, one mutation at a time.
    let mut mutations = Vec::new();
    let mut at = 0;
    while at < session.len() {
        mutations.extend((0..=20u8).map(|op| (at, None, op)));
        mutations.extend((0..32).map(|bit| (at + 4 + bit / 8, Some(bit % 8), 0)));
        let len = u32::from_le_bytes(session[at + 4..at + 8].try_into().expect("4 bytes"));
        at += 8 + len as usize;
    }
    for (at, bit, op) in mutations {
        let mut m = session.clone();
        match bit {
            Some(bit) => m[at] ^= 1 << bit,
            None => m[at] = op,
        }
        let (status, err) = send_to_executor(&m);
        assert!(
            status.code().is_some_and(|c| c < 128),
            "byte {at} mutated (bit {bit:?}, op {op}): {status:?} {err}"
        );
    }
}

/// `--lazy` and `--reopt` over TCP: first calls and hot counters travel as events on the same
/// connection as the replies; the program's output (the executor's) is native's, the unused
/// object is never linked, and the hot kernels are re-optimized.
#[test]
fn lazy_and_reopt_over_tcp_match_native() {
    let config = Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false);
    let lazy = testdata_dir().join("lazy");
    let jobs: Vec<CompileJob> = ["main.c", "used.c", "args.c", "unused.c"]
        .iter()
        .map(|n| CompileJob::new(&config, lazy.join(n), &[]))
        .collect();
    let objs = compile_all(&jobs);
    let exe = native_link(&config, &objs, "lazy-main");
    let (_, nout, _) = outcome(&mut native_command(Compiler::Gcc, &exe));
    let mut ex = listen();
    let spec = format!("tcp:127.0.0.1:{}", ex.port);
    let opts = ["--executor", &spec, "--lazy", "--lazy-log"];
    let (code, _, jerr) = outcome(&mut jitlink_command(&opts, &objs, &[]));
    wait_ended(&mut ex.child, "the executor");
    let out: Vec<String> = ex.stdout.iter().collect();
    assert_eq!(code, Some(0), "{jerr}");
    assert_eq!(out.join("\n") + "\n", nout);
    assert!(jerr.contains("args.o for many_args"), "{jerr}");
    assert!(!jerr.contains("unused"), "{jerr}");

    let t0 = Config::new(Compiler::Gcc, Opt::O0, Pic::Pie, false, false);
    let reopt = testdata_dir().join("reopt");
    let objs = compile_all(&[
        CompileJob::new(&t0, reopt.join("main.c"), &[]),
        CompileJob::new(&t0, reopt.join("kernels.c"), &[]),
    ]);
    let better = compile_all(&[CompileJob::new(&config, reopt.join("kernels.c"), &[])]);
    let exe = native_link(&t0, &objs, "reopt-tier0");
    let (_, nout, _) = outcome(&mut native_command(Compiler::Gcc, &exe));
    let mut ex = listen();
    let spec = format!("tcp:127.0.0.1:{}", ex.port);
    let better = better[0].to_string_lossy().into_owned();
    let opts = [
        "--executor",
        &spec,
        "--reopt",
        &better,
        "--reopt-threshold",
        "50",
        "--reopt-log",
    ];
    let (code, _, jerr) = outcome(&mut jitlink_command(&opts, &objs, &[]));
    wait_ended(&mut ex.child, "the executor");
    let out: Vec<String> = ex.stdout.iter().collect();
    assert_eq!(code, Some(0), "{jerr}");
    assert_eq!(out.join("\n") + "\n", nout);
    assert!(
        jerr.contains("jitlink: reoptimized kernel_sum after 50 calls"),
        "{jerr}"
    );
}

/// jitlink's side of the events: a peer that greets like an executor, then sends a frame that
/// is no event (a reply nobody asked for, an event of an unknown kind or length, a truncated
/// one) makes reading the program's events an error naming the executor, never a crash or a
/// hang; a connection closed between frames is the program's end.
#[test]
fn garbage_events_are_errors() {
    use jitlink::executor::Executor;
    use std::net::TcpListener;
    let event = |status: u32, body: &[u8]| {
        let mut m = status.to_le_bytes().to_vec();
        m.extend_from_slice(&(body.len() as u32).to_le_bytes());
        m.extend_from_slice(body);
        m
    };
    let good = [7u64.to_le_bytes(), 0u64.to_le_bytes()].concat();
    let cases: [(&str, Vec<u8>, bool); 6] = [
        ("a reply", event(0, &[]), true),
        ("an unknown kind", event(0x8000_0009, &good), true),
        ("a short event", event(0x8000_0001, &good[..8]), true),
        ("a kind that disagrees", event(0x8000_0002, &good), true),
        (
            "a truncated event",
            event(0x8000_0001, &good)[..12].to_vec(),
            true,
        ),
        ("nothing", Vec::new(), false),
    ];
    for (what, bytes, is_error) in cases {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut hello = [0u8; 8 + 18];
            s.read_exact(&mut hello).expect("hello");
            let mut reply = 0u32.to_le_bytes().to_vec();
            reply.extend_from_slice(&24u32.to_le_bytes());
            reply.extend_from_slice(&62u32.to_le_bytes()); // EM_X86_64
            reply.extend_from_slice(&4096u32.to_le_bytes());
            reply.extend_from_slice(&[0; 16]);
            s.write_all(&reply).expect("reply");
            s.write_all(&bytes).expect("garbage");
        });
        let mut ex = Executor::connect(&format!("127.0.0.1:{port}")).expect("connect");
        let r = ex.next_event();
        peer.join().expect("peer");
        match r {
            Err(e) => assert!(
                is_error && e.to_string().contains("executor at 127.0.0.1"),
                "{what}: {e}"
            ),
            Ok(e) => assert!(!is_error && e.is_none(), "{what}: {e:?}"),
        }
    }
}

/// Over TCP too, a program that exits while another of its threads waits for a lazy link ends
/// with its own status (the supervisor's last frame may come in the middle of a link).
#[test]
fn exit_while_a_link_is_under_way_over_tcp() {
    let config = Config::new(Compiler::Gcc, Opt::O2, Pic::Pie, false, false);
    let main = "#include <pthread.h>\n#include <stdlib.h>\n#include <unistd.h>\n\
                int late(int);\nstatic void *run(void *p) { (void)p; late(1); return 0; }\n\
                int main(void) { pthread_t t; pthread_create(&t, 0, run, 0);\n\
                usleep(300); exit(7); }\n";
    let objs = compile_generated(
        &config,
        &[
            ("exit_main.c", main),
            ("late.c", "int late(int x) { return x + 1; }\n"),
        ],
    );
    for i in 0..100 {
        let mut ex = listen();
        let spec = format!("tcp:127.0.0.1:{}", ex.port);
        let opts = ["--executor", &spec, "--lazy"];
        let (code, _, stderr) = outcome(&mut jitlink_command(&opts, &objs, &[]));
        wait_ended(&mut ex.child, "the executor");
        assert_eq!(code, Some(7), "run {i}: {stderr}");
        assert!(!stderr.contains("error"), "run {i}: {stderr}");
    }
}
