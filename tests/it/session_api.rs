//! The sound session API (issue 18): a failed link changes nothing, removal refuses while
//! something points into a set, a new version replaces an old one under the same names, and
//! long add/remove and pool create/drop cycles keep the process's mappings and memory flat.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::common::{compile_text, Compiler};
use jitlink::stubs::{Owner, RedirectableSymbolManager, RedirectionManager, Target};
use jitlink::{Error, Options, Redirectable, Session};

fn compile(name: &str, src: &str) -> Vec<u8> {
    std::fs::read(compile_text(
        Compiler::Gcc,
        &["-O2"],
        &format!("{name}.c"),
        src,
    ))
    .expect("read object")
}

fn call0(addr: u64) -> i64 {
    // SAFETY: every function called this way is `long f(void)`, compiled in this module.
    let f: extern "C" fn() -> i64 = unsafe { std::mem::transmute(addr as usize) };
    f()
}

extern "C" fn host_seven() -> i64 {
    7
}

#[test]
fn a_failed_link_changes_nothing_and_a_retry_succeeds() {
    let user = compile(
        "retry_user",
        "long retry_missing(void);\nlong retry_user(void) { return retry_missing() + 1; }\n",
    );
    let provider = compile(
        "retry_provider",
        "long retry_missing(void) { return 41; }\n",
    );
    let mut s = Session::new(Options::default());
    s.add_object_bytes("retry_user.o", user).expect("add");
    let (used, _) = s.redirection_manager().counts();
    for attempt in 0..3 {
        let err = s.link_pending().expect_err("undefined symbol");
        assert!(
            matches!(&err, Error::UndefinedSymbols(u) if u[0].name == "retry_missing"),
            "attempt {attempt}: {err}"
        );
        assert!(s.linked_sets().is_empty(), "nothing linked");
        assert!(s.target("retry_user").is_err(), "nothing published");
        assert_eq!(s.redirection_manager().counts().0, used, "no stub taken");
    }
    // The pending object is still pending: adding the provider makes the same link succeed.
    s.add_object_bytes("retry_provider.o", provider)
        .expect("add");
    let set = s.link_pending().expect("link").expect("something linked");
    assert_eq!(s.linked_sets(), vec![set]);
    assert_eq!(call0(s.lookup("retry_user").expect("lookup")), 42);
}

#[test]
fn a_failed_link_with_redirectable_functions_releases_their_stubs() {
    let user = compile(
        "retry_redir",
        "long retry_nowhere(void);\nlong retry_redir(void) { return retry_nowhere(); }\n",
    );
    let mut s = Session::new(Options::default().with_redirectable(Redirectable::AllFunctions));
    s.add_object_bytes("retry_redir.o", user).expect("add");
    assert!(s.link_pending().is_err());
    let m = s.redirection_manager();
    assert_eq!(
        m.lookup("retry_redir"),
        None,
        "the failed link's stub is released"
    );
    assert!(
        s.link_pending().is_err(),
        "and the retry makes it again, without a duplicate"
    );
}

#[test]
fn remove_refuses_while_referenced() {
    let base = compile("rm_base", "long rm_base(void) { return 5; }\n");
    let user = compile(
        "rm_user",
        "long rm_base(void);\nlong rm_user(void) { return rm_base() * 2; }\n",
    );
    let mut s = Session::new(Options::default());
    s.add_object_bytes("rm_base.o", base).expect("add");
    let a = s.link_pending().expect("link").expect("set");
    s.add_object_bytes("rm_user.o", user).expect("add");
    let b = s.link_pending().expect("link").expect("set");
    assert_eq!(call0(s.lookup("rm_user").expect("lookup")), 10);

    // Another live set references it.
    let err = s.remove(a).expect_err("set b references set a");
    let msg = err.to_string();
    assert!(
        msg.contains("rm_base.o") && msg.contains("rm_user.o"),
        "{msg}"
    );
    assert_eq!(
        call0(s.lookup("rm_user").expect("lookup")),
        10,
        "refused: still there"
    );

    // A stub points into it.
    let m = s.redirection_manager();
    let owner = Owner::new();
    let stub = m
        .create_redirectable_symbols(owner, &[("rm_via", s.target("rm_base").expect("target"))])
        .expect("stub")[0];
    s.remove(b).expect("nothing references b");
    let err = s.remove(a).expect_err("a stub points into a");
    assert!(err.to_string().contains("stub rm_via"), "{err}");
    assert_eq!(call0(stub), 5);

    // Redirected away, the stub keeps working and the set can go.
    m.redirect_one("rm_via", Target::host(host_seven as extern "C" fn() -> i64))
        .expect("redirect");
    s.remove(a).expect("nothing references a any more");
    assert_eq!(
        call0(stub),
        7,
        "a stub redirected away from a removed set keeps working"
    );
    assert!(s.linked_sets().is_empty());
}

