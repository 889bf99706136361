//! The executor protocol on its own: real child processes (the host's, and aarch64 and riscv64
//! under qemu-user) that allocate memory, receive machine code, run it, and report crashes.

use jitlink::executor::Perm;
use jitlink::executor::{describe_status, Executor, ExecutorKind};

/// `mov eax, edi; add eax, esi; ret` (x86-64) and `add w0, w0, w1; ret` (aarch64): the sum of
/// the first two integer arguments.
const ADD_X86_64: &[u8] = &[0x89, 0xf8, 0x01, 0xf0, 0xc3];
const ADD_AARCH64: &[u8] = &[0x00, 0x00, 0x01, 0x0b, 0xc0, 0x03, 0x5f, 0xd6];
/// `mov rax, [8]; ret` and `mov x0, #8; ldr x0, [x0]; ret`: a load from unmapped memory.
const CRASH_X86_64: &[u8] = &[0x48, 0x8b, 0x04, 0x25, 0x08, 0, 0, 0, 0xc3];
const CRASH_AARCH64: &[u8] = &[
    0x00, 0x01, 0x80, 0xd2, 0x00, 0x00, 0x40, 0xf9, 0xc0, 0x03, 0x5f, 0xd6,
];
/// `addw a0, a0, a1; ret` and `li a0, 8; ld a0, 0(a0); ret` (riscv64).
const ADD_RISCV64: &[u8] = &[0x3b, 0x05, 0xb5, 0x00, 0x67, 0x80, 0x00, 0x00];
const CRASH_RISCV64: &[u8] = &[
    0x13, 0x05, 0x80, 0x00, 0x03, 0x35, 0x05, 0x00, 0x67, 0x80, 0x00, 0x00,
];

fn run_code(kind: ExecutorKind, code: &[u8], crash: &[u8], arch: jitlink::ArchKind) {
    let mut ex = Executor::spawn(kind).expect("start the executor");
    let info = ex.info();
    assert_eq!(info.arch, arch, "the executor reports its architecture");
    assert!(info.page_size >= 4096 && info.page_size.is_power_of_two());
    let printf = ex
        .lookup(&[b"printf", b"no_such_symbol_here"])
        .expect("lookup");
    assert_ne!(printf[0], 0, "printf is found in the executor's C library");
    assert_eq!(printf[1], 0, "an unknown name is reported as missing");

    let base = ex.reserve(info.page_size, 0, false).expect("reserve");
    ex.write(base, code).expect("write");
    ex.protect(base, info.page_size, Perm::ReadExec)
        .expect("protect");
    assert_eq!(ex.call(base, &[40, 2]).expect("call"), 42);
    assert_eq!(ex.call(base, &[7, 8]).expect("call"), 15);

    let data = ex.reserve(info.page_size, 0, false).expect("reserve");
    ex.write_u64(data, 0x1122_3344_5566_7788)
        .expect("atomic store");
    ex.release(data, info.page_size).expect("release");

    // A call outside executable memory is refused; code that crashes takes down the executor
    // only: the call fails, and waiting reports the signal.
    assert!(ex.call(8, &[]).is_err(), "a call to address 8 is refused");
    ex.write(base, &[0])
        .expect_err("code is no longer writable");
    let bad = ex.reserve(info.page_size, 0, false).expect("reserve");
    ex.write(bad, crash).expect("write");
    ex.protect(bad, info.page_size, Perm::ReadExec)
        .expect("protect");
    assert!(
        ex.call(bad, &[]).is_err(),
        "a load from unmapped memory cannot return"
    );
    let status = ex.wait().expect("wait");
    let report = describe_status(status).expect_err("the executor was killed");
    assert!(report.contains("signal 11"), "{report}");
}

#[test]
fn host_process_runs_code_and_reports_a_crash() {
    run_code(
        ExecutorKind::Process,
        ADD_X86_64,
        CRASH_X86_64,
        jitlink::ArchKind::X86_64,
    );
}

#[test]
fn aarch64_under_qemu_runs_code_and_reports_a_crash() {
    run_code(
        ExecutorKind::Qemu {
            arch: jitlink::ArchKind::AArch64,
        },
        ADD_AARCH64,
        CRASH_AARCH64,
        jitlink::ArchKind::AArch64,
    );
}

