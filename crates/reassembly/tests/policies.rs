//! Overlap policies and conflict reports on hand-built segments: one case per
//! row of the decision table for every policy, a Novak–Sturges style pile-up,
//! the 2^32 wrap, duplicates, a triple retransmission, a segment bridging two
//! stored ones, delivered (kept) bytes, undecided starts, and policies chosen
//! per receiving host.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reassembly::{
    AssemblerConfig, Conflict, ConflictReason, Dir, Overlap, OverlapPolicy, PolicyMap, Rel, Winner,
    EXCERPT_MAX,
};

const C2S: Dir = Dir::ClientToServer;
const S2C: Dir = Dir::ServerToClient;

/// The decision table written out again, independently of the code's: for each
/// shape (new start, new end relative to the stored segment), the winner under
/// each policy in `OverlapPolicy::ALL` order — first last bsd bsd-right linux
/// old-linux solaris old-solaris hpux10 hpux11 irix macos windows vista windows2k3.
const TABLE: [((Rel, Rel), &str); 9] = [
    ((Rel::Before, Rel::Before), "ONNNNNOONONNNON"),
    ((Rel::Before, Rel::Same), "ONNNNNNNNNNNNON"),
    ((Rel::Before, Rel::After), "ONNNNNNNNNNNNON"),
    ((Rel::Same, Rel::Before), "ONOOOOOOOOOOOOO"),
    ((Rel::Same, Rel::Same), "ONOOONNNONOOOOO"),
    ((Rel::Same, Rel::After), "ONOONNNNONOOOOO"),
    ((Rel::After, Rel::Before), "ONOOOOOOOOOOOOO"),
    ((Rel::After, Rel::Same), "ONOOOOOOOOOOOOO"),
    ((Rel::After, Rel::After), "ONOOOONNONOOOOO"),
];

fn expected_winner(policy: OverlapPolicy, start: Rel, end: Rel) -> Winner {
    let (_, row) = TABLE.iter().find(|(s, _)| *s == (start, end)).unwrap();
    let i = OverlapPolicy::ALL
        .iter()
        .position(|p| *p == policy)
        .unwrap();
    match row.as_bytes()[i] {
        b'O' => Winner::Old,
        b'N' => Winner::New,
        x => panic!("bad table letter {x}"),
    }
}

fn cfg(policy: OverlapPolicy) -> AssemblerConfig {
    AssemblerConfig {
        overlap_policy: policy,
        ..Default::default()
    }
}

/// Client data at stream offset `off` of a connection whose client ISN is `isn`.
fn at(isn: u32, off: u32, payload: &[u8]) -> Pkt {
    c(isn.wrapping_add(1).wrapping_add(off), 0, payload)
}

fn string(placed: &[Option<u8>]) -> String {
    placed.iter().map(|b| b.map_or('?', char::from)).collect()
}

/// A conflict's facts as a tuple: offset, len, old and new frames, old and new bytes.
type Facts = (u64, u64, u64, u64, Vec<u8>, Vec<u8>);

fn facts(c: &Conflict) -> Facts {
    (
        c.stream_offset,
        c.len,
        c.old_frame,
        c.new_frame,
        c.old_bytes.to_vec(),
        c.new_bytes.to_vec(),
    )
}

fn conflicts(r: &Record, dir: Dir) -> Vec<Conflict> {
    r.conflicts
        .iter()
        .filter(|(c, _)| c.dir == dir)
        .map(|(c, _)| *c)
        .collect()
}

