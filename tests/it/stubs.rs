//! Redirectable stubs: creation in batches, calls, atomic redirection under running threads,
//! ownership and reuse, function-pointer identity through the linker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::common::{compile_text, Compiler};
use jitlink::stubs::{Owner, RedirectableSymbolManager, RedirectionManager};
use jitlink::{Options, Redirectable, Session};

extern "C" fn one() -> u64 {
    1
}
extern "C" fn two() -> u64 {
    2
}
/// Returns its argument: checks that arguments pass through a stub untouched.
extern "C" fn echo(x: u64) -> u64 {
    x.wrapping_mul(3)
}

fn addr(f: extern "C" fn() -> u64) -> u64 {
    f as usize as u64
}

fn call(stub: u64) -> u64 {
    // SAFETY: every stub in these tests points at a function of type `extern "C" fn() -> u64`.
    let f: extern "C" fn() -> u64 = unsafe { std::mem::transmute(stub as usize) };
    f()
}

#[test]
fn create_call_redirect() {
    let s = Session::new(Options::default());
    let m = s.redirection_manager();
    let stubs = m
        .create_redirectable_symbols(
            Owner(1),
            &[
                ("f", addr(one)),
                ("g", addr(two)),
                ("h", echo as *const () as usize as u64),
            ],
        )
        .expect("create");
    assert_eq!(call(stubs[0]), 1);
    assert_eq!(call(stubs[1]), 2);
    // SAFETY: stub 2 points at `echo`.
    let h: extern "C" fn(u64) -> u64 = unsafe { std::mem::transmute(stubs[2] as usize) };
    assert_eq!(h(14), 42);
    m.redirect(&[("f", addr(two)), ("g", addr(one))])
        .expect("batch redirect");
    assert_eq!((call(stubs[0]), call(stubs[1])), (2, 1));
    m.redirect_one("f", addr(one)).expect("redirect one");
    assert_eq!(call(stubs[0]), 1);
    assert_eq!(
        m.lookup("f"),
        Some(stubs[0]),
        "a stub's address never changes"
    );
    // Stubs are 8-byte aligned jump templates with their slots 8 bytes each: 16 bytes a stub.
    assert_eq!(
        jitlink::stubs::StubPool::<jitlink::link::HostArch>::BYTES_PER_STUB,
        16
    );
}

#[test]
fn unknown_names_are_errors_and_redirect_nothing() {
    let s = Session::new(Options::default());
    let m = s.redirection_manager();
    let stubs = m
        .create_redirectable_symbols(Owner(1), &[("known", addr(one))])
        .expect("create");
    let err = m
        .redirect(&[("known", addr(two)), ("nosuch", addr(two))])
        .expect_err("unknown name");
    assert!(err.to_string().contains("nosuch"), "{err}");
    assert_eq!(call(stubs[0]), 1, "a failed batch redirects nothing");
    assert!(m.redirect_one("nosuch", 0).is_err());
    assert!(
        m.create_redirectable_symbols(Owner(2), &[("known", addr(two))])
            .is_err(),
        "duplicate name"
    );
}

#[test]
fn hundred_thousand_stubs_in_batches_release_and_reuse() {
    let s = Session::new(Options::default());
    let m = s.redirection_manager();
    let names: Vec<String> = (0..100_000).map(|i| format!("fn{i}")).collect();
    let mut all = Vec::new();
    for (b, batch) in names.chunks(10_000).enumerate() {
        let init: Vec<(&str, u64)> = batch
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), if i % 2 == 0 { addr(one) } else { addr(two) }))
            .collect();
        all.extend(
            m.create_redirectable_symbols(Owner(b as u64), &init)
                .expect("create batch"),
        );
    }
    for (i, &st) in all.iter().enumerate() {
        assert_eq!(
            call(st),
            if (i % 10_000) % 2 == 0 { 1 } else { 2 },
            "stub {i}"
        );
    }
    let mut sorted = all.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), all.len(), "every stub has its own address");
    let (used, _) = m.counts();
    assert_eq!(used, 100_000);
    // Release three owners and create again: the freed stubs are reused, the pool does not grow.
    let total_before = {
        let (u, f) = m.counts();
        u + f
    };
    for o in [3, 4, 5] {
        m.release(Owner(o));
    }
    assert_eq!(m.lookup("fn30000"), None, "released names stop resolving");
    let again: Vec<String> = (0..30_000).map(|i| format!("again{i}")).collect();
    let init: Vec<(&str, u64)> = again.iter().map(|n| (n.as_str(), addr(two))).collect();
    let reused = m
        .create_redirectable_symbols(Owner(99), &init)
        .expect("recreate");
    let total_after = {
        let (u, f) = m.counts();
        u + f
    };
    assert_eq!(total_before, total_after, "released stubs are reused");
    let freed: std::collections::HashSet<u64> = all[30_000..60_000].iter().copied().collect();
    assert!(reused.iter().all(|s| freed.contains(s)));
    assert!(reused.iter().all(|&s| call(s) == 2));
}