#[test]
fn riscv64_under_qemu_runs_code_and_reports_a_crash() {
    run_code(
        ExecutorKind::Qemu {
            arch: jitlink::ArchKind::RiscV64,
        },
        ADD_RISCV64,
        CRASH_RISCV64,
        jitlink::ArchKind::RiscV64,
    );
}

#[test]
fn closing_the_channel_ends_an_idle_executor() {
    let mut ex = Executor::spawn(ExecutorKind::Process).expect("start the executor");
    let page = ex.info().page_size;
    let base = ex.reserve(page, 0, false).expect("reserve");
    // An executor that runs no program exits with status 0 when jitlink closes the channel.
    ex.protect(base, page, Perm::Read).expect("read-only");
    let status = ex.wait().expect("wait");
    assert_eq!(describe_status(status), Ok(0));
}

use crate::common;

/// A linked program that dereferences a bad pointer kills only the executor: jitlink reports
/// the signal and exits with 128 + its number, for the host and for aarch64 under qemu.
#[test]
fn a_crash_of_linked_code_is_reported_and_jitlink_exits_cleanly() {
    use common::*;
    let source = "#include <stdio.h>\n\
                  int poke(volatile int *p) { return *p; }\n\
                  int main(void) { puts(\"before\"); fflush(stdout); return poke((int *)8); }\n";
    for (compiler, kind) in [
        (Compiler::Gcc, "process"),
        (Compiler::Aarch64Gcc, "qemu"),
        (Compiler::Riscv64Gcc, "qemu"),
    ] {
        let config = Config::new(compiler, Opt::O0, Pic::Pie, false, false);
        let objs = compile_generated(&config, &[("crash.c", source)]);
        let mut cmd = jitlink_command(&["--executor", kind], &objs, &[]);
        let (code, stdout, stderr) = outcome(&mut cmd);
        assert_eq!(code, Some(128 + 11), "{kind}: {stderr}");
        assert_eq!(stdout, "before\n", "{kind}");
        assert!(
            stderr.contains("jitlink: linked program killed by signal 11"),
            "{kind}: {stderr}"
        );
    }
}

/// Redirectable stubs in an executor: a redirect writes the slot in the executor's memory, and
/// code linked later binds to the stub.
#[test]
fn redirects_write_the_executors_slots() {
    use common::*;
    use jitlink::executor::RemoteSession;
    let funcs = "int twice(int x) { return 2 * x; }\nint thrice(int x) { return 3 * x; }\n";
    let user = "int twice(int);\nint use_twice(int x) { return twice(x) + 1; }\n";
    for (compiler, kind) in [
        (Compiler::Gcc, ExecutorKind::Process),
        (
            Compiler::Aarch64Gcc,
            ExecutorKind::Qemu {
                arch: jitlink::ArchKind::AArch64,
            },
        ),
        (
            Compiler::Riscv64Gcc,
            ExecutorKind::Qemu {
                arch: jitlink::ArchKind::RiscV64,
            },
        ),
    ] {
        let config = Config::new(compiler, Opt::O2, Pic::Pie, false, false);
        let objs = compile_generated(&config, &[("funcs.c", funcs), ("user.c", user)]);
        let mut s = RemoteSession::new(Executor::spawn(kind.clone()).expect("executor"), vec![]);
        s.add_file(&objs[0]).expect("add funcs.o");
        s.link_pending().expect("link funcs.o");
        let thrice = s.lookup("thrice").expect("thrice");
        let stubs = s.create_redirectable(&["twice"]).expect("stubs");
        assert_eq!(
            s.lookup("twice"),
            Some(stubs[0]),
            "{kind:?}: lookups return the stub"
        );
        assert_eq!(s.executor().call(stubs[0], &[5]).expect("call"), 10);
        s.redirect("twice", thrice).expect("redirect");
        assert_eq!(s.executor().call(stubs[0], &[5]).expect("call"), 15);

        s.add_file(&objs[1]).expect("add user.o");
        s.link_pending().expect("link user.o");
        let use_twice = s.lookup("use_twice").expect("use_twice");
        assert_eq!(
            s.executor().call(use_twice, &[5]).expect("call"),
            16,
            "{kind:?}"
        );
        assert!(
            s.redirect("thrice", 0).is_err(),
            "only redirectable names redirect"
        );
    }
}

