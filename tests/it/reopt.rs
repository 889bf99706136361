//! The re-optimizer: tier-up keeps global and file-static state (the same results and checksum
//! as the natively linked tier-0 program), refusals keep the old version running, background
//! tier-up, exactly one call per function enters the runtime however many threads count, and
//! per-thread counters: one runtime entry on one thread, POSIX threads, counts of exited threads.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{
    compile_all, native_link, outcome, run, testdata_dir, CompileJob, Compiler, Config, Failures,
    Opt, Pic, RunSpec,
};
use jitlink::reopt::{
    Counters, NewDefinition, ReoptEvent, ReoptOptions, ReoptimizeFn, Reoptimizer,
};
use jitlink::Options;

/// Tier 0 and tier 1 of one configuration: (main at -O0, kernels at -O0, kernels at -O2,
/// kernels at -O2 with extra state, kernels at -O2 with a resized global).
struct Tiers {
    config: Config,
    main: PathBuf,
    k0: PathBuf,
    k2: PathBuf,
    extra: PathBuf,
    resized: PathBuf,
}

impl Tiers {
    /// Tier 0 linked natively, run.
    fn native(&self) -> common::Outcome {
        let exe = native_link(
            &self.config,
            &[self.main.clone(), self.k0.clone()],
            "reopt-tier0",
        );
        run(
            std::process::Command::new(&exe),
            &RunSpec::default(),
            "native",
        )
    }
}

fn tiers() -> Vec<Tiers> {
    let mut out = Vec::new();
    for compiler in Compiler::ALL {
        for (pic, fs) in [
            (Pic::Pie, false),
            (Pic::Pie, true),
            (Pic::Pic, false),
            (Pic::NoPic, true),
        ] {
            let t0 = Config::new(compiler, Opt::O0, pic, fs, false);
            let t1 = Config::new(compiler, Opt::O2, pic, fs, false);
            let src = |n: &str| testdata_dir().join("reopt").join(n);
            let d = |s: &str| vec![format!("-D{s}")];
            let objs = compile_all(&[
                CompileJob::new(&t0, src("main.c"), &[]),
                CompileJob::new(&t0, src("kernels.c"), &[]),
                CompileJob::new(&t1, src("kernels.c"), &[]),
                CompileJob::new(&t1, src("kernels.c"), &d("EXTRA_STATE")),
                CompileJob::new(&t1, src("kernels.c"), &d("RESIZED")),
            ]);
            out.push(Tiers {
                config: t0,
                main: objs[0].clone(),
                k0: objs[1].clone(),
                k2: objs[2].clone(),
                extra: objs[3].clone(),
                resized: objs[4].clone(),
            });
        }
    }
    out
}

/// Runs tier 0 with `--reopt tier1`; returns (stdout, stderr) after checking the exit status.
fn tiered(t: &Tiers, tier1: &Path, threshold: &str) -> (String, String) {
    let mut cmd = common::jitlink_command(
        &[
            "--reopt",
            &tier1.to_string_lossy(),
            "--reopt-threshold",
            threshold,
            "--reopt-log",
        ],
        &[t.main.clone(), t.k0.clone()],
        &[],
    );
    let (code, stdout, stderr) = outcome(&mut cmd);
    assert_eq!(code, Some(0), "{}: {stderr}", t.config);
    (stdout, stderr)
}

#[test]
fn tier_up_preserves_global_and_static_state() {
    let mut failures = Failures::new("tiered runs vs native tier 0");
    for t in tiers() {
        let native = t.native();
        // The better versions as an object, and as an archive member.
        let ar = common::archive(std::slice::from_ref(&t.k2), "kernels-O2.a");
        for tier1 in [&t.k2, &ar] {
            let (stdout, stderr) = tiered(&t, tier1, "50");
            let r = if stdout != native.stdout_text() {
                Err(format!(
                    "{}: tiered output differs\n native: {}\n tiered: {stdout}",
                    t.config,
                    native.stdout_text()
                ))
            } else if !stderr.contains("jitlink: reoptimized kernel_sum after 50 calls")
                || !stderr.contains("jitlink: reoptimized kernel_poly after 50 calls")
            {
                Err(format!("{}: missing events in\n{stderr}", t.config))
            } else {
                Ok(())
            };
            failures.record(r);
        }
    }
    failures.finish();
}

