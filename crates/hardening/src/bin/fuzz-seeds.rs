//! Write the seed corpora of the fuzz targets: `fuzz-seeds DIR` creates
//! `DIR/capture`, `DIR/decode`, `DIR/defrag` and `DIR/assemble` from the
//! captures in `testdata/` (see `hardening::seeds`). Usually
//! `cargo run -p hardening --bin fuzz-seeds -- fuzz/corpus`.

use std::path::PathBuf;

use hardening::mutate::Mutator;
use hardening::seeds::{capture_seeds, decode_seeds, testdata, Seeds};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let root = testdata();
    let mut sets: Vec<(&str, Seeds)> = vec![
        ("capture", capture_seeds(&root, 64 * 1024)),
        ("decode", decode_seeds(&root, 8, 4)),
    ];
    let mut m = Mutator::new(1);
    for target in ["defrag", "assemble"] {
        let seeds = (0..64)
            .map(|i| (format!("random-{i}"), m.bytes(64 + 64 * i)))
            .collect();
        sets.push((target, seeds));
    }
    for (target, seeds) in sets {
        let d = dir.join(target);
        std::fs::create_dir_all(&d)?;
        for (name, bytes) in &seeds {
            std::fs::write(d.join(name), bytes)?;
        }
        println!("{target}: {} seeds in {}", seeds.len(), d.display());
    }
    Ok(())
}