/// Stored segment `o` at [10, 20) (frame 4), then new segment `n` at
/// [ns, ne) (frame 5), then the filler `f` before them (frame 6). Every shape,
/// every policy, at an ordinary ISN and across the 2^32 wrap.
#[test]
fn test_queued_overlap_every_shape_every_policy() {
    let starts = [(8u32, Rel::Before), (10, Rel::Same), (12, Rel::After)];
    let ends = [(18u32, Rel::Before), (20, Rel::Same), (22, Rel::After)];
    for isn in [1000u32, 0xFFFF_FFF0] {
        for &(ns, start) in &starts {
            for &(ne, end) in &ends {
                for &policy in OverlapPolicy::ALL {
                    let fill = ns.min(10);
                    let pkts = {
                        let mut p = handshake(isn, 7);
                        p.push(at(isn, 10, &[b'o'; 10]));
                        p.push(at(isn, ns, &vec![b'n'; (ne - ns) as usize]));
                        p.push(at(isn, 0, &vec![b'f'; fill as usize]));
                        p
                    };
                    let r = run_with(cfg(policy), &pkts);
                    let r = &r[0];
                    let winner = expected_winner(policy, start, end);
                    let (x, y) = (ns.max(10), ne.min(20));
                    let want: String = (0..ne.max(20))
                        .map(|p| {
                            let new = (ns..ne).contains(&p);
                            let old = (10..20).contains(&p);
                            match (p < fill, old, new) {
                                (true, _, _) => 'f',
                                (_, true, true) if winner == Winner::New => 'n',
                                (_, true, _) => 'o',
                                _ => 'n',
                            }
                        })
                        .collect();
                    let what = format!("{policy} ({start:?}, {end:?}) isn {isn:#x}");
                    assert_eq!(string(&r.placed(C2S)), want, "{what}");
                    let len = u64::from(y - x);
                    let got = conflicts(r, C2S);
                    assert_eq!(
                        got,
                        vec![Conflict {
                            dir: C2S,
                            stream_offset: u64::from(x),
                            len,
                            old_frame: 4,
                            new_frame: 5,
                            old_bytes: reassembly::Excerpt::new(&vec![b'o'; len as usize]),
                            new_bytes: reassembly::Excerpt::new(&vec![b'n'; len as usize]),
                            winner,
                            policy,
                            reason: ConflictReason::Policy(Overlap { start, end }),
                        }],
                        "{what}"
                    );
                    // Reported when it happened: before any delivery.
                    assert_eq!(r.conflicts[0].1, 0, "{what}");
                    let l = &r.completion.as_ref().unwrap().c2s;
                    assert_eq!((l.overlap_lost, l.conflicts), (len, 1), "{what}");
                    assert_eq!(l.duplicate, 0, "{what}");
                }
            }
        }
    }
}

/// Six segments in the manner of Novak & Sturges' overlap test (their figure
/// sends six overlapping segments numbered 1–6 and compares what each stack
/// reassembles). We could not consult the paper while writing this, so the
/// offsets are ours, chosen so that the six rules give six different streams;
/// the expected strings were worked out by hand, one overlap at a time, from the
/// rules in the `policy` module documentation.
///
/// ```text
/// offset  0 1 2 3 4 5 6 7 8 9 10 11 12
/// 1         1 1 1                           stored
/// 2                 2 2 2 2                 stored
/// 3                         3 3  3  3       stored
/// 4         4 4 4 4 4                       same start as 1, longer; starts before 2
/// 5                         5 5  5  5       same range as 3
/// 6                   6 6                   inside 2
/// Z       Z                                 fills the hole at 0
/// ```
#[test]
fn test_novak_style_six_segments() {
    let isn = 77;
    let segs: [(u32, &[u8]); 7] = [
        (1, b"111"),
        (5, b"2222"),
        (9, b"3333"),
        (1, b"44444"),
        (9, b"5555"),
        (6, b"66"),
        (0, b"Z"),
    ];
    let mut pkts = handshake(isn, 9);
    pkts.extend(segs.iter().map(|(o, b)| at(isn, *o, b)));
    use OverlapPolicy::*;
    let classes: [(&[OverlapPolicy], &str); 6] = [
        (&[First, Vista], "Z111422223333"),
        (&[Last], "Z444446625555"),
        (
            &[Bsd, BsdRight, Hpux10, Irix, Macos, Windows, Windows2k3],
            "Z111442223333",
        ),
        (&[Linux], "Z444442223333"),
        (&[OldLinux], "Z444442225555"),
        (&[Solaris, OldSolaris, Hpux11], "Z444422225555"),
    ];
    let mut seen = 0;
    for (policies, want) in classes {
        for &p in policies {
            seen += 1;
            let r = run_with(cfg(p), &pkts);
            let r = &r[0];
            assert_eq!(String::from_utf8(r.bytes(C2S)).unwrap(), want, "{p}");
            // 4 against 1 and 2, 5 against 3, 6 against (what is left of) 2.
            assert_eq!(conflicts(r, C2S).len(), 4, "{p}");
            assert!(r.total_skip(C2S) == 0);
        }
    }
    assert_eq!(seen, OverlapPolicy::ALL.len());
}