/// Counting trampolines made in the executor go to their target below the threshold (the
/// arguments intact), and a call into a trampoline from a request's own thread (here OP_CALL,
/// as from an initializer) is refused with a message, never a hang.
fn trampolines_in_the_executor(kind: ExecutorKind, add: &[u8]) {
    use jitlink::executor::TrampolineKind;
    let mut ex = Executor::spawn(kind).expect("start the executor");
    let page = ex.info().page_size;
    let base = ex.reserve(page, 0, false).expect("reserve");
    ex.write(base, add).expect("write");
    ex.protect(base, page, Perm::ReadExec).expect("protect");
    let counting = ex
        .trampolines(TrampolineKind::Counting { threshold: 3 }, &[base, base])
        .expect("counting trampolines");
    assert_eq!(counting.len(), 2);
    assert_ne!(counting[0].addr, counting[1].addr);
    for (a, b) in [(40, 2), (7, 8)] {
        assert_eq!(ex.call(counting[0].addr, &[a, b]).expect("call"), a + b);
    }
    let reentry = ex
        .trampolines(TrampolineKind::Reentry, &[0])
        .expect("re-entry trampolines");
    assert!(
        ex.call(reentry[0].addr, &[]).is_err(),
        "a lazy call on the thread that serves jitlink cannot wait for jitlink"
    );
    let status = ex.wait().expect("wait");
    let report = describe_status(status).expect_err("the executor aborted");
    assert!(report.contains("signal 6"), "{report}");
}

#[test]
fn host_process_makes_trampolines() {
    trampolines_in_the_executor(ExecutorKind::Process, ADD_X86_64);
}

#[test]
fn aarch64_under_qemu_makes_trampolines() {
    trampolines_in_the_executor(
        ExecutorKind::Qemu {
            arch: jitlink::ArchKind::AArch64,
        },
        ADD_AARCH64,
    );
}

/// `mov eax, 42; ret` and `mov w0, #42; ret`.
const RET42_X86_64: &[u8] = &[0xb8, 42, 0, 0, 0, 0xc3];
const RET42_AARCH64: &[u8] = &[0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6];

/// The event protocol on its own: a program whose entry is a re-entry trampoline reports its
/// first call as an event and waits; an answer naming no waiting trampoline, or code that is
/// not executable, is refused; the right answer continues the call (the program exits with what
/// the code returns). A failure answer makes the program abort with jitlink's message.
fn events_of(kind: ExecutorKind, ret42: &[u8]) {
    use jitlink::executor::{EventKind, TrampolineKind};
    for fail in [false, true] {
        let mut ex = Executor::spawn(kind.clone()).expect("start the executor");
        let page = ex.info().page_size;
        let code = ex.reserve(page, 0, false).expect("reserve");
        ex.write(code, ret42).expect("write");
        ex.protect(code, page, Perm::ReadExec).expect("protect");
        let t = ex
            .trampolines(TrampolineKind::Reentry, &[0, 0])
            .expect("trampolines");
        assert!(
            ex.resume(t[0].record, Ok(code)).is_err(),
            "no call waits there yet"
        );
        ex.start_main(t[0].addr).expect("start");
        let event = ex.next_event().expect("an event").expect("not ended");
        assert_eq!(event.kind, EventKind::FirstCall);
        assert_eq!(event.record, t[0].record);
        assert!(ex.resume(t[1].record, Ok(code)).is_err(), "not waiting");
        assert!(ex.resume(t[0].record + 8, Ok(code)).is_err(), "no record");
        assert!(ex.resume(t[0].record, Ok(8)).is_err(), "not executable");
        if fail {
            ex.resume(t[0].record, Err("linking x failed"))
                .expect("resume");
        } else {
            ex.resume(t[0].record, Ok(code)).expect("resume");
        }
        assert_eq!(ex.next_event().expect("the end"), None);
        let status = ex.wait().expect("wait");
        if fail {
            let report = describe_status(status).expect_err("aborted");
            assert!(report.contains("signal 6"), "{report}");
        } else {
            assert_eq!(describe_status(status), Ok(42));
        }
    }
}

#[test]
fn host_process_reports_events() {
    events_of(ExecutorKind::Process, RET42_X86_64);
}

#[test]
fn aarch64_under_qemu_reports_events() {
    events_of(
        ExecutorKind::Qemu {
            arch: jitlink::ArchKind::AArch64,
        },
        RET42_AARCH64,
    );
}
