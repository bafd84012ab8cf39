//! A small deterministic mutator, so the CI smoke test can throw a few thousand
//! damaged inputs at each check without a fuzzer: bit flips, interesting
//! values (0, all ones, sign edges, lengths) over length fields, truncation,
//! insertion, deletion and duplication of ranges.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded random source for inputs and mutations.
pub struct Mutator {
    rng: ChaCha8Rng,
}

const INTERESTING_U32: [u32; 10] = [
    0,
    1,
    4,
    0x7f,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fff0,
    0xffff_ffff,
    0x1000_0000,
];

impl Mutator {
    /// A mutator whose choices follow from `seed`.
    pub fn new(seed: u64) -> Mutator {
        Mutator {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.rng.random_range(0..n)
        }
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.rng.fill(&mut v[..]);
        v
    }

    /// Apply one to four random mutations to `data`.
    pub fn mutate(&mut self, data: &mut Vec<u8>) {
        let n = 1 + self.below(4);
        for _ in 0..n {
            self.mutate_once(data);
        }
    }

    fn mutate_once(&mut self, data: &mut Vec<u8>) {
        let len = data.len();
        match self.below(8) {
            0 | 1 if len > 0 => {
                let at = self.below(len);
                data[at] ^= 1 << self.below(8);
            }
            2 if len >= 4 => {
                let at = self.below(len - 3);
                let mut v = INTERESTING_U32[self.below(INTERESTING_U32.len())];
                if self.below(4) == 0 {
                    v = u32::try_from(self.below(len + 64)).unwrap_or(v);
                }
                let b = if self.below(2) == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                data[at..at + 4].copy_from_slice(&b);
            }
            3 if len > 0 => data.truncate(self.below(len)),
            4 => {
                let at = self.below(len + 1);
                let k = 1 + self.below(16);
                let ins = self.bytes(k);
                data.splice(at..at, ins);
            }
            5 if len > 0 => {
                let at = self.below(len);
                let k = 1 + self.below((len - at).min(64));
                data.drain(at..at + k);
            }
            6 if len > 0 && len < 1 << 20 => {
                let at = self.below(len);
                let k = 1 + self.below((len - at).min(256));
                let copy = data[at..at + k].to_vec();
                let to = self.below(len + 1);
                data.splice(to..to, copy);
            }
            _ if len > 0 => {
                let at = self.below(len);
                data[at] = [0u8, 0xff, 0x7f, 0x80][self.below(4)];
            }
            _ => {
                let k = 1 + self.below(32);
                data.extend(self.bytes(k));
            }
        }
    }
}