#[test]
fn remove_refuses_while_a_stub_of_the_set_is_referenced_until_a_new_version_takes_it() {
    let v1 = compile("rv_plugin1", "long rv_value(void) { return 1; }\n");
    let v2 = compile("rv_plugin2", "long rv_value(void) { return 2; }\n");
    let user = compile(
        "rv_user",
        "long rv_value(void);\nlong rv_user(void) { return rv_value() + 100; }\n",
    );
    let opts =
        Options::default().with_redirectable(Redirectable::Functions(vec!["rv_value".into()]));
    let mut s = Session::new(opts);
    s.add_object_bytes("rv_plugin1.o", v1).expect("add");
    let first = s.link_pending().expect("link").expect("set");
    s.add_object_bytes("rv_user.o", user).expect("add");
    let u = s.link_pending().expect("link").expect("set");
    assert_eq!(call0(s.lookup("rv_user").expect("lookup")), 101);
    // The user calls through v1's stub: v1 owns it, so v1 cannot go.
    let err = s
        .remove(first)
        .expect_err("the user set calls through v1's stub");
    assert!(err.to_string().contains("rv_user.o"), "{err}");
    // Version 2 takes the stub over: the user follows, and v1 can go.
    s.add_object_bytes("rv_plugin2.o", v2).expect("add");
    let second = s.replace(first).expect("replace");
    assert_eq!(call0(s.lookup("rv_user").expect("lookup")), 102);
    s.remove(first).expect("v1 is referenced by nothing now");
    assert_eq!(call0(s.lookup("rv_user").expect("lookup")), 102);
    assert_eq!(s.linked_sets(), vec![u, second]);
}

#[test]
fn replace_links_a_new_version_under_the_same_names() {
    let v1 = compile(
        "rp_plugin1",
        "long rp_value(void) { return 1; }\nlong rp_data = 10;\nlong rp_get_data(void) { return rp_data; }\n",
    );
    let v2 = compile(
        "rp_plugin2",
        "long rp_value(void) { return 2; }\nlong rp_data = 20;\nlong rp_get_data(void) { return rp_data; }\n",
    );
    let opts =
        Options::default().with_redirectable(Redirectable::Functions(vec!["rp_value".into()]));
    let mut s = Session::new(opts);
    s.add_object_bytes("rp_plugin1.o", v1).expect("add");
    let first = s.link_pending().expect("link").expect("set");
    let stub = s.lookup("rp_value").expect("lookup");
    let old_data = s.lookup("rp_get_data").expect("lookup");

    // A thread calls through the stub the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let (ones, twos) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let caller = {
        let (stop, ones, twos) = (stop.clone(), ones.clone(), twos.clone());
        std::thread::spawn(move || {
            let mut bad = 0;
            while !stop.load(Ordering::Relaxed) {
                match call0(stub) {
                    1 => ones.fetch_add(1, Ordering::Relaxed),
                    2 => twos.fetch_add(1, Ordering::Relaxed),
                    _ => {
                        bad += 1;
                        0
                    }
                };
            }
            bad
        })
    };
    while ones.load(Ordering::Relaxed) == 0 {
        std::thread::yield_now();
    }
    s.add_object_bytes("rp_plugin2.o", v2).expect("add");
    let second = s.replace(first).expect("replace");
    assert_ne!(first, second);
    // The stub's address did not change; it leads to version 2 now.
    assert_eq!(s.lookup("rp_value").expect("lookup"), stub);
    assert_eq!(call0(stub), 2);
    // Names that are not redirectable resolve to the new definitions in later lookups...
    let new_data = s.lookup("rp_get_data").expect("lookup");
    assert_ne!(new_data, old_data);
    assert_eq!(call0(new_data), 20);
    // ...while the old version stays mapped and keeps working until it is removed.
    assert_eq!(call0(old_data), 10);
    s.remove(first).expect("remove version 1");
    let before = twos.load(Ordering::Relaxed);
    while twos.load(Ordering::Relaxed) < before + 1000 {
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    assert_eq!(
        caller.join().expect("caller"),
        0,
        "every call returned 1 or 2"
    );
    assert_eq!(call0(stub), 2, "the stub outlives the version that made it");
    // Later links see version 2.
    let user = compile(
        "rp_user",
        "long rp_get_data(void);\nlong rp_user(void) { return rp_get_data() + 1; }\n",
    );
    s.add_object_bytes("rp_user.o", user).expect("add");
    assert_eq!(call0(s.lookup("rp_user").expect("lookup")), 21);
    // Replacing needs something pending, and a live set.
    assert!(s.replace(second).is_err(), "nothing pending");
}

