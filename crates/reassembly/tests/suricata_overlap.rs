//! The suricata-verify overlap captures (testdata/corpus/suricata-verify/
//! eve-overlap-payload-*), decoded with pcapread and reassembled under every
//! policy, against the stream contents their `test.yaml` expect.
//!
//! The captures (client 1.1.1.1:12345, server 2.2.2.2:8080):
//! - `-01/tcp-overlap.pcap`: handshake, then "GOOD" at seq 2 (frame 5) and "EVIL"
//!   at seq 2 (frame 6), then the server's ACK of both (frame 7). Suricata's
//!   default policy (bsd) gives the stream "GOOD" (`-01/test.yaml`); with the
//!   server mapped to old-linux it gives "EVIL" (`-02-policy-oldlinux`, same pcap).
//! - `-04/tcp-overlap2.pcap`: "GOOD" at seq 2 (frame 5), then "XXX" at seq 3
//!   (frame 6). Suricata's default gives "GOOD".
//!   (There is no `-03` in the corpus.)
//!
//! Suricata holds segments until they are acknowledged and applies the policy
//! to everything it holds; the ACK here comes after both versions, so the
//! policy decides. This assembler delivers in-order bytes at once: "GOOD" is
//! delivered when it arrives and the second version meets delivered bytes,
//! which never change — the stream is "GOOD" under every policy and, for a
//! stream that keeps its bytes, the second version is reported as a conflict the
//! delivered version wins. When the data is held — here by starting the capture
//! after the handshake, so the start is undecided while both versions arrive —
//! the policy decides, and the outcome is Suricata's under the same policy.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Factory, Record};
use pcapread::{CaptureReader, Decoder, DecoderConfig, Frame};
use reassembly::{
    Assembler, AssemblerConfig, ConflictReason, Dir, OverlapPolicy, PolicyMap, Rel, Winner,
};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/corpus/suricata-verify"
);
const C2S: Dir = Dir::ClientToServer;

/// Reassemble a capture with frames `swap.0` and `swap.1` exchanged, skipping
/// frames numbered in `skip` (a copy of each frame is taken first).
fn reassemble_swapped(
    pcap: &str,
    cfg: AssemblerConfig,
    skip: &[u64],
    swap: (u64, u64),
) -> Vec<Record> {
    let mut reader = CaptureReader::open(format!("{DIR}/{pcap}")).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = reader.next_frame().unwrap() {
        frames.push((
            f.number,
            f.input,
            f.file_offset,
            f.ts,
            f.origlen,
            f.link_type,
            f.data.to_vec(),
        ));
    }
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut asm = Assembler::new(cfg, Factory::default());
    let order = frames
        .iter()
        .map(|f| f.0)
        .filter(|n| !skip.contains(n))
        .map(|n| {
            if n == swap.0 {
                swap.1
            } else if n == swap.1 {
                swap.0
            } else {
                n
            }
        });
    for n in order {
        let (number, input, file_offset, ts, origlen, link_type, data) =
            frames.iter().find(|f| f.0 == n).unwrap();
        let frame = Frame {
            number: *number,
            input: *input,
            file_offset: *file_offset,
            ts: *ts,
            caplen: data.len() as u32,
            origlen: *origlen,
            link_type: *link_type,
            data,
        };
        let seg = dec.decode(&frame).unwrap();
        asm.assemble(&seg);
    }
    asm.flush_all();
    assert_eq!(asm.pages_in_use(), 0);
    asm.into_factory().streams
}

/// Reassemble a capture, skipping frames numbered in `skip`.
fn reassemble(pcap: &str, cfg: AssemblerConfig, factory: Factory, skip: &[u64]) -> Vec<Record> {
    let mut reader = CaptureReader::open(format!("{DIR}/{pcap}")).unwrap();
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut asm = Assembler::new(cfg, factory);
    while let Some(frame) = reader.next_frame().unwrap() {
        if skip.contains(&frame.number) {
            continue;
        }
        let seg = dec.decode(&frame).unwrap();
        asm.assemble(&seg);
    }
    asm.flush_all();
    assert_eq!(asm.pages_in_use(), 0);
    let streams = asm.into_factory().streams;
    for r in &streams {
        let c = r.completion.as_ref().unwrap();
        assert!(c.c2s.balanced() && c.s2c.balanced());
        assert_eq!(c.c2s.conflicts as usize, r.conflicts.len());
    }
    streams
}

/// The stream content a suricata-verify test expects: the `payload_printable`
/// of the check that matches one alert from the reassembled stream
/// (`pkt_src: "stream (flow timeout)"`, `count: 1`).
fn expected_stream(test: &str) -> String {
    let yaml = std::fs::read_to_string(format!("{DIR}/{test}/test.yaml")).unwrap();
    let mut found = Vec::new();
    for check in yaml.split("- filter:").skip(1) {
        if check.contains("count: 1") && check.contains("pkt_src: \"stream (flow timeout)\"") {
            let line = check
                .lines()
                .find_map(|l| l.trim().strip_prefix("payload_printable: "))
                .unwrap();
            found.push(line.trim_matches('"').to_string());
        }
    }
    assert_eq!(found.len(), 1, "{test}: one stream check");
    found.remove(0)
}

