//! Keys, values and the cheap random numbers the workloads draw them with.

use bytes::Bytes;

use crate::cli::KeyArgs;

/// Key and value shapes shared by the put-like workloads.
#[derive(Debug, Clone)]
pub struct KeyShape {
    prefix: String,
    digits: usize,
    pub space: u64,
    pub value: Bytes,
}

impl KeyShape {
    pub fn new(args: &KeyArgs) -> Result<Self, String> {
        if args.key_space_size == 0 {
            return Err("--key-space-size must be at least 1".to_string());
        }
        let digits_needed = (args.key_space_size - 1).to_string().len();
        if args.key_size < digits_needed {
            return Err(format!(
                "--key-size {} cannot number {} keys (needs {digits_needed} digits)",
                args.key_size, args.key_space_size
            ));
        }
        Ok(Self {
            prefix: args.key_prefix.clone(),
            digits: args.key_size,
            space: args.key_space_size,
            value: random_value(args.val_size, 0x5eed),
        })
    }

    /// Key number `index mod space`: the prefix then zero-padded decimal.
    pub fn key(&self, index: u64) -> Bytes {
        let index = index % self.space;
        Bytes::from(format!(
            "{}{index:0width$}",
            self.prefix,
            width = self.digits
        ))
    }
}

/// `size` pseudo-random bytes (incompressible, like etcd's benchmark values).
pub fn random_value(size: usize, seed: u64) -> Bytes {
    let mut random = Random::new(seed);
    let mut value = Vec::with_capacity(size + 8);
    while value.len() < size {
        value.extend_from_slice(&random.next_u64().to_le_bytes());
    }
    value.truncate(size);
    Bytes::from(value)
}

/// splitmix64: fast, seedable, good enough to pick keys.
#[derive(Debug, Clone)]
pub struct Random {
    state: u64,
}

impl Random {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The smallest key greater than every key with `prefix` (etcd's GetPrefixRangeEnd).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff (or the prefix was empty): range to the end of the keyspace.
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_zero_padded_and_wrap() {
        let shape = KeyShape::new(&KeyArgs {
            key_size: 4,
            val_size: 3,
            key_space_size: 100,
            key_prefix: "k/".to_string(),
        })
        .unwrap();
        assert_eq!(shape.key(7), Bytes::from("k/0007"));
        assert_eq!(shape.key(107), Bytes::from("k/0007"));
        assert_eq!(shape.value.len(), 3);
    }

    #[test]
    fn key_size_too_small_for_the_space_is_refused() {
        let args = KeyArgs {
            key_size: 2,
            val_size: 8,
            key_space_size: 1000,
            key_prefix: String::new(),
        };
        assert!(KeyShape::new(&args).is_err());
    }

    #[test]
    fn prefix_end_matches_etcd() {
        assert_eq!(prefix_end(b"a"), b"b".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b""), vec![0]);
    }
}