/// Suricata's `bsd-right` and `old-solaris` are names for `bsd` and `solaris`:
/// Suricata maps them before reassembly (`StreamTcpSetOSPolicy`), so its
/// overlap code never sees them. The shapes where that changes the stream
/// compared with keeping the stored bytes (`first`): a new segment that starts
/// before the stored one (bsd-right and old-solaris take the new bytes), and
/// one that starts with it and ends after it (old-solaris takes the new bytes,
/// bsd-right keeps the stored ones, as bsd does). Stored `o` at [10, 20),
/// then the new `n`, then the filler `f` from 0.
#[test]
fn test_suricata_aliases_decide_as_bsd_and_solaris() {
    use OverlapPolicy::*;
    // (new start, new end, the stream under each policy)
    type Case = (u32, u32, &'static [(OverlapPolicy, &'static str)]);
    let cases: [Case; 2] = [
        // Starts before, ends after: [8, 22).
        (
            8,
            22,
            &[
                (First, "ffffffffnnoooooooooonn"),
                (Bsd, "ffffffffnnnnnnnnnnnnnn"),
                (BsdRight, "ffffffffnnnnnnnnnnnnnn"),
                (Solaris, "ffffffffnnnnnnnnnnnnnn"),
                (OldSolaris, "ffffffffnnnnnnnnnnnnnn"),
            ],
        ),
        // Same start, ends after: [10, 22).
        (
            10,
            22,
            &[
                (First, "ffffffffffoooooooooonn"),
                (Bsd, "ffffffffffoooooooooonn"),
                (BsdRight, "ffffffffffoooooooooonn"),
                (Solaris, "ffffffffffnnnnnnnnnnnn"),
                (OldSolaris, "ffffffffffnnnnnnnnnnnn"),
            ],
        ),
    ];
    for isn in [3000u32, 0xFFFF_FFF8] {
        for (ns, ne, want) in cases {
            for &(policy, want) in want {
                let mut pkts = handshake(isn, 7);
                pkts.push(at(isn, 10, &[b'o'; 10]));
                pkts.push(at(isn, ns, &vec![b'n'; (ne - ns) as usize]));
                pkts.push(at(isn, 0, &vec![b'f'; ns as usize]));
                let r = run_with(cfg(policy), &pkts);
                let r = &r[0];
                let what = format!("{policy} new [{ns}, {ne}) isn {isn:#x}");
                assert_eq!(String::from_utf8(r.bytes(C2S)).unwrap(), want, "{what}");
                let got = conflicts(r, C2S);
                assert_eq!(got.len(), 1, "{what}");
                let new_won = want.as_bytes()[10] == b'n';
                assert_eq!(got[0].winner == Winner::New, new_won, "{what}");
                assert_eq!(got[0].policy, policy, "{what}");
            }
        }
    }
}

#[test]
fn test_exact_duplicates_are_not_conflicts() {
    for &policy in OverlapPolicy::ALL {
        let isn = 0xFFFF_FFFA;
        let mut pkts = handshake(isn, 3);
        pkts.push(at(isn, 4, b"efghij"));
        pkts.push(at(isn, 4, b"efghij"));
        pkts.push(at(isn, 2, b"cdefghijkl"));
        pkts.push(at(isn, 0, b"abcd"));
        pkts.push(at(isn, 0, b"abcdefgh"));
        let r = run_with(cfg(policy), &pkts);
        let r = &r[0];
        assert_eq!(r.bytes(C2S), b"abcdefghijkl", "{policy}");
        assert!(r.conflicts.is_empty(), "{policy}");
        let l = &r.completion.as_ref().unwrap().c2s;
        assert_eq!((l.conflicts, l.overlap_lost), (0, 0));
        assert_eq!(l.delivered, 12);
        assert_eq!(l.duplicate, 6 + 6 + 2 + 8);
    }
}

