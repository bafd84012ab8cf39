//! The packet sequence of a UDP flow (RFC 768): datagrams of up to one MSS,
//! the client's first. A UDP stream is its datagrams' payloads in arrival
//! order, so these flows get no reordering, resends or ending.

use rand::RngExt;

use crate::config::DataOrder;
use crate::flow::{Flow, Phase};
use crate::frame::{Direction, Emit, L4};

impl Flow {
    /// The next datagram of a UDP flow, or `None` when it is over.
    pub(crate) fn udp_step(&mut self, buf: &mut Vec<u8>) -> Option<Emit> {
        let (c_new, s_new) = (self.c2s.has_new(), self.s2c.has_new());
        let first = self.c2s.next_new == 0;
        let dir = match (c_new, s_new) {
            (false, false) => {
                self.phase = Phase::Done;
                return None;
            }
            (true, false) => Direction::C2s,
            (false, true) => Direction::S2c,
            (true, true) => match self.order {
                DataOrder::RequestResponse => Direction::C2s,
                DataOrder::Interleaved if first => Direction::C2s,
                DataOrder::Interleaved => {
                    if self.rng.random_bool(0.5) {
                        Direction::C2s
                    } else {
                        Direction::S2c
                    }
                }
            },
        };
        let mss = u64::from(self.mss);
        let st = self.dir(dir);
        // at most the MSS, so it fits usize
        let len = (st.len - st.next_new).min(mss) as usize;
        st.produce(len, buf);
        let ip_id = st.count_packet(len);
        Some(Emit {
            dir,
            l4: L4::Udp,
            payload_len: len,
            ip_id,
        })
    }
}