/// A suricata.yaml `host-os-policy:` section (`name: [addr, ...]` lines) as
/// policy-map text; an empty text when there is none.
fn host_os_policy(test: &str) -> String {
    let yaml = std::fs::read_to_string(format!("{DIR}/{test}/suricata.yaml")).unwrap();
    let mut out = String::new();
    let mut inside = false;
    for line in yaml.lines() {
        if line.starts_with("host-os-policy:") {
            inside = true;
            continue;
        }
        if inside && !line.starts_with(' ') && !line.trim().is_empty() {
            break;
        }
        let Some((name, list)) = line.trim().split_once(':') else {
            continue;
        };
        if !inside {
            continue;
        }
        let list = list.trim().trim_start_matches('[').trim_end_matches(']');
        for addr in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            out.push_str(&format!("{addr} {name}\n"));
        }
    }
    out
}

fn cfg(policy: OverlapPolicy) -> AssemblerConfig {
    AssemblerConfig {
        overlap_policy: policy,
        ..Default::default()
    }
}

fn keeping() -> Factory {
    Factory {
        keep_plan: vec![Some(0); 16],
        ..Default::default()
    }
}

/// The handshake and the two empty ACKs before the data.
const HANDSHAKE: &[u64] = &[1, 2, 3, 4];

#[test]
fn eve_overlap_payload_01_delivered_first_version_stays() {
    assert_eq!(expected_stream("eve-overlap-payload-01"), "GOOD");
    for &policy in OverlapPolicy::ALL {
        let r = reassemble(
            "eve-overlap-payload-01/tcp-overlap.pcap",
            cfg(policy),
            keeping(),
            &[],
        );
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!(r.bytes(C2S), b"GOOD", "{policy}");
        assert_eq!(r.conflicts.len(), 1, "{policy}");
        let c = r.conflicts[0].0;
        assert_eq!(
            (c.dir, c.stream_offset, c.len, c.old_frame, c.new_frame),
            (C2S, 0, 4, 5, 6)
        );
        assert_eq!(
            (&c.old_bytes[..], &c.new_bytes[..]),
            (&b"GOOD"[..], &b"EVIL"[..])
        );
        assert_eq!(
            (c.winner, c.reason),
            (Winner::Old, ConflictReason::Delivered)
        );
        assert_eq!(r.completion.as_ref().unwrap().c2s.overlap_lost, 4);
    }
    // A stream that keeps nothing cannot compare: the retransmission is a duplicate.
    let r = reassemble(
        "eve-overlap-payload-01/tcp-overlap.pcap",
        cfg(OverlapPolicy::Last),
        Factory::default(),
        &[],
    );
    let r = &r[0];
    assert!(r.conflicts.is_empty());
    assert_eq!(r.completion.as_ref().unwrap().c2s.duplicate, 4);
}

#[test]
fn eve_overlap_payload_01_held_data_follows_policy() {
    // Suricata's default host OS policy is bsd.
    let suricata = expected_stream("eve-overlap-payload-01");
    for &policy in OverlapPolicy::ALL {
        let r = reassemble(
            "eve-overlap-payload-01/tcp-overlap.pcap",
            cfg(policy),
            Factory::default(),
            HANDSHAKE,
        );
        let r = &r[0];
        // (same, same): old-solaris decides as solaris, the name Suricata maps it to.
        let new_wins = matches!(
            policy,
            OverlapPolicy::Last
                | OverlapPolicy::OldLinux
                | OverlapPolicy::Solaris
                | OverlapPolicy::OldSolaris
                | OverlapPolicy::Hpux11
        );
        let want: &[u8] = if new_wins { b"EVIL" } else { b"GOOD" };
        assert_eq!(r.bytes(C2S), want, "{policy}");
        if policy == OverlapPolicy::Bsd {
            assert_eq!(r.bytes(C2S), suricata.as_bytes());
        }
        let c = r.conflicts[0].0;
        assert_eq!(
            (c.stream_offset, c.len, c.old_frame, c.new_frame),
            (0, 4, 5, 6)
        );
        assert_eq!(c.winner == Winner::New, new_wins);
        assert!(matches!(c.reason, ConflictReason::Policy(_)));
    }
}

