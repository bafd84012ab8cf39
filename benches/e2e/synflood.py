#!/usr/bin/env python3
"""Write a classic pcap of N TCP SYN packets from one scanner to N distinct
addresses (10.0.0.0/8 and up, port 80), 10 µs apart: the SYN-scan / SYN-flood
case of the memory targets, where every packet opens a half-open connection
that never completes.

    python3 benches/e2e/synflood.py --packets 1000000 --out syn.pcap [--expected syn.json]

--expected writes the packet count as the harness reads it from capgen's
answers (`{"totals": {"packets": N}}`).
"""

import argparse
import json
import struct


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def packet(i):
    src = bytes([192, 0, 2, 1])
    dst = struct.pack("!I", (10 << 24) + i + 1)
    sport = 40000 + i % 20000
    tcp = struct.pack("!HHIIBBHHH", sport, 80, 1_000_000 + i, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = bytes.fromhex("020000000002" "020000000001") + b"\x08\x00"
    return eth + ip + tcp


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--expected")
    args = ap.parse_args()
    if args.expected:
        with open(args.expected, "w") as f:
            json.dump({"totals": {"packets": args.packets}}, f)
    with open(args.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        t0 = 1_700_000_000 * 1_000_000
        for i in range(args.packets):
            p = packet(i)
            t = t0 + i * 10
            f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(p), len(p)))
            f.write(p)


if __name__ == "__main__":
    main()
