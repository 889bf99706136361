//! `jitlink-check`: the assertion language of LLVM's JITLink tests, evaluated against an image
//! linked at a fixed base ([`crate::image`]).
//!
//! A check is a line `# jitlink-check: EXPR = EXPR` (`==` is accepted too) anywhere in a file,
//! typically an assembly test whose comments carry them; a check ending in `\` continues on
//! the next `jitlink-check:` line. Both sides are evaluated as unsigned
//! 64-bit values with wrapping arithmetic and compared.
//!
//! Expressions, as in LLVM's RuntimeDyldChecker:
//! - numbers (decimal or `0x` hex) and symbol names (defined in the image, or `--abs`);
//! - `decode_operand(ADDR, N)`: operand `N` of the instruction at `ADDR` (a label or any
//!   expression, `decode_operand(label + 4, 0)`), numbered as LLVM's
//!   `MCInst` numbers them: a register is one operand (a read-write destination is two, the
//!   tied source repeated), a memory reference five (base, scale, index, displacement,
//!   segment), an immediate one, a branch target one (its displacement from `next_pc`);
//!   a RIP-relative displacement is the raw displacement, not the address;
//! - `next_pc(ADDR)`: the address after the instruction at `ADDR`;
//! - `stub_addr([file,] sym)`, `got_addr([file,] sym)` (the file argument names an input; a
//!   link has one GOT and one stub table), `section_addr(file, section)`, where a Mach-O
//!   section may be written `SEGMENT,SECTION` as in LLVM (the segment is not checked: the
//!   graph knows sections by their section name);
//! - `*{N}expr`: the `N`-byte little-endian value at address `expr` (N = 1, 2, 4, 8); as in
//!   LLVM, `expr` extends to the end of the enclosing expression (`*{1}label+1` loads from
//!   `label+1`: parenthesize a load to combine its value). Zero-fill blocks read zeros; a load
//!   that starts before the image or runs past its last block is an error, never a value;
//! - `simple[hi:lo]`: bits `hi` down to `lo` of a number, name, call, load or parenthesized
//!   expression;
//! - binary `+ - & | << >>`, evaluated strictly left to right (no precedence, as in LLVM's
//!   checker: use parentheses), and parentheses.

use std::fmt;

use iced_x86::{Decoder, DecoderOptions, InstructionInfoFactory, OpAccess, OpKind, Register};

use crate::image::LinkedImage;

/// The marker that starts a check in a line.
pub const MARKER: &str = "jitlink-check:";

/// A check that did not hold, or could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// 1-based line of the check.
    pub line: usize,
    /// The check's text.
    pub check: String,
    /// The two values, or `None` if evaluation failed.
    pub values: Option<(u64, u64)>,
    /// Why evaluation failed (empty when both sides were evaluated).
    pub error: String,
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.values {
            Some((l, r)) => write!(
                f,
                "line {}: check failed: {}\n  left  = {l:#x} ({})\n  right = {r:#x} ({})",
                self.line, self.check, l as i64, r as i64
            ),
            None => write!(f, "line {}: {}: {}", self.line, self.check, self.error),
        }
    }
}

/// What running the checks of a file found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Checks that held.
    pub passed: usize,
    /// Checks that did not.
    pub failures: Vec<CheckFailure>,
}

