//! How a seen-assets item holds its asset keys: sorted and front-coded in one binary attribute.
//!
//! A page's keys are computer names, and sorted names share long prefixes (`fin-desktop-01..`, `web-prod-..`):
//! each key is stored as the number of leading bytes it shares with the key before it, then the rest. A page of
//! 1,000 names takes about a third of the bytes a list of strings does, and the item's write units with them (the
//! unchanged re-sync writes one such item per agent page). Lossless: every key reads back exactly; a malformed
//! attribute is an error, never a shorter list.
//!
//! Layout, per key in ascending byte order: shared prefix length and rest length as LEB128 varints, then the rest.

use crate::error::{Result, StoreError};

const WHAT: &str = "seen assets";

/// `keys` sorted, without duplicates, front-coded.
pub(super) fn pack_keys(keys: &[String]) -> Vec<u8> {
    let mut sorted: Vec<&str> = keys.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::with_capacity(sorted.len() * 8);
    let mut previous: &[u8] = &[];
    for key in sorted {
        let bytes = key.as_bytes();
        let shared = previous
            .iter()
            .zip(bytes)
            .take_while(|(a, b)| a == b)
            .count();
        push_varint(&mut out, shared);
        push_varint(&mut out, bytes.len() - shared);
        out.extend_from_slice(&bytes[shared..]);
        previous = bytes;
    }
    out
}

/// The keys [`pack_keys`] packed, in ascending order.
pub(super) fn unpack_keys(mut packed: &[u8]) -> Result<Vec<String>> {
    let mut keys: Vec<String> = Vec::new();
    let mut previous: Vec<u8> = Vec::new();
    while !packed.is_empty() {
        let shared = read_varint(&mut packed)?;
        let rest = read_varint(&mut packed)?;
        if shared > previous.len() || rest > packed.len() {
            return Err(malformed("a key runs past its bounds"));
        }
        previous.truncate(shared);
        previous.extend_from_slice(&packed[..rest]);
        packed = &packed[rest..];
        let key = std::str::from_utf8(&previous).map_err(|_| malformed("a key is not UTF-8"))?;
        keys.push(key.to_string());
    }
    Ok(keys)
}

fn push_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn read_varint(input: &mut &[u8]) -> Result<usize> {
    let mut n: usize = 0;
    for shift in (0..).step_by(7).take(5) {
        let (&byte, rest) = input
            .split_first()
            .ok_or_else(|| malformed("a length is cut short"))?;
        *input = rest;
        n |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(malformed("a length is too long"))
}

fn malformed(detail: &str) -> StoreError {
    StoreError::Malformed {
        what: WHAT,
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn every_key_reads_back_sorted_and_once() {
        let keys = strings(&[
            "fin-desktop-0102",
            "fin-desktop-0017",
            "",
            "ana-mbp-004",
            "fin-desktop-0102",
            "fin-desk",
            "ünïcode-hôte",
            "ünïcode-hôtel",
            &"x".repeat(300),
        ]);
        let mut expected = keys.clone();
        expected.sort();
        expected.dedup();
        assert_eq!(unpack_keys(&pack_keys(&keys)).unwrap(), expected);
        assert!(unpack_keys(&pack_keys(&[])).unwrap().is_empty());
    }

    #[test]
    fn sorted_names_with_common_prefixes_take_far_fewer_bytes_than_the_names() {
        let keys: Vec<String> = (0..1000)
            .map(|i| format!("{}-desktop-{:04}", ["fin", "hr", "ops"][i % 3], i * 7))
            .collect();
        let plain: usize = keys.iter().map(String::len).sum();
        let packed = pack_keys(&keys).len();
        assert!(packed * 2 < plain, "{packed} bytes packed of {plain}");
    }

    #[test]
    fn a_malformed_attribute_is_an_error() {
        let good = pack_keys(&strings(&["abc", "abd"]));
        assert!(unpack_keys(&good[..good.len() - 1]).is_err(), "cut short");
        assert!(
            unpack_keys(&[5, 1, b'a']).is_err(),
            "shares more than exists"
        );
        assert!(unpack_keys(&[0, 1, 0xff]).is_err(), "not UTF-8");
        assert!(unpack_keys(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).is_err());
    }
}
