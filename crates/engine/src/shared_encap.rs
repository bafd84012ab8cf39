//! The encapsulation paths of one worker's flows, shared: each flow's
//! [`FlowHead`](crate::FlowHead) holds its first packet's [`EncapPath`]
//! (132 bytes) behind an [`Arc`], and the flows of a capture come through a
//! few paths, so a worker hands out one `Arc` per distinct path instead of a
//! copy per flow.

use std::collections::HashMap;
use std::sync::Arc;

use pcapread::EncapPath;

/// Distinct paths remembered at most; past that, paths no flow holds any
/// more are forgotten, and if every one is still held a new path gets an
/// `Arc` of its own (correct, just not shared).
const MAX_PATHS: usize = 256;

/// One worker's shared paths.
#[derive(Debug, Default)]
pub(crate) struct SharedEncaps {
    paths: HashMap<EncapPath, Arc<EncapPath>>,
    /// The path handed out last: most flows come the same way, and
    /// comparing is cheaper than hashing.
    last: Option<Arc<EncapPath>>,
    /// The empty path, a flow's until its first packet is seen.
    empty: Arc<EncapPath>,
}

impl SharedEncaps {
    /// The shared `Arc` of `path`.
    pub(crate) fn get(&mut self, path: &EncapPath) -> Arc<EncapPath> {
        if let Some(last) = &self.last {
            if **last == *path {
                return Arc::clone(last);
            }
        }
        let shared = match self.paths.get(path) {
            Some(p) => Arc::clone(p),
            None => {
                if self.paths.len() >= MAX_PATHS {
                    // Held only here (and maybe in `last`): no flow uses it.
                    self.paths.retain(|_, p| Arc::strong_count(p) > 1);
                }
                let p = Arc::new(*path);
                if self.paths.len() < MAX_PATHS {
                    self.paths.insert(*path, Arc::clone(&p));
                }
                p
            }
        };
        self.last = Some(Arc::clone(&shared));
        shared
    }

    /// The empty path (no allocation).
    pub(crate) fn empty(&self) -> Arc<EncapPath> {
        Arc::clone(&self.empty)
    }

    /// Paths remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.paths.len()
    }
}

#[cfg(test)]
mod tests {
    use pcapread::Layer;

    use super::*;

    fn path(vlan: u16) -> EncapPath {
        let mut p = EncapPath::new();
        p.push(Layer::Ethernet);
        p.push(Layer::Vlan(vlan));
        p
    }

    #[test]
    fn equal_paths_share_one_allocation() {
        let mut s = SharedEncaps::default();
        let a = s.get(&path(1));
        let b = s.get(&path(2));
        let c = s.get(&path(1));
        assert!(Arc::ptr_eq(&a, &c));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!((*a, *b), (path(1), path(2)));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn stays_bounded_and_forgets_unused_paths() {
        let mut s = SharedEncaps::default();
        // Every path still held by a flow: the table stops at its bound.
        let held: Vec<_> = (0..MAX_PATHS as u16 + 10)
            .map(|v| s.get(&path(v)))
            .collect();
        assert_eq!(s.len(), MAX_PATHS);
        assert_eq!(*held[MAX_PATHS + 5], path(MAX_PATHS as u16 + 5));
        drop(held);
        // Once the flows are gone, new paths take their places.
        let again = s.get(&path(9999));
        assert_eq!(*again, path(9999));
        assert!(s.len() <= 2, "{} paths kept", s.len());
        assert!(Arc::ptr_eq(&again, &s.get(&path(9999))));
    }
}
