//! The library API: add objects and archives, look up (which links), call, remove; and the
//! promise that no input, however corrupted, makes the linker panic.

use crate::common;

use common::rng::{Random, XorShift64 as Rng};
use common::{archive, compile_text, Compiler};
use jitlink::{Options, Session};

/// Compiles C source text with gcc and returns the object's bytes.
fn compile(name: &str, src: &str, flags: &[&str]) -> Vec<u8> {
    std::fs::read(compile_text(
        Compiler::Gcc,
        flags,
        &format!("{name}.c"),
        src,
    ))
    .expect("read object")
}

const LIB: &str = r#"
int counter = 40;
static int helper(int x) { return x * 2; }
int add(int a, int b) { return helper(a) + b - a; }
int bump(void) { return ++counter; }
const char *greeting(void) { return "hello from linked code"; }
"#;

/// Reads the protection of the mapping containing `addr` from /proc/self/maps.
fn protection_of(addr: u64) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        let (lo, hi) = parts.next()?.split_once('-')?;
        let (lo, hi) = (
            u64::from_str_radix(lo, 16).ok()?,
            u64::from_str_radix(hi, 16).ok()?,
        );
        (lo <= addr && addr < hi).then(|| parts.next().unwrap_or("").to_string())
    })
}

#[test]
fn add_lookup_call_remove() {
    for flags in [
        &["-O2"][..],
        &["-O0", "-fno-pic"][..],
        &["-O2", "-fPIC"][..],
    ] {
        let obj = compile("lib", LIB, flags);
        let mut s = Session::new(Options::default());
        s.add_object_bytes("lib.o", obj).expect("add object");
        let add = s.lookup("add").expect("lookup add");
        let set = s.linked_sets()[0];
        let (lo, hi) = s.linked_range(set).expect("linked set exists");
        assert!(
            lo <= add && add < hi,
            "add at {add:#x} outside the linked set {lo:#x}..{hi:#x}"
        );
        // SAFETY: `add` is the C function `int add(int, int)` compiled above.
        let f: extern "C" fn(i32, i32) -> i32 = unsafe { std::mem::transmute(add as usize) };
        assert_eq!(f(20, 22), 42, "flags {flags:?}");
        let bump = s.lookup("bump").expect("lookup bump");
        // SAFETY: `int bump(void)`.
        let bump: extern "C" fn() -> i32 = unsafe { std::mem::transmute(bump as usize) };
        assert_eq!((bump(), bump()), (41, 42));
        let counter = s.lookup("counter").expect("lookup counter");
        // SAFETY: `counter` is a C int in the linked set's writable data.
        assert_eq!(unsafe { *(counter as *const i32) }, 42);
        let g = s.lookup("greeting").expect("lookup greeting");
        // SAFETY: `const char *greeting(void)` returning a NUL-terminated literal.
        let g: extern "C" fn() -> *const std::ffi::c_char =
            unsafe { std::mem::transmute(g as usize) };
        // SAFETY: the literal lives in the linked set's read-only data.
        let text = unsafe { std::ffi::CStr::from_ptr(g()) };
        assert_eq!(text.to_str(), Ok("hello from linked code"));

        // Code is r-x, never writable; data is rw-.
        assert_eq!(protection_of(add).as_deref().map(|p| &p[..3]), Some("r-x"));
        assert_eq!(
            protection_of(counter).as_deref().map(|p| &p[..3]),
            Some("rw-")
        );

        s.remove(set).expect("remove");
        assert!(s.linked_range(set).is_none());
        // Small released ranges keep their pages for the next link, read-write and never
        // executable: a call into removed code faults.
        let after = protection_of(add);
        assert!(
            after.as_deref().is_some_and(|p| !p[..3].contains('x')),
            "removed code must not stay executable: {after:?}"
        );
        assert!(
            s.lookup("add").is_err(),
            "a removed symbol must not resolve"
        );
        assert!(s.remove(set).is_err(), "removing twice is an error");
    }
}