#[test]
fn redirect_under_running_threads() {
    const STUBS: usize = 10_000;
    const REDIRECTS: usize = 1_000_000;
    let s = Session::new(Options::default());
    let m = s.redirection_manager();
    let names: Vec<String> = (0..STUBS).map(|i| format!("s{i}")).collect();
    let init: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), addr(one))).collect();
    let stubs = Arc::new(
        m.create_redirectable_symbols(Owner(1), &init)
            .expect("create"),
    );
    let handles: Vec<_> = names.iter().map(|n| m.handle(n).expect("handle")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..8)
        .map(|t| {
            let (stubs, stop) = (stubs.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut calls = 0u64;
                let mut i = t * 997;
                while !stop.load(Ordering::Relaxed) {
                    let v = call(stubs[i % STUBS]);
                    assert!(v == 1 || v == 2, "stub returned {v}");
                    i += 7;
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    for r in 0..REDIRECTS {
        let h = &handles[r % STUBS];
        h.redirect(if (r / STUBS).is_multiple_of(2) {
            addr(two)
        } else {
            addr(one)
        });
    }
    // Half the redirects go through the named, locked path too.
    for r in 0..REDIRECTS / 100 {
        m.redirect_one(
            &names[r % STUBS],
            if r % 2 == 0 { addr(one) } else { addr(two) },
        )
        .expect("redirect");
    }
    stop.store(true, Ordering::Relaxed);
    let calls: u64 = callers
        .into_iter()
        .map(|c| c.join().expect("caller thread"))
        .sum();
    assert!(calls > 0);
}

fn gcc(name: &str, src: &str) -> std::path::PathBuf {
    compile_text(Compiler::Gcc, &["-O2"], &format!("{name}.c"), src)
}

#[test]
fn linked_functions_keep_their_address_across_redirection() {
    let a = gcc("impl", "unsigned long value(void) { return 10; }\nunsigned long (*value_ptr(void))(void) { return value; }\n");
    let b = gcc("user", "unsigned long value(void);\nunsigned long call_value(void) { return value() + 1; }\nunsigned long (*user_ptr(void))(void) { return value; }\n");
    for everywhere in [false, true] {
        let which = if everywhere {
            Redirectable::FunctionsEverywhere(vec!["value".into()])
        } else {
            Redirectable::Functions(vec!["value".into()])
        };
        let mut s = Session::new(Options {
            redirectable: which,
            ..Options::default()
        });
        s.add_file(&a).expect("add");
        s.add_file(&b).expect("add");
        let value = s.lookup("value").expect("lookup");
        let m = s.redirection_manager();
        assert_eq!(m.lookup("value"), Some(value), "lookup returns the stub");
        let fnptr = |name: &str, s: &mut Session| {
            let f = s.lookup(name).expect("lookup");
            // SAFETY: `unsigned long (*f(void))(void)`.
            let f: extern "C" fn() -> u64 = unsafe { std::mem::transmute(f as usize) };
            f()
        };
        assert_eq!(
            fnptr("user_ptr", &mut s),
            value,
            "another object sees the stub"
        );
        if everywhere {
            assert_eq!(
                fnptr("value_ptr", &mut s),
                value,
                "its own object sees the stub"
            );
        }
        assert_eq!(call(value), 10);
        assert_eq!(fnptr("call_value", &mut s), 11);
        m.redirect_one("value", addr(two)).expect("redirect");
        assert_eq!(call(value), 2);
        assert_eq!(
            fnptr("call_value", &mut s),
            3,
            "calls from other objects follow the redirection"
        );
        assert_eq!(
            fnptr("user_ptr", &mut s),
            value,
            "identity holds after redirection"
        );
        s.remove(jitlink::LinkedSetId(0)).expect("remove");
        assert_eq!(
            m.lookup("value"),
            None,
            "removing the set releases its stubs"
        );
    }
}

#[test]
fn a_million_stubs_each_reach_their_own_target() {
    let s = Session::new(Options::default());
    let m = s.redirection_manager();
    let n = 1_000_000;
    let handles = m
        .create(Owner(7), n, |i| {
            Some(if i % 3 == 0 { addr(one) } else { addr(two) })
        })
        .expect("create 1M");
    for (i, h) in handles.iter().enumerate() {
        assert_eq!(call(h.stub), if i % 3 == 0 { 1 } else { 2 }, "stub {i}");
    }
    for h in handles.iter().step_by(2) {
        h.redirect(addr(one));
    }
    for (i, h) in handles.iter().enumerate() {
        let want = if i % 2 == 0 || i % 3 == 0 { 1 } else { 2 };
        assert_eq!(call(h.stub), want, "stub {i} after redirection");
    }
    let (used, _) = m.counts();
    assert_eq!(used, n);
}
