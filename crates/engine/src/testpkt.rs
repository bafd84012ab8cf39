//! Packet builders for unit tests: raw IPv4 (link type 228) carrying UDP,
//! whole or as fragments.

/// A raw IPv4 packet from 10.0.0.`host` to 10.0.1.1 carrying `l4` (proto 17)
/// as the fragment of datagram `id` at byte `offset` of its payload.
pub fn ipv4(id: u16, offset: usize, more: bool, l4: &[u8], host: u8) -> Vec<u8> {
    let len = (20 + l4.len()) as u16;
    let frag = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, 17, 0, 0, 10, 0, 0, host, 10, 0, 1, 1]);
    p.extend_from_slice(l4);
    p
}

/// A UDP header and payload from port `sport` to 53.
pub fn udp(sport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&53u16.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}