#[test]
fn unbindable_definitions_are_refused() {
    let mut failures = Failures::new("refusals");
    for t in tiers() {
        let native = t.native();
        for (tier1, why) in [
            (&t.extra, "extra_state"),
            (
                &t.resized,
                "kernel_calls has size 16 here and 8 in the running version",
            ),
        ] {
            let (stdout, stderr) = tiered(&t, tier1, "10");
            let r = if stdout != native.stdout_text() {
                Err(format!("{}: output differs after a refusal", t.config))
            } else if !stderr.contains("refused to reoptimize kernel_sum after 10 calls")
                || !stderr.contains(why)
                || stderr.contains("jitlink: reoptimized kernel_sum")
            {
                Err(format!(
                    "{}: expected a refusal naming {why}:\n{stderr}",
                    t.config
                ))
            } else {
                Ok(())
            };
            failures.record(r);
        }
    }
    failures.finish();
}

type Sum = extern "C" fn(*const i32, i32) -> i64;
type Checksum = extern "C" fn() -> i64;

/// A re-optimization callback that records its calls and supplies `tier1` (or declines).
fn supplying(tier1: Option<PathBuf>) -> (Asked, ReoptimizeFn) {
    let asked = Asked::default();
    let record = asked.clone();
    let callback: ReoptimizeFn = Arc::new(move |name: &str, n: u64| {
        record.lock().unwrap().push((name.to_string(), n));
        let p = tier1.as_ref()?;
        Some(NewDefinition {
            name: p.to_string_lossy().into_owned(),
            bytes: std::fs::read(p).ok()?,
        })
    });
    (asked, callback)
}

/// Links tier 0 through the library, calls kernel_sum `calls` times, and returns the results,
/// the checksum and the re-optimizer.
fn drive(
    t: &Tiers,
    reopt: ReoptOptions,
    tier1: Option<PathBuf>,
    calls: usize,
) -> (i64, Reoptimizer) {
    let (asked, callback) = supplying(tier1);
    let r = Reoptimizer::new(Options::default(), reopt, callback);
    r.add_file(&t.main).expect("add main");
    r.add_file(&t.k0).expect("add kernels");
    // SAFETY: the kernels have these C signatures.
    let sum: Sum = unsafe { std::mem::transmute(r.lookup("kernel_sum").expect("sum") as usize) };
    // SAFETY: as above.
    let checksum: Checksum =
        unsafe { std::mem::transmute(r.lookup("kernel_checksum").expect("ck") as usize) };
    let data: Vec<i32> = (0..1000).map(|i| (i * 7919) % 10007).collect();
    let mut acc = 0i64;
    for i in 0..calls {
        acc = acc.wrapping_add(sum(data.as_ptr(), 1000 - (i % 7) as i32));
    }
    r.wait_idle();
    for i in 0..calls {
        acc = acc.wrapping_add(sum(data.as_ptr(), 1000 - (i % 5) as i32));
    }
    let asked = asked.lock().unwrap().clone();
    assert!(
        asked.iter().filter(|(n, _)| n == "kernel_sum").count() == 1,
        "{}: callback calls {asked:?}",
        t.config
    );
    (acc ^ checksum(), r)
}

