//! Bytes read as choices. An exhausted input reads as zeros, so every input,
//! however short, describes a whole run.

pub(super) struct Input<'b> {
    bytes: &'b [u8],
    at: usize,
    /// How often in 256 `usual_or` picks an edge.
    edges: u16,
}

/// How often in 256 a value is at or beyond a bound, unless a caller says.
const EDGES: u16 = 16;

impl<'b> Input<'b> {
    pub(super) fn new(bytes: &'b [u8]) -> Input<'b> {
        Input {
            bytes,
            at: 0,
            edges: EDGES,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.at >= self.bytes.len()
    }

    pub(super) fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    /// One of `options` (which must not be empty).
    pub(super) fn pick<T: Clone>(&mut self, options: &[T]) -> T {
        options[usize::from(self.byte()) % options.len()].clone()
    }

    /// A number below `n` (0 for `n` = 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        let b = usize::from(self.byte()) << 8 | usize::from(self.byte());
        if n == 0 { 0 } else { b % n }
    }

    /// True about `in_256` times in 256.
    pub(super) fn chance(&mut self, in_256: u16) -> bool {
        u16::from(self.byte()) < in_256
    }

    /// `usual` most of the time, else one of `edges`: values at and beyond a
    /// bound.
    pub(super) fn usual_or<T: Clone>(&mut self, usual: T, edges: &[T]) -> T {
        if !self.chance(self.edges) || edges.is_empty() {
            usual
        } else {
            self.pick(edges)
        }
    }

    /// Runs `f` with edges picked `in_256` times in 256.
    pub(super) fn with_edges<T>(&mut self, in_256: u16, f: impl FnOnce(&mut Self) -> T) -> T {
        let before = std::mem::replace(&mut self.edges, in_256);
        let out = f(self);
        self.edges = before;
        out
    }
}
