//! Random token soup for the tests that feed arbitrary input through a parser or the renderer
//! (errors are fine, panics are not): a xorshift generator, so every run sees the same inputs.

pub(crate) struct Soup {
    state: u64,
}

impl Soup {
    pub(crate) fn new(seed: u64) -> Self {
        Soup { state: seed }
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// Fewer than `max_tokens` tokens picked from `tokens`, joined.
    pub(crate) fn text(&mut self, tokens: &[&str], max_tokens: u64) -> String {
        let n = (self.next() % max_tokens) as usize;
        (0..n)
            .map(|_| tokens[(self.next() % tokens.len() as u64) as usize])
            .collect()
    }
}
