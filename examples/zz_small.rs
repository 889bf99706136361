use jitlink::{LinkedSetId, Options, Session};
fn main() {
    let obj = std::fs::read("/tmp/sl/three.o").unwrap();
    let n: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(100000);
    let mut s = Session::new(Options::default());
    let t = std::time::Instant::now();
    for id in 0..n {
        s.add_object_bytes("three.o", obj.clone()).unwrap();
        std::hint::black_box(s.lookup("entry").unwrap());
        s.remove(LinkedSetId(id)).unwrap();
    }
    eprintln!("{:?} per iter", t.elapsed() / n);
}
