//! [`Recency`]: the connection table's order of last activity, as an
//! intrusive doubly linked list over slot indices, so that finding the least
//! recently active connection (to evict it when the table is full) and
//! marking a connection active are O(1).
//!
//! Invariant: the list holds each slot in use exactly once, least recently
//! touched first; `links[i]` is slot `i`'s neighbours while it is listed
//! (meaningless otherwise), [`NIL`] at the ends.
//!
//! The order is the order of the calls to [`Recency::touch`], that is the
//! order in which packets arrived, not their timestamps: in a capture whose
//! timestamps go backwards now and then, the connection evicted is the one
//! whose last packet came earliest in the capture, which is also the one
//! with the oldest packet time whenever time only moves forwards.

/// The end of the list.
const NIL: u32 = u32::MAX;

/// Slots that can be listed: indices below [`NIL`].
pub(crate) const MAX_SLOTS: usize = NIL as usize;

#[derive(Debug, Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
}

/// Slots in order of last activity (see the module docs).
#[derive(Debug)]
pub(crate) struct Recency {
    links: Vec<Link>,
    head: u32,
    tail: u32,
}

impl Default for Recency {
    fn default() -> Self {
        Recency {
            links: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }
}

impl Recency {
    /// The least recently touched slot.
    pub(crate) fn oldest(&self) -> Option<usize> {
        (self.head != NIL).then_some(self.head as usize)
    }

    /// List slot `i` (not listed yet) as the most recently touched.
    /// Slots at or past [`MAX_SLOTS`] are not listed (the table never has that many).
    pub(crate) fn push(&mut self, i: usize) {
        let Ok(id) = u32::try_from(i) else { return };
        if id == NIL {
            return;
        }
        if self.links.len() <= i {
            self.links.resize(
                i + 1,
                Link {
                    prev: NIL,
                    next: NIL,
                },
            );
        }
        self.links[i] = Link {
            prev: self.tail,
            next: NIL,
        };
        match self.tail {
            NIL => self.head = id,
            t => self.links[t as usize].next = id,
        }
        self.tail = id;
    }

    /// The most recently touched slot.
    pub(crate) fn newest(&self) -> Option<usize> {
        (self.tail != NIL).then_some(self.tail as usize)
    }

    /// The slot touched right after slot `i` (listed), if any.
    pub(crate) fn next(&self, i: usize) -> Option<usize> {
        let next = self.links.get(i)?.next;
        (next != NIL).then_some(next as usize)
    }

    /// Take slot `i` (listed) off the list.
    pub(crate) fn remove(&mut self, i: usize) {
        let Some(&Link { prev, next }) = self.links.get(i) else {
            return;
        };
        match prev {
            NIL => self.head = next,
            p => self.links[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.links[n as usize].prev = prev,
        }
    }

    /// Slot `i` (listed) was active: it becomes the most recently touched.
    /// The common case, the same connection as last time, costs one
    /// comparison; otherwise five links are rewritten.
    #[inline]
    pub(crate) fn touch(&mut self, i: usize) {
        let tail = self.tail;
        if tail as usize == i {
            return;
        }
        let Some(&Link { prev, next }) = self.links.get(i) else {
            return;
        };
        // Not the tail, so `next` is a listed slot.
        match prev {
            NIL => self.head = next,
            p => {
                if let Some(l) = self.links.get_mut(p as usize) {
                    l.next = next;
                }
            }
        }
        if let Some(l) = self.links.get_mut(next as usize) {
            l.prev = prev;
        }
        if let Some(l) = self.links.get_mut(tail as usize) {
            l.next = i as u32; // `i` < NIL: it was listed.
        }
        if let Some(l) = self.links.get_mut(i) {
            *l = Link {
                prev: tail,
                next: NIL,
            };
        }
        self.tail = i as u32;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    /// The list from oldest to newest, walked both ways (they must agree).
    fn walk(r: &Recency) -> Vec<usize> {
        let mut fwd = Vec::new();
        let mut at = r.head;
        while at != NIL {
            fwd.push(at as usize);
            at = r.links[at as usize].next;
        }
        let mut back = Vec::new();
        let mut at = r.tail;
        while at != NIL {
            back.push(at as usize);
            at = r.links[at as usize].prev;
        }
        back.reverse();
        assert_eq!(fwd, back, "links disagree");
        fwd
    }

    #[test]
    fn touch_moves_to_the_end() {
        let mut r = Recency::default();
        assert_eq!(r.oldest(), None);
        for i in 0..4 {
            r.push(i);
        }
        r.touch(0);
        r.touch(2);
        r.touch(2);
        assert_eq!(walk(&r), [1, 3, 0, 2]);
        assert_eq!(r.oldest(), Some(1));
        r.remove(1);
        r.remove(2);
        assert_eq!(walk(&r), [3, 0]);
        r.remove(3);
        r.remove(0);
        assert_eq!(r.oldest(), None);
        assert_eq!(walk(&r), Vec::<usize>::new());
        r.push(5);
        assert_eq!(walk(&r), [5]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add,
        Touch(usize),
        Remove(usize),
        EvictOldest,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            2 => Just(Op::Add),
            4 => (0usize..64).prop_map(Op::Touch),
            1 => (0usize..64).prop_map(Op::Remove),
            1 => Just(Op::EvictOldest),
        ]
    }

    proptest! {
        /// Against a naive model: a vector of listed slots, oldest first, with
        /// slots reused lowest free first (as a table would reuse them).
        #[test]
        fn matches_a_naive_list(ops in proptest::collection::vec(op(), 0..300)) {
            let mut r = Recency::default();
            let mut model: Vec<usize> = Vec::new();
            let mut free: Vec<usize> = Vec::new();
            let mut next_slot = 0usize;
            for op in ops {
                match op {
                    Op::Add => {
                        free.sort_unstable_by(|a, b| b.cmp(a));
                        let i = free.pop().unwrap_or_else(|| {
                            next_slot += 1;
                            next_slot - 1
                        });
                        r.push(i);
                        model.push(i);
                    }
                    Op::Touch(k) if !model.is_empty() => {
                        let i = model[k % model.len()];
                        r.touch(i);
                        model.retain(|&x| x != i);
                        model.push(i);
                    }
                    Op::Remove(k) if !model.is_empty() => {
                        let i = model[k % model.len()];
                        r.remove(i);
                        model.retain(|&x| x != i);
                        free.push(i);
                    }
                    Op::EvictOldest => {
                        prop_assert_eq!(r.oldest(), model.first().copied());
                        if let Some(i) = r.oldest() {
                            r.remove(i);
                            model.remove(0);
                            free.push(i);
                        }
                    }
                    _ => {}
                }
                prop_assert_eq!(walk(&r), model.clone());
                prop_assert_eq!(r.oldest(), model.first().copied());
            }
        }
    }
}
