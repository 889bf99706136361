//! A Rust static library called from C: HashMap, threads with thread_local!, println!, and a
//! panic caught by catch_unwind.

use std::cell::Cell;
use std::collections::HashMap;

thread_local!(static CALLS: Cell<u32> = const { Cell::new(0) });

fn count_call() -> u32 {
    CALLS.with(|c| {
        c.set(c.get() + 1);
        c.get()
    })
}

#[no_mangle]
pub extern "C" fn rust_work(n: u32) -> u32 {
    let mut squares = HashMap::new();
    for i in 0..n {
        squares.insert(i, i * i);
    }
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            std::thread::spawn(move || {
                for _ in 0..=t {
                    count_call();
                }
                CALLS.with(|c| c.get())
            })
        })
        .collect();
    let per_thread: Vec<u32> = threads.into_iter().map(|h| h.join().unwrap_or(0)).collect();
    std::panic::set_hook(Box::new(|info| println!("rust: panic hook: {}", info.payload().downcast_ref::<String>().map_or("?", |s| s.as_str()))));
    let caught = std::panic::catch_unwind(|| {
        if n > 3 {
            panic!("too many: {n}");
        }
        n
    });
    let mut keys: Vec<_> = squares.keys().copied().collect();
    keys.sort_unstable();
    println!("rust: {} squares, first {:?}, sum {}", squares.len(), &keys[..keys.len().min(3)], squares.values().sum::<u32>());
    println!("rust: per-thread calls {per_thread:?}, main thread calls {}", count_call());
    println!("rust: caught panic: {}", caught.is_err());
    squares.values().sum::<u32>() + per_thread.iter().sum::<u32>()
}