#[test]
fn background_and_synchronous_tier_up_through_the_library() {
    for t in tiers().into_iter().step_by(2) {
        let base = ReoptOptions {
            threshold: 100,
            ..ReoptOptions::default()
        };
        let (tier0_only, r0) = drive(&t, base.clone(), None, 400);
        assert!(!r0.is_reoptimized("kernel_sum"));
        assert_eq!(r0.calls("kernel_sum"), Some(800), "{}", t.config);
        assert!(matches!(
            &r0.events()[..],
            [ReoptEvent::Declined { calls: 100, .. }]
        ));

        let (background, r1) = drive(&t, base.clone(), Some(t.k2.clone()), 400);
        assert_eq!(
            background, tier0_only,
            "{}: state differs after tier-up",
            t.config
        );
        assert!(r1.is_reoptimized("kernel_sum"), "{}", t.config);
        // Counting stopped at the redirect: at most the calls made before wait_idle.
        let counted = r1.calls("kernel_sum").unwrap_or(0);
        assert!((100..=400).contains(&counted), "{}: {counted}", t.config);
        let ev = r1.events();
        assert!(
            matches!(&ev[..], [ReoptEvent::Reoptimized { symbol, calls: 100, .. }] if symbol == "kernel_sum"),
            "{}: {ev:?}",
            t.config
        );

        // A definition that cannot be bound: an event, and the old version keeps running.
        let (refused, r3) = drive(&t, base.clone(), Some(t.extra.clone()), 400);
        assert_eq!(refused, tier0_only, "{}", t.config);
        assert!(!r3.is_reoptimized("kernel_sum"), "{}", t.config);
        let ev = r3.events();
        assert!(
            matches!(&ev[..], [ReoptEvent::Refused { symbol, calls: 100, reason }]
                if symbol == "kernel_sum" && reason.contains("extra_state")),
            "{}: {ev:?}",
            t.config
        );

        let sync = ReoptOptions {
            background: false,
            ..base
        };
        let (synchronous, r2) = drive(&t, sync, Some(t.k2.clone()), 400);
        assert_eq!(synchronous, tier0_only, "{}", t.config);
        // The crossing call waited and continued in the new version: exactly 100 were counted.
        assert_eq!(r2.calls("kernel_sum"), Some(100), "{}", t.config);
    }
}

#[test]
fn exactly_one_call_enters_the_runtime_under_contention() {
    contention(Counters::PerThread);
    contention(Counters::Atomic);
}

/// Plain counters may lose counts under contention, but the function is still re-optimized once.
#[test]
fn plain_counters_reoptimize_once() {
    contention(Counters::Plain);
}

fn contention(counters: Counters) {
    let t = &tiers()[0];
    let entered = Arc::new(AtomicUsize::new(0));
    let e2 = entered.clone();
    let r = Arc::new(Reoptimizer::new(
        Options::default(),
        ReoptOptions {
            threshold: 5000,
            counters,
            ..ReoptOptions::default()
        },
        Arc::new(move |_: &str, _: u64| {
            e2.fetch_add(1, Ordering::SeqCst);
            None
        }),
    ));
    r.add_file(&t.main).expect("add");
    r.add_file(&t.k0).expect("add");
    let addr = r.lookup("kernel_sum").expect("lookup") as usize;
    assert_eq!(r.counters("kernel_sum"), Some(counters));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                // SAFETY: kernel_sum has this C signature.
                let sum: Sum = unsafe { std::mem::transmute(addr) };
                let data = [3i32; 4];
                (0..2000).map(|_| sum(data.as_ptr(), 4)).sum::<i64>()
            })
        })
        .collect();
    for th in threads {
        assert_eq!(th.join().expect("thread"), 2000 * 36);
    }
    r.wait_idle();
    assert_eq!(entered.load(Ordering::SeqCst), 1);
    let calls = r.calls("kernel_sum").unwrap_or(0);
    if counters != Counters::Plain {
        assert_eq!(calls, 16000);
    } else {
        assert!((5000..=16000).contains(&calls), "{calls}");
    }
}