/// Runs every `jitlink-check:` line of `text` against `image`; `absolutes` are the symbols
/// given with `--abs`.
pub fn run(image: &LinkedImage, absolutes: &[(String, u64)], text: &str) -> CheckReport {
    let cx = Context { image, absolutes };
    let mut report = CheckReport::default();
    // A check ending in `\` continues on the next check line.
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let Some(at) = line.find(MARKER) else {
            continue;
        };
        let part = line[at + MARKER.len()..].trim();
        let (first, mut check) = pending.take().unwrap_or((i, String::new()));
        if !check.is_empty() {
            check.push(' ');
        }
        if let Some(head) = part.strip_suffix('\\') {
            check.push_str(head.trim_end());
            pending = Some((first, check));
            continue;
        }
        check.push_str(part);
        let (i, check) = (first, check.as_str());
        match cx.check(check) {
            Ok((l, r)) if l == r => report.passed += 1,
            Ok((l, r)) => report.failures.push(CheckFailure {
                line: i + 1,
                check: check.to_string(),
                values: Some((l, r)),
                error: String::new(),
            }),
            Err(error) => report.failures.push(CheckFailure {
                line: i + 1,
                check: check.to_string(),
                values: None,
                error,
            }),
        }
    }
    report
}

struct Context<'a> {
    image: &'a LinkedImage,
    absolutes: &'a [(String, u64)],
}

/// A cursor over an expression's text.
struct Parser<'s> {
    s: &'s str,
    pos: usize,
}

type Eval<T> = std::result::Result<T, String>;

impl<'s> Parser<'s> {
    fn rest(&self) -> &'s str {
        &self.s[self.pos..]
    }
    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }
    fn eat(&mut self, tok: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, tok: &str) -> Eval<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(format!("expected '{tok}' at '{}'", self.rest()))
        }
    }
    fn word(&mut self) -> Eval<&'s str> {
        self.skip_ws();
        let r = self.rest();
        let n = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_.$@".contains(c)))
            .unwrap_or(r.len());
        if n == 0 {
            return Err(format!("expected a name or number at '{r}'"));
        }
        self.pos += n;
        Ok(&r[..n])
    }
}

fn number(w: &str) -> Option<u64> {
    match w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => w.parse().ok(),
    }
}

