//! Mutations of valid encodings for the stable property tests: what
//! libFuzzer's mutator does to a seed, driven by numbers a proptest strategy
//! draws, so a failing case shrinks and replays.

/// Lengths a "length field set huge" mutation writes: the u32 and u64 maxima,
/// a length just past `i32`, and the ten-byte varint of `u64::MAX`.
const HUGE_LENGTHS: [&[u8]; 5] = [
    &[0xff; 4],
    &[0xff; 8],
    &[0x00, 0x00, 0x00, 0x80],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
];

/// Applies one mutation per choice to a copy of `seed`. A choice packs the
/// kind of mutation (low byte), where (next three bytes, taken modulo the
/// length) and a parameter (high four bytes):
///
/// ```text
///  kind % 8   0 flip a bit      1 truncate          2 insert bytes
///             3 delete bytes    4 set a byte        5 write a huge length
///             6 duplicate a run 7 overwrite 4 bytes
/// ```
pub fn mutate(seed: &[u8], choices: &[u64]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for &choice in choices {
        let kind = choice as u8 % 8;
        let at = ((choice >> 8) & 0xff_ffff) as usize % (bytes.len() + 1);
        let parameter = (choice >> 32) as u32;
        apply(&mut bytes, kind, at, parameter);
    }
    bytes
}

fn apply(bytes: &mut Vec<u8>, kind: u8, at: usize, parameter: u32) {
    let byte = parameter as u8;
    let run = 1 + (parameter >> 8) as usize % 8;
    match kind {
        0 if at < bytes.len() => bytes[at] ^= 1 << (parameter % 8),
        1 => bytes.truncate(at),
        2 => {
            let inserted = std::iter::repeat_n(byte, run);
            bytes.splice(at..at, inserted);
        }
        3 => {
            let end = (at + run).min(bytes.len());
            bytes.drain(at..end);
        }
        4 if at < bytes.len() => bytes[at] = byte,
        5 => overwrite(
            bytes,
            at,
            HUGE_LENGTHS[parameter as usize % HUGE_LENGTHS.len()],
        ),
        6 => {
            let end = (at + run).min(bytes.len());
            let copy = bytes[at..end].to_vec();
            bytes.splice(at..at, copy);
        }
        7 => overwrite(bytes, at, &parameter.to_le_bytes()),
        _ => {}
    }
}

/// Writes `with` at `at`, growing the input if it runs past the end.
fn overwrite(bytes: &mut Vec<u8>, at: usize, with: &[u8]) {
    let end = at + with.len();
    if end > bytes.len() {
        bytes.resize(end, 0);
    }
    bytes[at..end].copy_from_slice(with);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_does_what_it_says() {
        let seed = [1u8, 2, 3, 4];
        let choice = |kind: u64, at: u64, parameter: u64| kind | at << 8 | parameter << 32;
        assert_eq!(mutate(&seed, &[choice(0, 1, 0)]), [1, 3, 3, 4]);
        assert_eq!(mutate(&seed, &[choice(1, 2, 0)]), [1, 2]);
        assert_eq!(mutate(&seed, &[choice(2, 4, 0x0109)]), [1, 2, 3, 4, 9, 9]);
        assert_eq!(mutate(&seed, &[choice(3, 0, 0x0100)]), [3, 4]);
        assert_eq!(mutate(&seed, &[choice(4, 3, 7)]), [1, 2, 3, 7]);
        assert_eq!(
            mutate(&seed, &[choice(5, 2, 0)]),
            [1, 2, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(mutate(&seed, &[choice(6, 1, 0x0100)]), [1, 2, 3, 2, 3, 4]);
        assert_eq!(mutate(&seed, &[choice(7, 0, 0x0a0b)]), [0x0b, 0x0a, 0, 0]);
        assert_eq!(mutate(&[], &[choice(0, 5, 0), choice(3, 9, 0)]), [0u8; 0]);
    }
}