/// Three versions of the same queued range: the stored one stays, or each
/// newcomer replaces the last.
#[test]
fn test_triple_retransmission() {
    for &policy in OverlapPolicy::ALL {
        let isn = 40;
        let mut pkts = handshake(isn, 3);
        pkts.push(at(isn, 5, b"AAAA")); // frame 4
        pkts.push(at(isn, 5, b"BBBB")); // frame 5
        pkts.push(at(isn, 5, b"CCCC")); // frame 6
        pkts.push(at(isn, 0, b"01234")); // frame 7
        let r = run_with(cfg(policy), &pkts);
        let r = &r[0];
        let w = expected_winner(policy, Rel::Same, Rel::Same);
        let got = conflicts(r, C2S);
        let summary: Vec<(Facts, Winner)> = got.iter().map(|c| (facts(c), c.winner)).collect();
        match w {
            Winner::Old => {
                assert_eq!(r.bytes(C2S), b"01234AAAA", "{policy}");
                assert_eq!(
                    summary,
                    vec![
                        (
                            (5, 4, 4, 5, b"AAAA".to_vec(), b"BBBB".to_vec()),
                            Winner::Old
                        ),
                        (
                            (5, 4, 4, 6, b"AAAA".to_vec(), b"CCCC".to_vec()),
                            Winner::Old
                        ),
                    ],
                    "{policy}"
                );
            }
            Winner::New => {
                assert_eq!(r.bytes(C2S), b"01234CCCC", "{policy}");
                assert_eq!(
                    summary,
                    vec![
                        (
                            (5, 4, 4, 5, b"AAAA".to_vec(), b"BBBB".to_vec()),
                            Winner::New
                        ),
                        (
                            (5, 4, 5, 6, b"BBBB".to_vec(), b"CCCC".to_vec()),
                            Winner::New
                        ),
                    ],
                    "{policy}"
                );
            }
        }
        let l = &r.completion.as_ref().unwrap().c2s;
        assert_eq!((l.overlap_lost, l.conflicts, l.delivered), (8, 2, 9));
    }
}

/// A new segment fills the hole between two stored ones and overlaps the tail
/// of the first (after, after) and the head of the second (before, before).
#[test]
fn test_new_segment_bridges_two_stored() {
    for &policy in OverlapPolicy::ALL {
        let isn = 5;
        let mut pkts = handshake(isn, 3);
        pkts.push(at(isn, 10, b"aaaa")); // frame 4: [10, 14)
        pkts.push(at(isn, 18, b"bbbb")); // frame 5: [18, 22)
        pkts.push(at(isn, 12, b"nnnnnnnn")); // frame 6: [12, 20)
        pkts.push(at(isn, 0, b"0123456789")); // frame 7
        let r = run_with(cfg(policy), &pkts);
        let r = &r[0];
        let tail = expected_winner(policy, Rel::After, Rel::After);
        let head = expected_winner(policy, Rel::Before, Rel::Before);
        let pick = |w: Winner, old: &str| if w == Winner::New { "nn" } else { old }.to_string();
        let want = format!("0123456789aa{}nnnn{}bb", pick(tail, "aa"), pick(head, "bb"));
        assert_eq!(String::from_utf8(r.bytes(C2S)).unwrap(), want, "{policy}");
        let got: Vec<(u64, u64, u64, u64, Winner)> = conflicts(r, C2S)
            .iter()
            .map(|c| (c.stream_offset, c.len, c.old_frame, c.new_frame, c.winner))
            .collect();
        assert_eq!(
            got,
            vec![(12, 2, 4, 6, tail), (18, 2, 5, 6, head)],
            "{policy}"
        );
    }
}