#[test]
fn the_types_say_what_crosses_threads() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Session>();
    send::<jitlink::stubs::StubPool<jitlink::HostArch>>();
    sync::<jitlink::stubs::StubPool<jitlink::HostArch>>();
    send::<jitlink::stubs::StubHandle<'static>>();
    sync::<jitlink::stubs::StubHandle<'static>>();
    send::<Target<'static>>();
    sync::<Target<'static>>();
    send::<jitlink::stubs::Trampoline>();
    sync::<jitlink::stubs::Trampoline>();
    send::<jitlink::LinkedSetId>();
}

/// Runs the test `name` alone in a child process (so that other tests' mappings do not count),
/// unless this is that child; true in the child.
fn alone(name: &str) -> bool {
    if std::env::var("JITLINK_ALONE").as_deref() == Ok(name) {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env("JITLINK_ALONE", name)
        .output()
        .expect("run the test alone");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} failed alone");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{name} did not run alone"
    );
    false
}

/// Mappings of this process (lines of /proc/self/maps) and its resident set, in KiB.
fn footprint() -> (usize, u64) {
    let maps = std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count());
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    (maps, pages * 4)
}

fn cycles() -> usize {
    if std::env::var_os("JITLINK_CYCLES_FULL").is_some() {
        10_000
    } else {
        2_000
    }
}

/// 10,000 cycles (2,000 in the suite; `JITLINK_CYCLES_FULL=1`: all) of add, look up, call and
/// remove in one session keep the mapping count and the RSS flat.
#[test]
fn add_lookup_call_remove_cycles_stay_flat() {
    if !alone("session_api::add_lookup_call_remove_cycles_stay_flat") {
        return;
    }
    let obj = compile(
        "cycle",
        "long cycle_n;\nlong cycle(void) { return ++cycle_n + 1000; }\n",
    );
    let mut s = Session::new(Options::default());
    let n = cycles();
    let mut at100 = (0, 0);
    for i in 1..=n {
        s.add_object_bytes("cycle.o", obj.clone()).expect("add");
        assert_eq!(call0(s.lookup("cycle").expect("lookup")), 1001, "cycle {i}");
        let set = s.linked_sets()[0];
        s.remove(set).expect("remove");
        if i == 100 {
            at100 = footprint();
        }
    }
    let end = footprint();
    eprintln!(
        "add/lookup/call/remove: cycle 100: {} mappings, {} KiB RSS; cycle {n}: {} mappings, {} KiB RSS",
        at100.0, at100.1, end.0, end.1
    );
    assert!(end.0 <= at100.0 + 4, "mappings grew: {at100:?} -> {end:?}");
    assert!(end.1 <= at100.1 + 4096, "RSS grew: {at100:?} -> {end:?}");
}

/// 40,000 cycles (8,000 in the suite; `JITLINK_CYCLES_FULL=1`: all) of creating a pool of
/// 1,000 stubs on one session's memory and dropping it keep the mapping count and RSS flat.
#[test]
fn pool_create_drop_cycles_stay_flat() {
    if !alone("session_api::pool_create_drop_cycles_stay_flat") {
        return;
    }
    let s = Session::new(Options::default());
    let n = cycles() * 4;
    let mut marks = Vec::new();
    for i in 1..=n {
        let pool = s.new_stub_pool();
        let stubs = pool
            .create(Owner::new(), 1000, |_| {
                Some(Target::host(host_seven as extern "C" fn() -> i64))
            })
            .expect("create");
        assert_eq!(call0(stubs[999].address()), 7);
        drop(stubs);
        drop(pool);
        if i == 100 || i == 10_000 || i == n {
            marks.push((i, footprint()));
        }
    }
    eprintln!("pool create/drop: (cycle, (mappings, KiB RSS)): {marks:?}");
    let (first, last) = (marks[0].1, marks[marks.len() - 1].1);
    assert!(last.0 <= first.0 + 4, "mappings grew: {marks:?}");
    assert!(last.1 <= first.1 + 4096, "RSS grew: {marks:?}");
}
