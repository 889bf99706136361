//! Stub benchmarks: call overhead, creation and redirection at 1k, 100k and 1M stubs.
//! Run with `cargo bench --bench stubs`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use jitlink::stubs::{Owner, RedirectableSymbolManager, RedirectionManager, Target};
use jitlink::{Options, Session};

#[inline(never)]
extern "C" fn target(x: u64) -> u64 {
    x.wrapping_add(1)
}
#[inline(never)]
extern "C" fn other(x: u64) -> u64 {
    x.wrapping_add(2)
}

type F = extern "C" fn(u64) -> u64;

fn addr(f: F) -> Target<'static> {
    Target::host(f)
}

fn calls(c: &mut Criterion) {
    let s = Session::new(Options::default());
    let m = s.redirection_manager();
    let stub = m
        .create_redirectable_symbols(Owner::new(), &[("target", addr(target))])
        .expect("create")[0];
    // SAFETY: the stub jumps to `target`, of this type.
    let via_stub: extern "C" fn(u64) -> u64 = unsafe { std::mem::transmute(stub as usize) };
    let mut g = c.benchmark_group("call");
    // Through a black-boxed function pointer: an indirect call the compiler cannot see through.
    g.bench_function("direct", |b| {
        b.iter(|| black_box(target as extern "C" fn(u64) -> u64)(black_box(1)))
    });
    // A true direct call (`call target`; `target` is never inlined).
    g.bench_function("true direct", |b| b.iter(|| target(black_box(1))));
    g.bench_function("through stub", |b| {
        b.iter(|| black_box(via_stub)(black_box(1)))
    });
    g.finish();
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("function_{i}")).collect()
}

fn create(c: &mut Criterion) {
    let mut g = c.benchmark_group("create");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    for n in [1_000usize, 100_000, 1_000_000] {
        g.bench_function(format!("{n} anonymous"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let s = Session::new(Options::default());
                    let m = s.redirection_manager();
                    let t = Instant::now();
                    let h = m
                        .create(Owner::new(), n, |_| Some(addr(target)))
                        .expect("create");
                    total += t.elapsed();
                    black_box(h);
                }
                total
            })
        });
        let names = names(n);
        g.bench_function(format!("{n} named"), |b| {
            b.iter_custom(|iters| {
                let init: Vec<(&str, Target<'_>)> =
                    names.iter().map(|s| (s.as_str(), addr(target))).collect();
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let s = Session::new(Options::default());
                    let m = s.redirection_manager();
                    let t = Instant::now();
                    black_box(
                        m.create_redirectable_symbols(Owner::new(), &init)
                            .expect("create"),
                    );
                    total += t.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

fn redirect(c: &mut Criterion) {
    let mut g = c.benchmark_group("redirect");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    for n in [1_000usize, 100_000, 1_000_000] {
        let s = Session::new(Options::default());
        let m = s.redirection_manager();
        let names = names(n);
        let init: Vec<(&str, Target<'_>)> =
            names.iter().map(|s| (s.as_str(), addr(target))).collect();
        m.create_redirectable_symbols(Owner::new(), &init)
            .expect("create");
        let handles: Vec<_> = names.iter().map(|n| m.handle(n).expect("handle")).collect();
        let to_other: Vec<(&str, Target<'_>)> =
            names.iter().map(|s| (s.as_str(), addr(other))).collect();
        g.bench_function(format!("{n} by handle"), |b| {
            b.iter(|| {
                for h in &handles {
                    h.redirect(addr(other));
                }
            })
        });
        g.bench_function(format!("{n} by name one by one"), |b| {
            b.iter(|| {
                for (name, a) in &to_other {
                    m.redirect_one(name, *a).expect("redirect");
                }
            })
        });
        g.bench_function(format!("{n} by name batched"), |b| {
            b.iter(|| m.redirect(&to_other).expect("redirect"))
        });
    }
    g.finish();
}

criterion_group!(benches, calls, create, redirect);
criterion_main!(benches);