#[test]
fn cli_errors_name_their_cause() {
    let t = &tiers()[0];
    let inputs = [t.main.clone(), t.k0.clone()];
    let (code, _, stderr) = outcome(&mut common::jitlink_command(
        &["--reopt", "/nonexistent/kernels-O2.o"],
        &inputs,
        &[],
    ));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/kernels-O2.o"), "{stderr}");
    let k2 = t.k2.to_string_lossy().into_owned();
    let (code, _, stderr) = outcome(&mut common::jitlink_command(
        &["--lazy", "--reopt", &k2],
        &inputs,
        &[],
    ));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--lazy and --reopt"), "{stderr}");
}

/// The callback's calls: (symbol, call count).
type Asked = Arc<Mutex<Vec<(String, u64)>>>;

/// A re-optimizer over threads.c and the kernels at tier 0, whose callback records its calls
/// and supplies `tier1`.
fn threaded(t: &Tiers, threshold: u64, tier1: Option<PathBuf>) -> (Reoptimizer, Asked) {
    let (asked, callback) = supplying(tier1);
    let options = ReoptOptions {
        threshold,
        ..ReoptOptions::default()
    };
    let r = Reoptimizer::new(Options::default(), options, callback);
    let threads = compile_all(&[CompileJob::new(
        &t.config,
        testdata_dir().join("reopt").join("threads.c"),
        &[],
    )]);
    r.add_file(&threads[0]).expect("add threads");
    r.add_file(&t.k0).expect("add kernels");
    (r, asked)
}

type RunThreads = extern "C" fn(i32, i32) -> i64;

/// Per-thread counters on one thread: no runtime entry below the threshold, exactly one at it,
/// and exact counts after it (the callback declines, so counting goes on).
#[test]
fn one_runtime_entry_at_the_threshold_on_one_thread() {
    let t = &tiers()[0];
    let (r, asked) = threaded(t, 300, None);
    // SAFETY: kernel_sum has this C signature.
    let sum: Sum = unsafe { std::mem::transmute(r.lookup("kernel_sum").expect("sum") as usize) };
    assert_eq!(r.counters("kernel_sum"), Some(Counters::PerThread));
    let data = [3i32; 4];
    for _ in 0..299 {
        assert_eq!(sum(data.as_ptr(), 4), 36);
    }
    assert_eq!(r.runtime_entries("kernel_sum"), Some(0));
    assert_eq!(r.calls("kernel_sum"), Some(299));
    assert_eq!(sum(data.as_ptr(), 4), 36);
    assert_eq!(r.runtime_entries("kernel_sum"), Some(1));
    r.wait_idle();
    assert_eq!(*asked.lock().unwrap(), [("kernel_sum".to_string(), 300)]);
    for _ in 0..700 {
        assert_eq!(sum(data.as_ptr(), 4), 36);
    }
    assert_eq!(r.runtime_entries("kernel_sum"), Some(1));
    assert_eq!(r.calls("kernel_sum"), Some(1000));
}

/// Eight POSIX threads made by the linked C code call a counted function at once: it is
/// re-optimized exactly once, with a call count between the threshold and the calls made.
#[test]
fn pthreads_reoptimize_exactly_once() {
    for t in tiers().iter().step_by(4) {
        let (r, asked) = threaded(t, 20_000, Some(t.k2.clone()));
        // SAFETY: run_threads has this C signature.
        let run: RunThreads =
            unsafe { std::mem::transmute(r.lookup("run_threads").expect("run") as usize) };
        assert_eq!(run(8, 10_000), 8 * 10_000 * 36, "{}", t.config);
        r.wait_idle();
        let asked = asked.lock().unwrap().clone();
        let for_sum: Vec<_> = asked.iter().filter(|(n, _)| n == "kernel_sum").collect();
        assert_eq!(for_sum.len(), 1, "{}: {asked:?}", t.config);
        assert!(
            (20_000..=80_000).contains(&for_sum[0].1),
            "{}: {asked:?}",
            t.config
        );
        assert!(r.is_reoptimized("kernel_sum"), "{}", t.config);
        let ev = r.events();
        assert!(
            matches!(&ev[..], [ReoptEvent::Reoptimized { symbol, calls, .. }]
                if symbol == "kernel_sum" && (20_000..=80_000).contains(calls)),
            "{}: {ev:?}",
            t.config
        );
        let counted = r.calls("kernel_sum").unwrap_or(0);
        assert!(
            (20_000..=80_000).contains(&counted),
            "{}: {counted}",
            t.config
        );
        // The new version runs on new threads too.
        assert_eq!(run(8, 100), 8 * 100 * 36, "{}", t.config);
    }
}