#[test]
fn archive_members_load_on_demand() {
    let a = compile_text(
        Compiler::Gcc,
        &["-O2"],
        "m_a.c",
        "int used(void) { return 7; }",
    );
    let b = compile_text(
        Compiler::Gcc,
        &["-O2", "-Wno-implicit-function-declaration"],
        "m_b.c",
        "int unused(void) { return missing_symbol(); }",
    );
    let ar = archive(&[a, b], "libm_ab");
    let main = compile(
        "m_main",
        "int used(void); int entry(void) { return used() * 6; }",
        &["-O2"],
    );
    let mut s = Session::new(Options::default());
    s.add_object_bytes("m_main.o", main).expect("add main");
    s.add_file(&ar).expect("add archive");
    // m_b.o would fail to link (missing_symbol): it must not be loaded.
    let entry = s
        .lookup("entry")
        .expect("link main with the archive member it needs");
    // SAFETY: `int entry(void)`.
    let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(entry as usize) };
    assert_eq!(f(), 42);
    assert!(
        s.lookup("unused").is_err(),
        "loading m_b.o on request must fail: it references an undefined symbol"
    );
}

#[test]
fn corrupted_objects_never_panic() {
    let obj = compile("victim", LIB, &["-O2", "-g"]);
    // A small deterministic generator (xorshift) for mutations.
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut outcomes = [0usize; 2];
    for i in 0..3000 {
        let mut bytes = obj.clone();
        match i % 3 {
            0 => bytes.truncate((rng.next() as usize) % obj.len()),
            1 => {
                for _ in 0..1 + rng.next() % 4 {
                    let at = (rng.next() as usize) % bytes.len();
                    bytes[at] = rng.next() as u8;
                }
            }
            _ => {
                // Corrupt a header-ish area, where sizes and offsets live.
                let at = (rng.next() as usize) % 64.min(bytes.len());
                bytes[at] = bytes[at].wrapping_add(1 + (rng.next() % 255) as u8);
                let at = bytes.len() - 1 - (rng.next() as usize) % 512.min(bytes.len());
                bytes[at] = rng.next() as u8;
            }
        }
        let result = std::panic::catch_unwind(move || {
            let mut s = Session::new(Options::default());
            s.add_object_bytes("victim.o", bytes)
                .and_then(|_| s.link_pending())
                .is_ok()
        });
        match result {
            Ok(ok) => outcomes[usize::from(ok)] += 1,
            Err(_) => panic!("mutation {i} made the linker panic"),
        }
    }
    assert!(
        outcomes[0] > 0,
        "some mutations must be rejected: {outcomes:?}"
    );
}

#[test]
fn thread_locals_in_threads_that_existed_before_the_link() {
    for flags in [
        &["-O2", "-fPIC"][..],
        &["-O2", "-ftls-model=initial-exec"][..],
    ] {
        let obj = compile(
            "tlsvar",
            "__thread int tv = 41; static __thread char zero[100]; int next(void) { zero[99]++; return ++tv + zero[99] - 1; }",
            flags,
        );
        let (to_thread, from_main) = std::sync::mpsc::channel::<u64>();
        let early = std::thread::spawn(move || {
            let f = from_main.recv().expect("address");
            // SAFETY: `int next(void)`.
            let next: extern "C" fn() -> i32 = unsafe { std::mem::transmute(f as usize) };
            (next(), next())
        });
        let mut s = Session::new(Options::default());
        s.add_object_bytes("tlsvar.o", obj).expect("add");
        let f = s.lookup("next").expect("lookup");
        to_thread.send(f).expect("send");
        assert_eq!(
            early.join().expect("thread"),
            (42, 44),
            "a thread created before the link gets the initial value ({flags:?})"
        );
        // SAFETY: as above.
        let next: extern "C" fn() -> i32 = unsafe { std::mem::transmute(f as usize) };
        assert_eq!(next(), 42, "each thread has its own instance ({flags:?})");
        let late = std::thread::spawn(move || next());
        assert_eq!(late.join().expect("thread"), 42);
        std::mem::forget(s); // the TLS module outlives the session by design
    }
}
