//! Counting cost: a call through a function's stub and its counting trampoline, for each kind
//! of counter (per-thread: a thread-local load and a plain decrement; atomic: one locked
//! increment; plain: one unlocked increment of a shared counter), against a call through the stub
//! alone, as after tier-up, and a direct call. Run with `cargo bench --bench reopt`;
//! `benches/reopt.py` measures whole programs.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use jitlink::stubs::{Counters, Owner, RedirectableSymbolManager, Target};
use jitlink::{Options, Session};

#[inline(never)]
extern "C" fn body(x: u64) -> u64 {
    x.wrapping_add(1)
}

type F = extern "C" fn(u64) -> u64;

fn counting(c: &mut Criterion) {
    let s = Session::new(Options::default());
    let stubs = s.redirection_manager();
    let target = body as F as usize as u64;
    let kinds = [
        ("per-thread", Counters::PerThread),
        ("atomic", Counters::Atomic),
        ("plain", Counters::Plain),
    ];
    let names = ["stub", "per-thread", "atomic", "plain"];
    let defs: Vec<(&str, Target<'_>)> = names
        .iter()
        .map(|n| (*n, Target::host(body as F)))
        .collect();
    let addrs = stubs
        .create_redirectable_symbols(Owner::new(), &defs)
        .expect("stubs");
    for (name, kind) in kinds {
        // A threshold no benchmark reaches: every call counts and none enters the runtime (the
        // per-thread counters give this thread a budget of the whole threshold).
        // SAFETY: `target` is a Rust function with the signature the benchmark calls, and the
        // handler is never reached (it would return an error, not an address).
        let t = unsafe {
            s.trampolines().counting_with(
                vec![(
                    u64::MAX >> 2,
                    target,
                    Arc::new(|| Err("threshold reached".to_string())),
                )],
                kind,
            )
        }
        .expect("counting trampoline")
        .remove(0);
        assert_eq!(
            t.counters(),
            Some(kind),
            "{name} counters are not available"
        );
        stubs.handle(name).expect("handle").redirect(t.as_target());
    }
    // SAFETY: every stub leads to `body`, of this type.
    let via: Vec<F> = addrs
        .iter()
        .map(|&a| unsafe { std::mem::transmute::<usize, F>(a as usize) })
        .collect();
    let mut g = c.benchmark_group("call");
    g.bench_function("direct", |b| b.iter(|| black_box(body as F)(black_box(1))));
    g.bench_function("stub (after tier-up)", |b| {
        b.iter(|| black_box(via[0])(black_box(1)))
    });
    for (i, (name, _)) in kinds.iter().enumerate() {
        g.bench_function(format!("stub + {name} counting trampoline (tier 0)"), |b| {
            b.iter(|| black_box(via[i + 1])(black_box(1)))
        });
    }
    g.finish();
}

criterion_group!(benches, counting);
criterion_main!(benches);
