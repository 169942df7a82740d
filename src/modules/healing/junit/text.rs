//! Output kept bounded while it streams in: the first `cap/2` bytes and the last `cap/2` bytes
//! of a message, body or captured output, with the number of bytes left out between them. Memory
//! per field stays within a few times the cap however large the report is.

/// A growing text that keeps its head and tail.
#[derive(Debug, Clone)]
pub struct BoundedText {
    head: String,
    tail: String,
    omitted: usize,
    half: usize,
}

impl BoundedText {
    pub fn new(cap: usize) -> Self {
        BoundedText {
            head: String::new(),
            tail: String::new(),
            omitted: 0,
            half: (cap / 2).max(1),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }

    pub fn push(&mut self, mut s: &str) {
        if self.head.len() < self.half {
            let room = floor_char_boundary(s, self.half - self.head.len());
            self.head.push_str(&s[..room]);
            s = &s[room..];
        }
        if s.is_empty() {
            return;
        }
        // Only the last `half` bytes of a long piece can survive: drop the rest before copying,
        // so one huge text node never lands in memory whole.
        if s.len() > self.half {
            let cut = ceil_char_boundary(s, s.len() - self.half);
            self.omitted += self.tail.len() + cut;
            self.tail.clear();
            s = &s[cut..];
        }
        self.tail.push_str(s);
        if self.tail.len() > 2 * self.half {
            let cut = ceil_char_boundary(&self.tail, self.tail.len() - self.half);
            self.omitted += cut;
            self.tail.drain(..cut);
        }
    }

    /// The kept text: the whole text when it fit, else head, a marker naming what was left out,
    /// and tail.
    pub fn finish(mut self) -> String {
        if self.tail.len() > self.half {
            let cut = ceil_char_boundary(&self.tail, self.tail.len() - self.half);
            self.omitted += cut;
            self.tail.drain(..cut);
        }
        if self.omitted == 0 {
            self.head.push_str(&self.tail);
            return self.head;
        }
        format!(
            "{}\n… [{} bytes omitted] …\n{}",
            self.head, self.omitted, self.tail
        )
    }
}

/// Caps one short text (an attribute) as head + tail.
pub fn bounded(s: &str, cap: usize) -> String {
    let mut t = BoundedText::new(cap);
    t.push(s);
    t.finish()
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole() {
        let mut t = BoundedText::new(100);
        t.push("hello ");
        t.push("world");
        assert_eq!(t.finish(), "hello world");
    }

    #[test]
    fn long_text_keeps_head_and_tail_and_says_what_was_left_out() {
        let mut t = BoundedText::new(20);
        for i in 0..1000 {
            t.push(&format!("line {i}\n"));
        }
        let out = t.finish();
        assert!(out.starts_with("line 0\n"), "{out}");
        assert!(out.ends_with("line 999\n"), "{out}");
        assert!(out.contains("bytes omitted"), "{out}");
        assert!(out.len() < 80, "{}", out.len());
    }

    #[test]
    fn one_huge_piece_is_never_held_whole() {
        let mut t = BoundedText::new(1_000);
        t.push(&"x".repeat(10_000_000));
        assert!(t.tail.capacity() < 4_000, "{}", t.tail.capacity());
        t.push("end");
        let out = t.finish();
        assert!(
            out.starts_with(&"x".repeat(500)) && out.ends_with("xxend"),
            "{out}"
        );
        assert!(out.contains("[9999003 bytes omitted]"), "{out}");
    }

    #[test]
    fn multibyte_characters_are_never_split() {
        let mut t = BoundedText::new(7);
        t.push(&"é✓".repeat(50));
        let out = t.finish();
        assert!(out.contains("omitted"));
        // Reaching here without a panic on slicing proves boundaries; the text is valid UTF-8.
        assert!(out.chars().count() > 3);
    }
}
