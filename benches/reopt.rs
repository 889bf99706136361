//! Counting cost: a call through a function's stub and its counting trampoline (one locked
//! increment, a compare and an indirect jump) against a call through the stub alone, as after
//! tier-up. Run with `cargo bench --bench reopt`; `benches/reopt.py` measures whole programs.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use jitlink::stubs::{Owner, RedirectableSymbolManager};
use jitlink::{Options, Session};

#[inline(never)]
extern "C" fn body(x: u64) -> u64 {
    x.wrapping_add(1)
}

fn counting(c: &mut Criterion) {
    let s = Session::new(Options::default());
    let stubs = s.redirection_manager();
    let target = body as extern "C" fn(u64) -> u64 as usize as u64;
    let plain = stubs
        .create_redirectable_symbols(
            Owner(1),
            &[("plain", target), ("counted", target), ("relaxed", target)],
        )
        .expect("stubs");
    // A threshold no benchmark reaches: every call counts and none enters the runtime.
    let make = |atomic: bool| {
        s.trampolines()
            .counting_with(
                vec![(
                    u64::MAX >> 2,
                    target,
                    Arc::new(|| Err("threshold reached".to_string())),
                )],
                atomic,
            )
            .expect("counting trampoline")[0]
    };
    let (counter, relaxed) = (make(true), make(false));
    stubs
        .handle("counted")
        .expect("handle")
        .redirect(counter.addr);
    stubs
        .handle("relaxed")
        .expect("handle")
        .redirect(relaxed.addr);
    // SAFETY: both stubs lead to `body`, of this type.
    type F = extern "C" fn(u64) -> u64;
    let (via_stub, via_counter, via_relaxed): (F, F, F) = unsafe {
        (
            std::mem::transmute::<usize, F>(plain[0] as usize),
            std::mem::transmute::<usize, F>(plain[1] as usize),
            std::mem::transmute::<usize, F>(plain[2] as usize),
        )
    };
    let mut g = c.benchmark_group("call");
    g.bench_function("direct", |b| {
        b.iter(|| black_box(body as extern "C" fn(u64) -> u64)(black_box(1)))
    });
    g.bench_function("stub (after tier-up)", |b| {
        b.iter(|| black_box(via_stub)(black_box(1)))
    });
    g.bench_function("stub + counting trampoline (tier 0)", |b| {
        b.iter(|| black_box(via_counter)(black_box(1)))
    });
    g.bench_function("stub + plain counting trampoline (tier 0)", |b| {
        b.iter(|| black_box(via_relaxed)(black_box(1)))
    });
    g.finish();
}

criterion_group!(benches, counting);
criterion_main!(benches);