impl Context<'_> {
    fn check(&self, text: &str) -> Eval<(u64, u64)> {
        let mut p = Parser { s: text, pos: 0 };
        let lhs = self.expr(&mut p)?;
        if !p.eat("==") {
            p.expect("=")?;
        }
        let rhs = self.expr(&mut p)?;
        p.skip_ws();
        if !p.rest().is_empty() {
            return Err(format!("unexpected '{}'", p.rest()));
        }
        Ok((lhs, rhs))
    }

    /// `simple (op simple)*`, left to right.
    fn expr(&self, p: &mut Parser<'_>) -> Eval<u64> {
        let mut v = self.simple(p)?;
        loop {
            let op = ["<<", ">>", "+", "-", "&", "|"]
                .into_iter()
                .find(|op| p.eat(op));
            let Some(op) = op else { return Ok(v) };
            let r = self.simple(p)?;
            v = match op {
                "<<" => v.checked_shl(r as u32).unwrap_or(0),
                ">>" => v.checked_shr(r as u32).unwrap_or(0),
                "+" => v.wrapping_add(r),
                "-" => v.wrapping_sub(r),
                "&" => v & r,
                _ => v | r,
            };
        }
    }

    /// A primary followed by an optional bit slice.
    fn simple(&self, p: &mut Parser<'_>) -> Eval<u64> {
        let v = self.primary(p)?;
        if !p.eat("[") {
            return Ok(v);
        }
        let hi = p
            .word()
            .and_then(|w| number(w).ok_or(format!("bad bit '{w}'")))?;
        p.expect(":")?;
        let lo = p
            .word()
            .and_then(|w| number(w).ok_or(format!("bad bit '{w}'")))?;
        p.expect("]")?;
        if hi > 63 || lo > hi {
            return Err(format!("bad slice [{hi}:{lo}]"));
        }
        let width = hi - lo + 1;
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1 << width) - 1
        };
        Ok((v >> lo) & mask)
    }

    fn primary(&self, p: &mut Parser<'_>) -> Eval<u64> {
        if p.eat("(") {
            let v = self.expr(p)?;
            p.expect(")")?;
            return Ok(v);
        }
        if p.eat("*") {
            p.expect("{")?;
            let n = p
                .word()
                .and_then(|w| number(w).ok_or(format!("bad size '{w}'")))?;
            p.expect("}")?;
            if ![1, 2, 4, 8].contains(&n) {
                return Err(format!("load size {n} is not 1, 2, 4 or 8"));
            }
            // As in LLVM, the address is everything up to the end of the enclosing
            // expression: `*{1}label+1` loads from `label+1`.
            let addr = self.expr(p)?;
            return self.load(addr, n as usize);
        }
        let w = p.word()?;
        if w.starts_with(|c: char| c.is_ascii_digit()) {
            return number(w).ok_or(format!("bad number '{w}'"));
        }
        if !p.eat("(") {
            return self.symbol(w);
        }
        match w {
            // An address argument is any expression (`decode_operand(label + 4, 0)`).
            "decode_operand" => {
                let (addr, what) = self.address_arg(p)?;
                p.expect(",")?;
                let n = self.expr(p)?;
                p.expect(")")?;
                let (ops, _) = self.decode(addr, &what)?;
                usize::try_from(n)
                    .ok()
                    .and_then(|i| ops.get(i))
                    .copied()
                    .ok_or(format!(
                        "instruction at '{what}' has {} operands, not operand {n}",
                        ops.len()
                    ))
            }
            "next_pc" => {
                let (addr, what) = self.address_arg(p)?;
                p.expect(")")?;
                Ok(self.decode(addr, &what)?.1)
            }
            // Names: split at commas, except that the last argument of `section_addr` runs
            // to the closing parenthesis, so that a Mach-O `SEGMENT,SECTION` is one argument.
            _ => {
                let r = p.rest();
                let close = r
                    .find(')')
                    .ok_or(format!("expected ')' after the arguments of {w}"))?;
                p.pos += close + 1;
                let inner = r[..close].trim();
                let args: Vec<&str> = match (w, inner) {
                    (_, "") => Vec::new(),
                    ("section_addr", _) => match inner.split_once(',') {
                        Some((file, sec)) => vec![file.trim(), sec.trim()],
                        None => vec![inner],
                    },
                    _ => inner.split(',').map(str::trim).collect(),
                };
                self.call(w, &args)
            }
        }
    }

    /// The first argument of `decode_operand` and `next_pc`: an expression, and its text for
    /// messages.
    fn address_arg(&self, p: &mut Parser<'_>) -> Eval<(u64, String)> {
        p.skip_ws();
        let start = p.pos;
        let addr = self.expr(p)?;
        Ok((addr, p.s[start..p.pos].trim().to_string()))
    }

    /// The `n`-byte little-endian value at `addr`. Zero-fill blocks (stored in no byte of the
    /// image when they end it) read as zeros; a load that runs past the end of the image, or
    /// starts before it, is an error.
    fn load(&self, addr: u64, n: usize) -> Eval<u64> {
        let img = self.image;
        let end_of_image = img
            .blocks
            .iter()
            .filter(|b| !b.thread_local)
            .map(|b| b.addr.saturating_add(b.size))
            .chain([img.base.saturating_add(img.bytes.len() as u64)])
            .max()
            .unwrap_or(img.base);
        let end = addr.checked_add(n as u64);
        if addr < img.base || end.is_none_or(|e| e > end_of_image) {
            return Err(format!(
                "load of {n} bytes at {addr:#x} is outside the image [{:#x}, {end_of_image:#x})",
                img.base
            ));
        }
        let mut buf = [0u8; 8];
        for (i, byte) in buf.iter_mut().enumerate().take(n) {
            // Past the stored bytes: zero-fill.
            *byte = img.read(addr + i as u64, 1).map_or(0, |b| b[0]);
        }
        Ok(u64::from_le_bytes(buf))
    }

    fn symbol(&self, name: &str) -> Eval<u64> {
        self.image
            .symbols
            .get(name)
            .copied()
            .or_else(|| self.absolutes.iter().find(|(n, _)| n == name).map(|a| a.1))
            .ok_or(format!("unknown symbol '{name}'"))
    }

    fn call(&self, f: &str, args: &[&str]) -> Eval<u64> {
        let img = self.image;
        let has_file = |file: &str| {
            img.blocks
                .iter()
                .any(|b| b.file == file || b.file.rsplit('/').next() == Some(file))
        };
        // The symbol argument of got_addr/stub_addr: `(sym)`, `(file, sym)`, or LLVM's
        // RuntimeDyld form `(file, section, sym)`.
        let entry = |table: &std::collections::BTreeMap<String, u64>, what: &str| -> Eval<u64> {
            let (file, sym) = match args {
                [sym] => (None, *sym),
                [file, sym] | [file, _, sym] => (Some(*file), *sym),
                _ => return Err(format!("{f} takes ([file,] symbol)")),
            };
            if let Some(file) = file.filter(|f| !has_file(f)) {
                return Err(format!("no input named '{file}'"));
            }
            table
                .get(sym)
                .copied()
                .ok_or(format!("'{sym}' has no {what}"))
        };
        match (f, args) {
            ("got_addr", _) => entry(&img.got, "GOT entry"),
            ("stub_addr", _) => entry(&img.stubs, "stub"),
            // A Mach-O section is named `SEGMENT,SECTION` as in LLVM; the graph knows its
            // sections by their section name.
            ("section_addr", [file, sec]) => img
                .section_addr(file, sec)
                .or_else(|| {
                    let (_, name) = sec.split_once(',')?;
                    img.section_addr(file, name.trim())
                })
                .ok_or(format!("no section '{sec}' from '{file}'")),
            _ => Err(format!("unknown function {f}/{}", args.len())),
        }
    }

    /// The operands of the instruction at `addr` (the value of the expression `label`) in
    /// LLVM's numbering, and its next PC.
    fn decode(&self, addr: u64, label: &str) -> Eval<(Vec<u64>, u64)> {
        if self.image.arch == crate::target::ArchKind::RiscV64 {
            // 2- or 4-byte instructions, told apart by their first parcel.
            let missing = || format!("'{label}' is not in the image");
            let parcel = self.image.read(addr, 2).ok_or_else(missing)?;
            let parcel = u16::from_le_bytes([parcel[0], parcel[1]]);
            let len = jitlink_arch::riscv64::instruction_length(parcel);
            let ins = if len == 4 {
                let w = self.image.read(addr, 4).ok_or_else(missing)?;
                u32::from_le_bytes([w[0], w[1], w[2], w[3]])
            } else {
                u32::from(parcel)
            };
            let ops: Vec<u64> = (0..)
                .map_while(|n| jitlink_arch::riscv64::decode_operand(ins, n))
                .map(|v| v as u64)
                .collect();
            if ops.is_empty() {
                return Err(format!(
                    "the instruction at '{label}' ({ins:#010x}) is not one relocations patch"
                ));
            }
            return Ok((ops, addr + len as u64));
        }
        if self.image.arch == crate::target::ArchKind::AArch64 {
            // Fixed-size instructions: the operands the relocations patch, sign-extended.
            let word = self
                .image
                .read(addr, 4)
                .ok_or(format!("'{label}' is not in the image"))?;
            let ins = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            let ops: Vec<u64> = (0..)
                .map_while(|n| jitlink_arch::aarch64::decode_operand(ins, n))
                .map(|v| v as u64)
                .collect();
            if ops.is_empty() {
                return Err(format!(
                    "the instruction at '{label}' ({ins:#010x}) is not one relocations patch"
                ));
            }
            return Ok((ops, addr + 4));
        }
        let avail = (self.image.base + self.image.bytes.len() as u64).saturating_sub(addr);
        let bytes = self
            .image
            .read(addr, avail.min(15) as usize)
            .ok_or(format!("'{label}' is not in the image"))?;
        let mut dec = Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE);
        let ins = dec.decode();
        if ins.is_invalid() {
            return Err(format!("no valid instruction at '{label}' ({addr:#x})"));
        }
        let info = InstructionInfoFactory::new().info(&ins).clone();
        let reg = |r: Register| r as u64;
        let mut ops = Vec::new();
        for i in 0..ins.op_count() {
            match ins.op_kind(i) {
                OpKind::Register => {
                    ops.push(reg(ins.op_register(i)));
                    // A read-write destination is tied to a source operand in MCInst.
                    if i == 0 && ins.op_count() > 1 && info.op0_access() == OpAccess::ReadWrite {
                        ops.push(reg(ins.op_register(i)));
                    }
                }
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {
                    ops.push(ins.near_branch_target().wrapping_sub(ins.next_ip()))
                }
                OpKind::Memory => {
                    let disp = if ins.is_ip_rel_memory_operand() {
                        ins.memory_displacement64().wrapping_sub(ins.next_ip())
                    } else {
                        ins.memory_displacement64()
                    };
                    ops.push(reg(ins.memory_base()));
                    ops.push(u64::from(ins.memory_index_scale()));
                    ops.push(reg(ins.memory_index()));
                    ops.push(disp);
                    ops.push(reg(ins.segment_prefix()));
                }
                OpKind::Immediate8
                | OpKind::Immediate8_2nd
                | OpKind::Immediate16
                | OpKind::Immediate32
                | OpKind::Immediate64
                | OpKind::Immediate8to16
                | OpKind::Immediate8to32
                | OpKind::Immediate8to64
                | OpKind::Immediate32to64 => ops.push(ins.immediate(i)),
                // String-instruction and far operands: no value a check can use.
                _ => ops.push(0),
            }
        }
        Ok((ops, ins.next_ip()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// An image at 0x1000: `call rel32` to 0x1100 at `call`, then the quad 0x1122334455667788,
    /// a `call` to the next instruction at 0x100d (`__TEXT,__text` of `a.o`, 0x1000-0x1012), and
    /// a zero-fill block of 16 bytes at 0x1012 that no stored byte covers.
    fn image() -> LinkedImage {
        let mut bytes = vec![0xe8, 0xfb, 0x00, 0x00, 0x00]; // call 0x1100
        bytes.extend_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        bytes.extend_from_slice(&[0xe8, 0, 0, 0, 0]); // call 0x1012
        let symbols = BTreeMap::from([("call".to_string(), 0x1000), ("q".to_string(), 0x1005)]);
        let block = |section: &str, addr, size| crate::image::PlacedBlock {
            file: "/tmp/a.o".to_string(),
            section: section.to_string(),
            addr,
            size,
            thread_local: false,
        };
        LinkedImage {
            base: 0x1000,
            bytes,
            blocks: vec![block("__text", 0x1000, 0x12), block("__bss", 0x1012, 16)],
            symbols,
            got: BTreeMap::from([("ext".to_string(), 0x1005)]),
            stubs: BTreeMap::new(),
            tls: Default::default(),
            arch: crate::target::ArchKind::X86_64,
        }
    }

    fn eval(check: &str) -> Eval<(u64, u64)> {
        let img = image();
        let abs = [("a".to_string(), 0x10u64)];
        Context {
            image: &img,
            absolutes: &abs,
        }
        .check(check)
    }

    #[test]
    fn expressions_evaluate_as_in_llvm() {
        let cases: &[(&str, u64)] = &[
            ("1 + 2", 3),
            ("0x10 - 0x20", 0xffff_ffff_ffff_fff0),
            // Left to right, no precedence.
            ("1 + 2 << 4", 48),
            ("1 + (2 << 4)", 33),
            ("a | 1 & 0x3", 1),
            ("q", 0x1005),
            ("*{8}q", 0x1122_3344_5566_7788),
            ("*{2}q", 0x7788),
            ("*{1}q+1", 0x77),
            ("(*{1}q) + 1", 0x89),
            ("(*{8}q)[63:56]", 0x11),
            ("(*{8}q)[3:0]", 0x8),
            ("next_pc(call)", 0x1005),
            ("decode_operand(call, 0)", 0xfb),
            ("decode_operand(call, 0) + next_pc(call)", 0x1100),
            ("got_addr(ext)", 0x1005),
            ("(*{8}got_addr(ext)) >> 56", 0x11),
            // Arithmetic wherever an address is expected.
            ("decode_operand(q + 8, 0)", 0),
            ("decode_operand(call + 13, 0)", 0),
            ("next_pc(q + (4 << 1))", 0x1012),
            ("decode_operand((call), 1 - 1)", 0xfb),
            // Bit slices of any simple expression.
            ("decode_operand(call, 0)[7:4]", 0xf),
            ("(q + 0xf0)[11:4]", 0xf),
            ("(q + 0xf0)[15:8]", 0x10),
            ("next_pc(call)[3:0]", 5),
            // A Mach-O section name holds a comma.
            ("section_addr(a.o, __TEXT,__text)", 0x1000),
            ("section_addr(a.o, __text)", 0x1000),
            ("section_addr(a.o,__DATA, __bss)", 0x1012),
            // Zero-fill reads zeros, up to the image's last byte.
            ("*{8}section_addr(a.o, __bss)", 0),
            ("*{8}0x101a", 0),
            ("*{4}0x100c", 0xe811),
            ("*{8}0x1010", 0),
        ];
        for &(expr, want) in cases {
            assert_eq!(
                eval(&format!("{expr} = {want}")),
                Ok((want, want)),
                "{expr}"
            );
        }
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let cases: &[(&str, &str)] = &[
            ("nosuch = 1", "unknown symbol 'nosuch'"),
            ("*{3}q = 1", "load size 3"),
            ("*{8}0x2000 = 1", "outside the image"),
            // Loads that run past the end, or start before the image.
            (
                "*{8}0x101b = 1",
                "load of 8 bytes at 0x101b is outside the image",
            ),
            ("*{1}0x1022 = 1", "outside the image [0x1000, 0x1022)"),
            ("*{2}0xfff = 1", "outside the image"),
            ("*{8}0xfffffffffffffffc = 1", "outside the image"),
            (
                "section_addr(a.o, __DATA,__nosuch) = 1",
                "no section '__DATA,__nosuch'",
            ),
            ("decode_operand(q + 8) = 1", "expected ','"),
            (
                "decode_operand(nosuch + 1, 0) = 1",
                "unknown symbol 'nosuch'",
            ),
            ("stub_addr(ext) = 1", "'ext' has no stub"),
            ("got_addr(x.o, ext) = 1", "no input named 'x.o'"),
            ("decode_operand(call, 1) = 1", "has 1 operands"),
            ("q[1:2] = 1", "bad slice"),
            ("(1 = 1", "expected ')'"),
            ("1 = 1 1", "unexpected '1'"),
            ("frob(q) = 1", "unknown function frob/1"),
        ];
        for &(check, want) in cases {
            match eval(check) {
                Err(e) => assert!(e.contains(want), "{check}: {e}"),
                Ok(v) => panic!("{check}: evaluated to {v:?}"),
            }
        }
    }

    #[test]
    fn continued_checks_and_failures_are_reported_by_line() {
        let img = image();
        let text =
            "x\n# jitlink-check: q = \\\n# jitlink-check:   0x1005\n# jitlink-check: q = 4\n";
        let r = run(&img, &[], text);
        assert_eq!(r.passed, 1);
        assert_eq!(r.failures.len(), 1);
        assert_eq!(r.failures[0].line, 4);
        assert_eq!(r.failures[0].values, Some((0x1005, 4)));
    }
}
