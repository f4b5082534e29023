//! Seeded random streams.
//!
//! Every random choice in a run comes from a [`ChaCha8Rng`] derived from the run's seed and a
//! named stream, so that the pair sampler, the weight initialiser and the per-epoch shuffle
//! never share state and a resumed run can rebuild exactly the stream it needs.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The independent random streams of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Pair creation (negative partner classes).
    Pairs,
    /// Weight initialisation.
    Init,
    /// The shuffle of the training pairs in one epoch.
    Shuffle {
        /// Zero-based epoch index.
        epoch: usize,
    },
    /// The random distortions of the training images in one epoch.
    Distort {
        /// Zero-based epoch index.
        epoch: usize,
    },
    /// Any other consumer, told apart by a tag.
    Other(u64),
}

impl Stream {
    fn tag(self) -> u64 {
        match self {
            Stream::Pairs => 0x5041_4952,
            Stream::Init => 0x494e_4954,
            Stream::Shuffle { epoch } => 0x5348_5546_0000_0000 ^ epoch as u64,
            Stream::Distort { epoch } => 0x4449_5354_0000_0000 ^ epoch as u64,
            Stream::Other(tag) => 0x4f54_4845_0000_0000 ^ tag,
        }
    }
}

/// One step of SplitMix64: a bijective mixer used to turn (seed, stream) into a ChaCha seed.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The generator for `stream` under the run seed `seed`.
pub fn stream_rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mixed = splitmix64(splitmix64(seed) ^ stream.tag());
    ChaCha8Rng::seed_from_u64(mixed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map(|_| stream_rng(7, Stream::Pairs).next_u64())
            .collect();
        assert!(
            a.windows(2).all(|w| w[0] == w[1]),
            "same seed and stream must repeat"
        );
        let pairs = stream_rng(7, Stream::Pairs).next_u64();
        let init = stream_rng(7, Stream::Init).next_u64();
        let e0 = stream_rng(7, Stream::Shuffle { epoch: 0 }).next_u64();
        let e1 = stream_rng(7, Stream::Shuffle { epoch: 1 }).next_u64();
        let other_seed = stream_rng(8, Stream::Pairs).next_u64();
        let d0 = stream_rng(7, Stream::Distort { epoch: 0 }).next_u64();
        let all = [pairs, init, e0, e1, other_seed, d0];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j], "streams {i} and {j} collide");
            }
        }
    }
}
