//! Link benchmarks: graph building and whole in-process links per relocation, and adding and
//! looking up a small object. Run with `cargo bench --bench link`. Needs gcc.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jitlink::arch::x86_64::X86_64;
use jitlink::arch::TlsValues;
use jitlink::builder::elf::{add_object, ElfState};
use jitlink::debug::gdb::GdbRegistration;
use jitlink::debug::FunctionTable;
use jitlink::graph::LinkGraph;
use jitlink::memory::{MemoryManager, Placement};
use jitlink::passes::got_stubs::{self, HostInfo, HostSymbol, Reachability};
use jitlink::{fixup, layout};
use jitlink::{LinkedSetId, Options, Session};

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
    let mut g = LinkGraph::<X86_64>::new("count");
    let mut st = ElfState::default();
    add_object(&mut g, &mut st, "count.o", obj).expect("build");
    g.blocks.iter().map(|b| b.edges.len() as u64).sum()
}

fn build_and_link(c: &mut Criterion) {
    let obj = compile("gen2000", &generated(2000));
    let relocs = relocations(&obj);
    let mut g = c.benchmark_group("link 2000 functions");
    g.throughput(Throughput::Elements(relocs));
    g.bench_function("build graph", |b| {
        b.iter(|| {
            let mut g = LinkGraph::<X86_64>::new("bench");
            let mut st = ElfState::default();
            add_object(&mut g, &mut st, "gen.o", black_box(&obj)).expect("build");
            black_box(g.blocks.len())
        })
    });
    // Layout and fixups on one built, resolved graph (both stages are idempotent).
    let mut graph = LinkGraph::<X86_64>::new("bench");
    let mut st = ElfState::default();
    add_object(&mut graph, &mut st, "gen.o", &obj).expect("build");
    struct Near;
    impl Reachability for Near {
        fn pc_rel(&self, _: u64) -> bool {
            true
        }
    }
    struct NoHost;
    impl HostInfo for NoHost {
        fn describe(&self, _: u64) -> Option<HostSymbol> {
            None
        }
        fn read(&self, _: u64, _: usize) -> Option<Vec<u8>> {
            None
        }
    }
    got_stubs::run(&mut graph, &Near, &NoHost, 0).expect("GOT pass");
    let mut mem = MemoryManager::new();
    let page = mem.page_size();
    let lay = layout::layout(&mut graph, page).expect("layout");
    let chunk = mem
        .chunk_for(Placement::Near, lay.len, lay.align)
        .expect("chunk");
    let mut inflight = mem
        .allocate(chunk, lay.len, lay.align, lay.segments.clone())
        .expect("allocate");
    layout::rebase(&mut graph, inflight.base());
    g.bench_function("layout", |b| {
        b.iter(|| {
            let l = layout::layout(&mut graph, page).expect("layout");
            layout::rebase(&mut graph, inflight.base());
            black_box(l.len)
        })
    });
    g.bench_function("fixups (copy and apply)", |b| {
        b.iter(|| fixup::apply(&graph, &mut inflight, TlsValues::default()).expect("fixups"))
    });
    // The debug stage: the function table every link builds, and the gdb registration that
    // debugger support adds (images copied here: the object is in memory, not a file).
    g.bench_function("function table", |b| {
        b.iter(|| black_box(FunctionTable::from_graph(&graph, &[])))
    });
    g.bench_function("gdb registration and removal", |b| {
        b.iter(|| black_box(GdbRegistration::register(&graph, &st.objects, &[]).len()))
    });
    mem.abandon(inflight);

    let mut s = Session::new(Options::default());
    let mut id = 0u32;
    g.bench_function("whole link and remove", |b| {
        b.iter(|| {
            s.add_object_bytes("gen.o", obj.clone()).expect("add");
            s.link_pending().expect("link");
            s.remove(LinkedSetId(id)).expect("remove");
            id += 1;
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
    let mut id = 0u32;
    c.bench_function("add and look up a 3-function object", |b| {
        b.iter_custom(|iters| {
            let mut timed = std::time::Duration::ZERO;
            for _ in 0..iters {
                let t = std::time::Instant::now();
                s.add_object_bytes("three.o", obj.clone()).expect("add");
                black_box(s.lookup("entry").expect("lookup"));
                timed += t.elapsed();
                s.remove(LinkedSetId(id)).expect("remove");
                id += 1;
            }
            timed
        })
    });
    c.bench_function("add, look up and remove a 3-function object", |b| {
        b.iter(|| {
            s.add_object_bytes("three.o", obj.clone()).expect("add");
            black_box(s.lookup("entry").expect("lookup"));
            s.remove(LinkedSetId(id)).expect("remove");
            id += 1;
        })
    });
}

criterion_group!(benches, build_and_link, small_object);
criterion_main!(benches);
