//! Shared by the targets: split an input into chunks at places chosen by
//! the fuzzer, so that streaming receivers can be checked to give the same
//! result whether their input arrives whole or in pieces.

/// What `receive` makes of `data`'s stream fed whole, checked to be the
/// same when the stream arrives in chunks (cut as `data`'s first byte says).
pub fn same_whole_or_chunked<T: PartialEq + std::fmt::Debug>(
    data: &[u8],
    receive: impl Fn(&[&[u8]]) -> Vec<T>,
) -> Vec<T> {
    let (seed, stream) = plan(data);
    let whole = receive(&[stream]);
    let split = receive(&chunks(seed, stream));
    assert_eq!(whole, split, "the receiver depends on chunking");
    whole
}

/// Feeds `chunks` one after another to the receiver `rx` and collects what
/// `next` yields after each (a line or frame framer's `receive`).
#[allow(
    dead_code,
    reason = "smtp_data's receiver restarts on each status instead"
)]
pub fn frames<R, T>(
    mut rx: R,
    chunks: &[&[u8]],
    feed: fn(&mut R, &[u8]),
    next: fn(&mut R) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    for chunk in chunks {
        feed(&mut rx, chunk);
        while let Some(frame) = next(&mut rx) {
            out.push(frame);
        }
    }
    out
}

/// Splits `data` into a chunking plan (its first byte) and the stream.
fn plan(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&seed, rest)) => (seed, rest),
        None => (0, data),
    }
}

/// Cuts `stream` into chunks whose lengths cycle through a pattern derived
/// from `seed`: seed 0 gives single bytes, other seeds mix lengths 1..=16.
fn chunks(seed: u8, stream: &[u8]) -> Vec<&[u8]> {
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
