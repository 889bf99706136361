//! Redirectable stubs: creation in batches, calls, atomic redirection under running threads,
//! ownership and reuse, function-pointer identity through the linker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::common::{compile_text, Compiler};
use jitlink::stubs::{Owner, RedirectableSymbolManager, RedirectionManager, Target};
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

fn addr(f: extern "C" fn() -> u64) -> Target<'static> {
    Target::host(f)
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
            Owner::new(),
            &[
                ("f", addr(one)),
                ("g", addr(two)),
                ("h", Target::host(echo as extern "C" fn(u64) -> u64)),
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
        jitlink::stubs::StubPool::<jitlink::HostArch>::BYTES_PER_STUB,
        16
    );
}

#[test]
fn unknown_names_are_errors_and_redirect_nothing() {
    let s = Session::new(Options::default());
    let m = s.redirection_manager();
    let stubs = m
        .create_redirectable_symbols(Owner::new(), &[("known", addr(one))])
        .expect("create");
    let err = m
        .redirect(&[("known", addr(two)), ("nosuch", addr(two))])
        .expect_err("unknown name");
    assert!(err.to_string().contains("nosuch"), "{err}");
    assert_eq!(call(stubs[0]), 1, "a failed batch redirects nothing");
    assert!(m.redirect_one("nosuch", addr(one)).is_err());
    assert!(
        m.create_redirectable_symbols(Owner::new(), &[("known", addr(two))])
            .is_err(),
        "duplicate name"
    );
    // A name twice in one call fails the call, and creates nothing.
    let before = m.counts();
    let err = m
        .create_redirectable_symbols(
            Owner::new(),
            &[
                ("fresh", addr(one)),
                ("other", addr(one)),
                ("fresh", addr(two)),
            ],
        )
        .expect_err("a name twice in one call");
    assert!(err.to_string().contains("fresh"), "{err}");
    assert_eq!(m.counts(), before, "a failed creation takes no stub");
    assert_eq!(m.lookup("fresh"), None, "a failed creation enters no name");
    assert_eq!(m.lookup("other"), None, "a failed creation enters no name");
}

#[test]
fn hundred_thousand_stubs_in_batches_release_and_reuse() {
    let s = Session::new(Options::default());
    let m = s.redirection_manager();
    let names: Vec<String> = (0..100_000).map(|i| format!("fn{i}")).collect();
    let owners: Vec<Owner> = (0..10).map(|_| Owner::new()).collect();
    let mut all = Vec::new();
    for (b, batch) in names.chunks(10_000).enumerate() {
        let init: Vec<(&str, Target<'_>)> = batch
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), if i % 2 == 0 { addr(one) } else { addr(two) }))
            .collect();
        all.extend(
            m.create_redirectable_symbols(owners[b], &init)
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
        m.release(owners[o]);
    }
    assert_eq!(m.lookup("fn30000"), None, "released names stop resolving");
    let again: Vec<String> = (0..30_000).map(|i| format!("again{i}")).collect();
    let init: Vec<(&str, Target<'_>)> = again.iter().map(|n| (n.as_str(), addr(two))).collect();
    let reused = m
        .create_redirectable_symbols(Owner::new(), &init)
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

/// The stress test: 8 threads call through 10,000 stubs while this thread performs
/// 1,000,000 redirects between two implementations (half one by one through handles, a quarter
/// one by one by name, a quarter in batches of 1,000 by name); every call must return one of the
/// two legal results. The suite runs a tenth of the redirects (`JITLINK_STRESS_FULL=1`: all).
#[test]
fn redirect_under_running_threads() {
    const STUBS: usize = 10_000;
    let redirects: usize = if std::env::var_os("JITLINK_STRESS_FULL").is_some() {
        1_000_000
    } else {
        100_000
    };
    let start = std::time::Instant::now();
    let s = Session::new(Options::default());
    let m = s.redirection_manager();
    let names: Vec<String> = (0..STUBS).map(|i| format!("s{i}")).collect();
    let init: Vec<(&str, Target<'_>)> = names.iter().map(|n| (n.as_str(), addr(one))).collect();
    let stubs = Arc::new(
        m.create_redirectable_symbols(Owner::new(), &init)
            .expect("create"),
    );
    let handles: Vec<_> = names.iter().map(|n| m.handle(n).expect("handle")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..8)
        .map(|t| {
            let (stubs, stop) = (stubs.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut calls, mut bad) = (0u64, 0u64);
                let mut i = t * 997;
                while !stop.load(Ordering::Relaxed) {
                    let v = call(stubs[i % STUBS]);
                    bad += u64::from(v != 1 && v != 2);
                    i += 7;
                    calls += 1;
                }
                (calls, bad)
            })
        })
        .collect();
    let pick = |r: usize| {
        if (r / STUBS).is_multiple_of(2) {
            addr(two)
        } else {
            addr(one)
        }
    };
    let mut done = 0;
    for r in 0..redirects / 2 {
        handles[r % STUBS].redirect(pick(r));
        done += 1;
    }
    for r in 0..redirects / 4 {
        m.redirect_one(&names[r % STUBS], pick(r))
            .expect("redirect");
        done += 1;
    }
    let batch = 1000;
    for b in 0..redirects / 4 / batch {
        let targets: Vec<(&str, Target<'_>)> = (0..batch)
            .map(|k| {
                let r = b * batch + k;
                (names[r % STUBS].as_str(), pick(r + b))
            })
            .collect();
        m.redirect(&targets).expect("batched redirect");
        done += batch;
    }
    stop.store(true, Ordering::Relaxed);
    let (calls, bad) = callers
        .into_iter()
        .map(|c| c.join().expect("caller thread"))
        .fold((0, 0), |(c, b), (c2, b2)| (c + c2, b + b2));
    assert_eq!(bad, 0, "{bad} of {calls} calls returned neither 1 nor 2");
    assert_eq!(done, redirects);
    assert!(calls > 0);
    eprintln!(
        "stress: {redirects} redirects, {calls} calls on 8 threads in {:?}",
        start.elapsed()
    );
}

/// Two threads creating the same name at once: exactly one succeeds, whatever the timing.
#[test]
fn one_name_created_by_two_threads_at_once_exists_once() {
    let s = Session::new(Options::default());
    let m = s.redirection_manager();
    for round in 0..200 {
        let name = format!("racy{round}");
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let results: Vec<bool> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let (m, b, name) = (&m, barrier.clone(), name.clone());
                    sc.spawn(move || {
                        b.wait();
                        m.create_redirectable_symbols(Owner::new(), &[(name.as_str(), addr(one))])
                            .is_ok()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        assert_eq!(
            results.iter().filter(|ok| **ok).count(),
            1,
            "round {round}: {results:?}"
        );
    }
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
        let mut s = Session::new(Options::default().with_redirectable(which));
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
        let set = s.linked_sets()[0];
        s.remove(set).expect("remove");
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
        .create(Owner::new(), n, |i| {
            Some(if i % 3 == 0 { addr(one) } else { addr(two) })
        })
        .expect("create 1M");
    for (i, h) in handles.iter().enumerate() {
        assert_eq!(
            call(h.address()),
            if i % 3 == 0 { 1 } else { 2 },
            "stub {i}"
        );
    }
    for h in handles.iter().step_by(2) {
        h.redirect(addr(one));
    }
    for (i, h) in handles.iter().enumerate() {
        let want = if i % 2 == 0 || i % 3 == 0 { 1 } else { 2 };
        assert_eq!(call(h.address()), want, "stub {i} after redirection");
    }
    let (used, _) = m.counts();
    assert_eq!(used, n);
}