/// Conflicts longer than the excerpt keep the full length and the first bytes.
#[test]
fn test_conflict_excerpts_are_capped() {
    let isn = 1;
    let old: Vec<u8> = (0..200u8).collect();
    let new: Vec<u8> = (0..200u8).map(|b| b ^ 0x80).collect();
    let mut pkts = handshake(isn, 3);
    pkts.push(at(isn, 100, &old));
    pkts.push(at(isn, 150, &new));
    pkts.push(at(isn, 0, &[b'.'; 100]));
    let r = run_with(cfg(OverlapPolicy::Last), &pkts);
    let r = &r[0];
    let got = conflicts(r, C2S);
    assert_eq!(got.len(), 1);
    let c = got[0];
    assert_eq!((c.stream_offset, c.len), (150, 150));
    assert_eq!(&c.old_bytes[..], &old[50..50 + EXCERPT_MAX]);
    assert_eq!(&c.new_bytes[..], &new[..EXCERPT_MAX]);
    assert_eq!(
        c.reason,
        ConflictReason::Policy(Overlap::of(150, 350, 100, 300))
    );
    let bytes = r.bytes(C2S);
    assert_eq!(&bytes[100..150], &old[..50]);
    assert_eq!(&bytes[150..350], &new[..]);
}

/// Bytes delivered and still kept (`keep_from`) are compared, one kept packet
/// at a time; they never change, so the delivered version wins.
#[test]
fn test_delivered_kept_bytes_conflict_per_packet() {
    for &policy in OverlapPolicy::ALL {
        let f = Factory {
            keep_plan: vec![Some(0); 8],
            ..Default::default()
        };
        let isn = 0;
        let mut pkts = handshake(isn, 9);
        pkts.push(at(isn, 0, b"abc")); // frame 4
        pkts.push(at(isn, 3, b"def")); // frame 5
        pkts.push(at(isn, 0, b"aXcdYf")); // frame 6: both halves differ
        pkts.push(at(isn, 1, b"bcdZ")); // frame 7: only the second half differs
        let r = run_factory(cfg(policy), f, &pkts);
        let r = &r[0];
        assert_eq!(r.bytes(C2S), b"abcdef");
        let got: Vec<Facts> = conflicts(r, C2S)
            .iter()
            .map(|c| {
                assert_eq!(
                    (c.winner, c.reason, c.policy),
                    (Winner::Old, ConflictReason::Delivered, policy)
                );
                facts(c)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 3, 4, 6, b"abc".to_vec(), b"aXc".to_vec()),
                (3, 3, 5, 6, b"def".to_vec(), b"dYf".to_vec()),
                (3, 2, 5, 7, b"de".to_vec(), b"dZ".to_vec()),
            ],
            "{policy}"
        );
        let l = &r.completion.as_ref().unwrap().c2s;
        assert_eq!((l.overlap_lost, l.duplicate, l.conflicts), (8, 2, 3));
    }
}

/// Without a handshake the stream start is undecided while segments are
/// queued: conflicts wait and get their offsets once the start is known.
#[test]
fn test_midstream_conflicts_wait_for_the_start() {
    let r = run(&[
        c(1010, 0, b"klmno"), // frame 1
        c(1012, 0, b"XYZ"),   // frame 2
        c(1000, 0, b"abcdefghij"),
    ]);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"abcdefghijklmno");
    let got = conflicts(r, C2S);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (
            got[0].stream_offset,
            got[0].len,
            got[0].old_frame,
            got[0].new_frame
        ),
        (2 + 10, 3, 1, 2)
    );
    assert_eq!(r.conflicts[0].1, 0, "reported before the first delivery");
}

/// A SYN seen after conflicting data re-homes the waiting conflicts.
#[test]
fn test_late_syn_rehomes_waiting_conflicts() {
    let r = run(&[
        c(1011, 0, b"klm"), // frame 1
        c(1011, 0, b"KLM"), // frame 2
        c(1000, SYN, b""),
        c(1001, 0, b"abcdefghij"),
    ]);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"abcdefghijklm");
    let got = conflicts(r, C2S);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].stream_offset, got[0].len), (10, 3));
}

