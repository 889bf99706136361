//! A readable dump of a graph, for `--show-graph`.

use std::fmt;

use jitlink_arch::Arch;

use super::{Content, Def, LinkGraph};

impl<A: Arch> fmt::Display for LinkGraph<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "graph \"{}\" ({}, {} inputs, {} sections, {} blocks, {} symbols)",
            self.name,
            A::NAME,
            self.inputs.len(),
            self.sections.len(),
            self.blocks.len(),
            self.symbols.len()
        )?;
        // Symbols by block, so each block lists what it defines.
        let mut by_block: Vec<Vec<usize>> = vec![Vec::new(); self.blocks.len()];
        for (i, s) in self.symbols.iter().enumerate() {
            if let Def::Block { block, .. } = s.def {
                if !s.name.is_empty() {
                    by_block[block.index()].push(i);
                }
            }
        }
        for sec in &self.sections {
            writeln!(
                f,
                "section {} {} ({} blocks)",
                sec.name,
                sec.perm.as_str(),
                sec.blocks.len()
            )?;
            for &b in &sec.blocks {
                let blk = &self.blocks[b.index()];
                let kind = match blk.content {
                    Content::Zero(_) => "zero-fill",
                    _ => "content",
                };
                let from = self.input_section_name(b);
                let from = if from == sec.name {
                    String::new()
                } else {
                    format!(" ({from})")
                };
                writeln!(
                    f,
                    "  block {:#018x} size {:#x} align {} {} from {}{from}",
                    blk.addr,
                    blk.content.size(),
                    blk.align,
                    kind,
                    self.input_name(blk.input)
                )?;
                for &si in &by_block[b.index()] {
                    let s = &self.symbols[si];
                    if let Def::Block { offset, .. } = s.def {
                        writeln!(
                            f,
                            "    symbol {:#018x} +{:#x} {} {:?} {:?}{}",
                            blk.addr.wrapping_add(offset),
                            offset,
                            String::from_utf8_lossy(s.name),
                            s.scope,
                            s.linkage,
                            if s.callable { " callable" } else { "" }
                        )?;
                    }
                }
                for e in &blk.edges {
                    writeln!(
                        f,
                        "    edge +{:#x} {:?} -> {} {:+#x}",
                        e.offset,
                        e.kind,
                        self.symbol_name(e.target),
                        e.addend
                    )?;
                }
            }
        }
        for s in &self.symbols {
            match s.def {
                Def::Absolute(a) if !s.name.is_empty() => writeln!(
                    f,
                    "external {} = {a:#018x}",
                    String::from_utf8_lossy(s.name)
                )?,
                Def::External => {
                    writeln!(f, "external {} unresolved", String::from_utf8_lossy(s.name))?
                }
                _ => {}
            }
        }
        Ok(())
    }
}