/// Threads that exit before the threshold is crossed still count: 8 threads make threshold/8+1
/// calls each and exit; tier-up has happened, or happens at the next call on this thread.
#[test]
fn counts_survive_thread_exit() {
    let t = &tiers()[0];
    let threshold = 8000;
    let (r, asked) = threaded(t, threshold, Some(t.k2.clone()));
    // SAFETY: the kernels have these C signatures.
    let run: RunThreads =
        unsafe { std::mem::transmute(r.lookup("run_threads").expect("run") as usize) };
    // SAFETY: as above.
    let sum: Sum = unsafe { std::mem::transmute(r.lookup("kernel_sum").expect("sum") as usize) };
    let each = (threshold / 8 + 1) as i32;
    assert_eq!(run(8, each), 8 * i64::from(each) * 36);
    let data = [3i32; 4];
    assert_eq!(sum(data.as_ptr(), 4), 36);
    r.wait_idle();
    let asked = asked.lock().unwrap().clone();
    let for_sum: Vec<_> = asked.iter().filter(|(n, _)| n == "kernel_sum").collect();
    assert_eq!(for_sum.len(), 1, "{asked:?}");
    assert!(
        (threshold..=8 * each as u64 + 1).contains(&for_sum[0].1),
        "{asked:?}"
    );
    assert!(r.is_reoptimized("kernel_sum"));

    // Below the threshold, exited threads' counts are all there.
    let (r, asked) = threaded(t, 1 << 40, None);
    // SAFETY: as above.
    let run: RunThreads =
        unsafe { std::mem::transmute(r.lookup("run_threads").expect("run") as usize) };
    assert_eq!(run(8, 1000), 8 * 1000 * 36);
    assert_eq!(run(3, 7), 3 * 7 * 36);
    assert_eq!(r.calls("kernel_sum"), Some(8021));
    assert!(asked.lock().unwrap().is_empty());
}

/// `--reopt-counters` selects the kind of counters; each tiers up at the threshold on one thread.
#[test]
fn cli_counter_kinds() {
    let t = &tiers()[0];
    let native = t.native();
    let k2 = t.k2.to_string_lossy().into_owned();
    for kind in ["per-thread", "atomic", "plain"] {
        let mut cmd = common::jitlink_command(
            &[
                "--reopt",
                &k2,
                "--reopt-threshold",
                "50",
                "--reopt-log",
                "--reopt-counters",
                kind,
            ],
            &[t.main.clone(), t.k0.clone()],
            &[],
        );
        let (code, stdout, stderr) = outcome(&mut cmd);
        assert_eq!(code, Some(0), "{kind}: {stderr}");
        assert_eq!(stdout, native.stdout_text(), "{kind}");
        assert!(
            stderr.contains("jitlink: reoptimized kernel_sum after 50 calls"),
            "{kind}: {stderr}"
        );
    }
    let (code, _, stderr) = outcome(&mut common::jitlink_command(
        &["--reopt", &k2, "--reopt-counters", "sometimes"],
        &[t.main.clone(), t.k0.clone()],
        &[],
    ));
    assert_ne!(code, Some(0));
    assert!(stderr.contains("sometimes"), "{stderr}");
}