/// Many conflicts while the start is undecided decide it (like a memory cap),
/// so the waiting list stays bounded; none is lost.
#[test]
fn test_midstream_conflict_backlog_decides_the_start() {
    let mut pkts = vec![c(5000, 0, &[0u8; 10])];
    for k in 1..=100u8 {
        pkts.push(c(5000, 0, &[k; 10]));
    }
    let cfg = AssemblerConfig {
        midstream_window: 1_000_000,
        ..Default::default()
    };
    let r = run_with(cfg, &pkts);
    let r = &r[0];
    let l = &r.completion.as_ref().unwrap().c2s;
    // The backlog decided the start and delivered the bytes; retransmissions
    // after that meet delivered bytes that were not kept: duplicates.
    assert_eq!(l.cap_flushes, 1);
    assert!(l.conflicts > 8 && l.conflicts < 100, "{}", l.conflicts);
    assert_eq!(l.overlap_lost, 10 * l.conflicts);
    assert_eq!(l.duplicate, 10 * (100 - l.conflicts));
    assert!(conflicts(r, C2S)
        .iter()
        .all(|c| c.stream_offset == 0 && c.len == 10 && c.old_frame == 1));
    assert_eq!(r.bytes(C2S), vec![0u8; 10]);
}

/// When taking the new bytes out of the middle of a stored segment needs a
/// page the caps do not allow, the old bytes stay and the report says why.
#[test]
fn test_memory_cap_keeps_old_bytes_and_says_so() {
    let cfg = AssemblerConfig {
        overlap_policy: OverlapPolicy::Last,
        page_size: 64,
        max_pages_total: 2,
        ..Default::default()
    };
    let isn = 0;
    let mut pkts = handshake(isn, 9);
    pkts.push(at(isn, 10, &[b'o'; 100])); // two pages: the cache is full
    pkts.push(at(isn, 50, &[b'n'; 10])); // inside: needs a split
    let r = run_with(cfg, &pkts);
    let r = &r[0];
    let got = conflicts(r, C2S);
    assert_eq!(got.len(), 1);
    let shape = Overlap {
        start: Rel::After,
        end: Rel::Before,
    };
    assert_eq!(
        (got[0].winner, got[0].reason),
        (Winner::Old, ConflictReason::MemoryCap(shape))
    );
    let placed = r.placed(C2S);
    assert!(placed[10..110].iter().all(|b| *b == Some(b'o')));
}

/// Each direction takes the policy of its receiver: the server's for client
/// data, the client's for server data.
#[test]
fn test_policy_map_by_receiving_host() {
    let map = PolicyMap::parse("10.0.0.2/32 last\n10.0.0.0/8 linux\n10.0.0.1 first\n").unwrap();
    let cfg = AssemblerConfig {
        overlap_policy: OverlapPolicy::Bsd,
        policy_map: map,
        ..Default::default()
    };
    let mut pkts = handshake(100, 500);
    pkts.push(c(105, 0, b"old")); // client data, queued
    pkts.push(c(105, 0, b"new"));
    pkts.push(s(505, 0, b"old")); // server data, queued
    pkts.push(s(505, 0, b"new"));
    pkts.push(c(101, 0, b"1234"));
    pkts.push(s(501, 0, b"1234"));
    let r = run_with(cfg, &pkts);
    let r = &r[0];
    let info = r.info.unwrap();
    assert_eq!(info.policies, [OverlapPolicy::Last, OverlapPolicy::First]);
    assert_eq!(info.policy(C2S), OverlapPolicy::Last);
    assert_eq!(r.bytes(C2S), b"1234new");
    assert_eq!(r.bytes(S2C), b"1234old");
    assert_eq!(conflicts(r, C2S)[0].policy, OverlapPolicy::Last);
    assert_eq!(conflicts(r, S2C)[0].policy, OverlapPolicy::First);
}

#[test]
fn test_policy_map_default_when_no_rule_matches() {
    let cfg = AssemblerConfig {
        overlap_policy: OverlapPolicy::Solaris,
        policy_map: PolicyMap::parse("192.0.2.0/24 last\n2001:db8::/32 last").unwrap(),
        ..Default::default()
    };
    let r = run_with(cfg, &handshake(1, 2));
    let info = r[0].info.unwrap();
    assert_eq!(info.policies, [OverlapPolicy::Solaris; 2]);
}
