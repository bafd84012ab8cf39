//! The size and SHA-256 of each input file, for the manifest's `inputs`
//! (what an analyst cites to say which evidence file was read).
//!
//! The files are hashed on a thread of their own while the engine reads
//! them ([`Digests::spawn`]), so the cost is a second pass over files the
//! engine has just brought into the page cache (through a map of their
//! own), overlapped with the run, rather than a pass before or after it.
//! Standard input (`-`) and named pipes (`<(zcat x.pcap.gz)`) cannot be
//! read twice: they have neither. With the digest turned off
//! (`--no-input-digest`), only the size is taken (from the file's
//! metadata). A run that is interrupted stops hashing too: the digests
//! it had not finished are left out.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use sha2::{Digest as _, Sha256};

/// Size and SHA-256 (lowercase hex) of one input; `None` where unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputDigest {
    /// Bytes in the file (those hashed, when it was).
    pub size: Option<u64>,
    /// SHA-256 of those bytes.
    pub sha256: Option<String>,
}

/// Inputs being hashed.
#[derive(Debug)]
pub struct Digests {
    thread: Option<JoinHandle<Vec<InputDigest>>>,
    count: usize,
}

impl Digests {
    /// Start hashing `paths` (sizes only unless `hash`); hashing stops
    /// when `stop` is set.
    pub fn spawn(paths: &[PathBuf], hash: bool, stop: Option<Arc<AtomicBool>>) -> Digests {
        let paths = paths.to_vec();
        let count = paths.len();
        let thread = std::thread::Builder::new()
            .name("input-digest".into())
            .spawn(move || {
                paths
                    .iter()
                    .map(|p| digest(p, hash, stop.as_deref()))
                    .collect()
            })
            .ok();
        Digests { thread, count }
    }

    /// The results, in the order of the paths (all unknown if the thread
    /// could not be started or failed).
    pub fn join(self) -> Vec<InputDigest> {
        self.thread
            .and_then(|t| t.join().ok())
            .unwrap_or_else(|| vec![InputDigest::default(); self.count])
    }
}

/// One input's size and digest; errors (a file that cannot be read) leave
/// them unknown: reading the capture reports them. Only regular files have
/// them: standard input and named pipes (`<(zcat x.pcap.gz)`) can be read
/// once, by the engine.
fn digest(path: &Path, hash: bool, stop: Option<&AtomicBool>) -> InputDigest {
    let meta = match std::fs::metadata(path) {
        Ok(m) if m.is_file() && path.as_os_str() != "-" => m,
        _ => return InputDigest::default(),
    };
    let size = Some(meta.len());
    if !hash {
        return InputDigest { size, sha256: None };
    }
    match sha256(path, stop) {
        Ok(Some((n, hex))) => InputDigest {
            size: Some(n),
            sha256: Some(hex),
        },
        _ => InputDigest { size, sha256: None },
    }
}

/// Bytes read and SHA-256 of the file; `None` when stopped. The file is
/// hashed through a map of its own where it can be (no copy into a buffer:
/// about 9% less time than reading it), else read.
fn sha256(path: &Path, stop: Option<&AtomicBool>) -> io::Result<Option<(u64, String)>> {
    const PIECE: usize = 1 << 20;
    let stopped = || stop.is_some_and(|s| s.load(Ordering::Relaxed));
    let mut h = Sha256::new();
    let mut n = 0u64;
    if let Ok(map) = pcapread::source::MappedFile::open(path) {
        for piece in map.bytes().chunks(PIECE) {
            if stopped() {
                return Ok(None);
            }
            h.update(piece);
            n += piece.len() as u64;
        }
        return Ok(Some((n, hex::encode(h.finalize()))));
    }
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; PIECE];
    loop {
        if stopped() {
            return Ok(None);
        }
        let got = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..got]);
        n += got as u64;
    }
    Ok(Some((n, hex::encode(h.finalize()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_digests_of_files_none_for_stdin() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        std::fs::write(&a, b"abc").unwrap();
        let paths = vec![a.clone(), PathBuf::from("-"), tmp.path().join("missing")];
        let got = Digests::spawn(&paths, true, None).join();
        assert_eq!(got[0].size, Some(3));
        // sha256("abc") from FIPS 180-2, appendix B.1.
        assert_eq!(
            got[0].sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(got[1], InputDigest::default());
        assert_eq!(got[2], InputDigest::default());
        let sizes = Digests::spawn(&paths, false, None).join();
        assert_eq!(
            sizes[0],
            InputDigest {
                size: Some(3),
                sha256: None
            }
        );
        let stop = Arc::new(AtomicBool::new(true));
        let stopped = Digests::spawn(&paths, true, Some(stop)).join();
        assert_eq!(
            stopped[0],
            InputDigest {
                size: Some(3),
                sha256: None
            }
        );
    }
}
