//! Link benchmarks: graph building and whole in-process links per relocation, and adding and
//! looking up a small object. Run with `cargo bench --bench link`. Needs gcc.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jitlink::{Options, Session};

fn compile(name: &str, src: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-objects");
    std::fs::create_dir_all(&dir).expect("dir");
    let c = dir.join(format!("{name}.c"));
    let o = dir.join(format!("{name}.o"));
    std::fs::write(&c, src).expect("write");
    let ok = Command::new("gcc")
        .args(["-O2", "-c"])
        .arg(&c)
        .arg("-o")
        .arg(&o)
        .status()
        .expect("gcc")
        .success();
    assert!(ok, "gcc failed");
    std::fs::read(&o).expect("read")
}

/// `n` functions calling each other and touching shared data: about 6 relocations each.
fn generated(n: usize) -> String {
    let mut s = format!("int data[{n}];\n");
    for i in 0..n {
        s += &format!("int f{i}(int x);\n");
    }
    for i in 0..n {
        s += &format!(
            "int f{i}(int x) {{ if (x <= 0) return data[{i}]; data[{}] += x; return f{}(x - 1) + f{}(x - 2); }}\n",
            (i * 7) % n,
            (i * 7 + 3) % n,
            (i * 13 + 5) % n
        );
    }
    s
}

fn relocations(obj: &[u8]) -> u64 {
    let counts = jitlink::image::build_graph("count.o", obj).expect("build");
    counts.edges as u64
}

/// The time of pipeline stage `stage` in one link of `obj` by session `s` (then removed): the
/// stages are timed inside the pipeline that runs programs, by `Options::timings`.
fn stage_time(s: &mut Session, obj: &[u8], stage: &str) -> Duration {
    let before = stage_total(s, stage);
    s.add_object_bytes("gen.o", obj.to_vec()).expect("add");
    let id = s.link_pending().expect("link").expect("linked");
    let t = stage_total(s, stage) - before;
    s.remove(id).expect("remove");
    t
}

fn stage_total(s: &Session, stage: &str) -> Duration {
    let stages = &s.timings().stages;
    stages
        .iter()
        .find(|(n, _)| *n == stage)
        .map_or(Duration::ZERO, |x| x.1)
}

fn build_and_link(c: &mut Criterion) {
    let obj = compile("gen2000", &generated(2000));
    let relocs = relocations(&obj);
    let mut g = c.benchmark_group("link 2000 functions");
    g.throughput(Throughput::Elements(relocs));
    // Each stage of the in-process pipeline, timed by the pipeline itself over whole links.
    let mut s = Session::new(Options::default().with_timings(true));
    for stage in [
        "build", "resolve", "passes", "layout", "fixup", "publish", "finalize",
    ] {
        g.bench_function(stage, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| stage_time(&mut s, &obj, stage)).sum())
        });
    }
    g.bench_function("whole link and remove", |b| {
        b.iter(|| {
            s.add_object_bytes("gen.o", obj.clone()).expect("add");
            let id = s.link_pending().expect("link").expect("linked");
            s.remove(id).expect("remove");
        })
    });
    g.finish();
}

fn small_object(c: &mut Criterion) {
    let obj = compile(
        "three",
        "int add(int a, int b) { return a + b; }\nint twice(int x) { return add(x, x); }\nint entry(void) { return twice(21); }\n",
    );
    // The goal (issue 6) is adding and looking up: removal is timed apart, in its own benchmark,
    // but still runs after every link so that each link reuses the memory of the last one.
    let mut s = Session::new(Options::default());
    c.bench_function("add and look up a 3-function object", |b| {
        b.iter_custom(|iters| {
            let mut timed = std::time::Duration::ZERO;
            for _ in 0..iters {
                let t = std::time::Instant::now();
                s.add_object_bytes("three.o", obj.clone()).expect("add");
                black_box(s.lookup("entry").expect("lookup"));
                timed += t.elapsed();
                let id = s.linked_sets()[0];
                s.remove(id).expect("remove");
            }
            timed
        })
    });
    c.bench_function("add, look up and remove a 3-function object", |b| {
        b.iter(|| {
            s.add_object_bytes("three.o", obj.clone()).expect("add");
            black_box(s.lookup("entry").expect("lookup"));
            let id = s.linked_sets()[0];
            s.remove(id).expect("remove");
        })
    });
}

criterion_group!(benches, build_and_link, small_object);
criterion_main!(benches);