#[test]
fn eve_overlap_payload_02_old_linux_by_host_os_policy() {
    let test = "eve-overlap-payload-02-policy-oldlinux";
    let map_text = host_os_policy(test);
    assert_eq!(map_text, "0.0.0.0/0 windows\n2.2.2.2 old-linux\n");
    let map = PolicyMap::parse(&map_text).unwrap();
    let cfg = AssemblerConfig {
        policy_map: map,
        ..Default::default()
    };
    // Same pcap as -01 (PCAP-IS-IN-eve-overlap-payload-01.txt).
    let pcap = "eve-overlap-payload-01/tcp-overlap.pcap";
    // Held: the server's policy (old-linux) lets the second version win, as
    // Suricata expects.
    let r = reassemble(pcap, cfg.clone(), Factory::default(), HANDSHAKE);
    let r = &r[0];
    let info = r.info.unwrap();
    assert_eq!(
        info.policies,
        [OverlapPolicy::OldLinux, OverlapPolicy::Windows]
    );
    assert_eq!(
        String::from_utf8(r.bytes(C2S)).unwrap(),
        expected_stream(test)
    );
    assert_eq!(r.conflicts[0].0.policy, OverlapPolicy::OldLinux);
    // Whole capture: "GOOD" was delivered before "EVIL" arrived.
    let r = reassemble(pcap, cfg, keeping(), &[]);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"GOOD");
    let c = r.conflicts[0].0;
    assert_eq!(
        (c.policy, c.winner, c.reason),
        (
            OverlapPolicy::OldLinux,
            Winner::Old,
            ConflictReason::Delivered
        )
    );
}

#[test]
fn eve_overlap_payload_04_partial_overlap() {
    let test = "eve-overlap-payload-04-partial-overlap";
    let pcap = "eve-overlap-payload-04-partial-overlap/tcp-overlap2.pcap";
    let suricata = expected_stream(test);
    assert_eq!(suricata, "GOOD");
    for &policy in OverlapPolicy::ALL {
        // Held: "XXX" starts after "GOOD" and ends with it (after, same).
        let r = reassemble(pcap, cfg(policy), Factory::default(), HANDSHAKE);
        let r = &r[0];
        // Only `last` takes the new bytes for (after, same): Suricata's
        // solaris/hpux11 branch needs the new segment to end beyond the stored one.
        let new_wins = policy == OverlapPolicy::Last;
        let want: &[u8] = if new_wins { b"GXXX" } else { b"GOOD" };
        assert_eq!(r.bytes(C2S), want, "{policy}");
        if policy == OverlapPolicy::Bsd {
            assert_eq!(r.bytes(C2S), suricata.as_bytes());
        }
        let c = r.conflicts[0].0;
        assert_eq!(
            (c.stream_offset, c.len, c.old_frame, c.new_frame),
            (1, 3, 5, 6)
        );
        assert_eq!(
            (&c.old_bytes[..], &c.new_bytes[..]),
            (&b"OOD"[..], &b"XXX"[..])
        );
        // Whole capture: delivered first, so "GOOD" under every policy.
        let r = reassemble(pcap, cfg(policy), keeping(), &[]);
        let r = &r[0];
        assert_eq!(r.bytes(C2S), b"GOOD", "{policy}");
        let c = r.conflicts[0].0;
        assert_eq!(
            (c.stream_offset, c.len, c.winner, c.reason),
            (1, 3, Winner::Old, ConflictReason::Delivered)
        );
    }
}

/// The `-04` capture with its two data packets swapped: "XXX" (seq 3, frame 6)
/// is held first, then "GOOD" (seq 2, frame 5) starts before it and ends with
/// it (before, same). Every policy except `first` and `vista` (which keep the
/// stored bytes) takes the new bytes here; Suricata's `bsd-right` and
/// `old-solaris` are its names for `bsd` and `solaris` (it maps them before
/// reassembly), so they take them too.
#[test]
fn eve_overlap_payload_04_swapped_new_segment_starts_before() {
    let pcap = "eve-overlap-payload-04-partial-overlap/tcp-overlap2.pcap";
    for &policy in OverlapPolicy::ALL {
        let r = reassemble_swapped(pcap, cfg(policy), HANDSHAKE, (5, 6));
        assert_eq!(r.len(), 1, "{policy}");
        let r = &r[0];
        let old_wins = matches!(policy, OverlapPolicy::First | OverlapPolicy::Vista);
        let want: &[u8] = if old_wins { b"GXXX" } else { b"GOOD" };
        assert_eq!(r.bytes(C2S), want, "{policy}");
        assert_eq!(r.conflicts.len(), 1, "{policy}");
        let c = r.conflicts[0].0;
        assert_eq!(
            (c.stream_offset, c.len, c.old_frame, c.new_frame),
            (1, 3, 6, 5),
            "{policy}"
        );
        assert_eq!(
            (&c.old_bytes[..], &c.new_bytes[..]),
            (&b"XXX"[..], &b"OOD"[..])
        );
        assert_eq!(c.winner == Winner::Old, old_wins, "{policy}");
        assert_eq!(
            c.reason.shape().map(|s| (s.start, s.end)),
            Some((Rel::Before, Rel::Same)),
            "{policy}"
        );
    }
}
