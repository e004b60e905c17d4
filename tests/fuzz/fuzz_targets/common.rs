//! Shared by the targets: split an input into chunks at places chosen by
//! the fuzzer, so that streaming receivers can be checked to give the same
//! result whether their input arrives whole or in pieces.

/// Splits `data` into a chunking plan (its first byte) and the stream.
pub fn plan(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&seed, rest)) => (seed, rest),
        None => (0, data),
    }
}

/// Cuts `stream` into chunks whose lengths cycle through a pattern derived
/// from `seed`: seed 0 gives single bytes, other seeds mix lengths 1..=16.
pub fn chunks(seed: u8, stream: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut state = u32::from(seed);
    let mut rest = stream;
    while !rest.is_empty() {
        let len = if seed == 0 {
            1
        } else {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            1 + (state >> 16) as usize % 16
        };
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        out.push(chunk);
        rest = tail;
    }
    out
}
