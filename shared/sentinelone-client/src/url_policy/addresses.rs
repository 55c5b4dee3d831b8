//! Which addresses a console may resolve to: public unicast only (SaaS and allow-listed consoles), or loopback
//! only (the local simulator in dev mode), with the class of every refused address named.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::UrlPolicyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddressRule {
    PublicOnly,
    LoopbackOnly,
}

impl AddressRule {
    pub(super) fn check(self, host: &str, ip: IpAddr) -> Result<(), UrlPolicyError> {
        let refused = match self {
            AddressRule::PublicOnly => non_public_class(ip),
            AddressRule::LoopbackOnly => {
                (!is_loopback(ip)).then_some("non-loopback (dev mode allows only loopback)")
            }
        };
        match refused {
            Some(class) => Err(UrlPolicyError::AddressRefused {
                host: host.to_string(),
                ip,
                class,
            }),
            None => Ok(()),
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Names the class of a non-public address, or `None` when the address is an ordinary public unicast address.
pub fn non_public_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    const METADATA: [[u8; 4]; 4] = [
        [169, 254, 169, 254], // AWS, GCP, Azure instance metadata
        [169, 254, 170, 2],   // ECS task metadata
        [100, 100, 100, 200], // Alibaba Cloud metadata
        [192, 0, 0, 192],     // Oracle Cloud metadata
    ];
    if METADATA.iter().any(|m| ip.octets() == *m) {
        return Some("cloud metadata");
    }
    let table: [([u8; 4], u32, &'static str); 16] = [
        ([0, 0, 0, 0], 8, "unspecified (\"this network\")"),
        ([10, 0, 0, 0], 8, "private"),
        ([100, 64, 0, 0], 10, "carrier-grade NAT (shared)"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 0, 0, 0], 24, "IETF protocol assignment"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "6to4 relay"),
        ([192, 168, 0, 0], 16, "private"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([255, 255, 255, 255], 32, "broadcast"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    table
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, class)| *class)
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(ip) & mask) == (u128::from(net) & mask)
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some("cloud metadata");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // Forms that embed an IPv4 address are judged by that address: mapped (::ffff:a.b.c.d), the deprecated
    // compatible form (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002:a.b.c.d::/48).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_class(v4).map(|_| "IPv4-mapped non-public");
    }
    if bits >> 32 == 0 {
        return Some("IPv4-compatible (deprecated)");
    }
    if in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        let v4 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
        return v4_class(v4).map(|_| "NAT64-embedded non-public");
    }
    if in_v6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        let v4 = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        return v4_class(v4).map(|_| "6to4-embedded non-public");
    }
    let table: [(Ipv6Addr, u32, &'static str); 9] = [
        (
            Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
            48,
            "local-use NAT64",
        ),
        (
            Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
            64,
            "discard-only",
        ),
        (
            Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
            7,
            "unique local (private)",
        ),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
        (
            Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
            10,
            "site-local (deprecated)",
        ),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
            "documentation",
        ),
        (
            Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
            20,
            "documentation",
        ),
        // Teredo, benchmarking, ORCHID and other IETF special-purpose blocks.
        (
            Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
            23,
            "IETF special-purpose",
        ),
    ];
    if let Some((_, _, class)) = table
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
    {
        return Some(class);
    }
    // Only 2000::/3 is allocated as global unicast; anything else outside the cases above is not a console.
    if !in_v6(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
        return Some("reserved");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_v4_forms_are_judged_by_their_v4() {
        let public_mapped: IpAddr = "::ffff:8.8.8.8".parse().unwrap();
        assert_eq!(non_public_class(public_mapped), None);
        let nat64_public: IpAddr = "64:ff9b::808:808".parse().unwrap();
        assert_eq!(non_public_class(nat64_public), None);
        let nat64_metadata: IpAddr = "64:ff9b::a9fe:a9fe".parse().unwrap();
        assert!(non_public_class(nat64_metadata).is_some());
        let sixtofour_private: IpAddr = "2002:0a00:0005::1".parse().unwrap();
        assert!(non_public_class(sixtofour_private).is_some());
        let global: IpAddr = "2606:4700::1111".parse().unwrap();
        assert_eq!(non_public_class(global), None);
    }
}
