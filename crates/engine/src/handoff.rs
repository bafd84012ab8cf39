//! Flow records handed to a consumer while the run goes on
//! ([`Engine::each_record`](crate::Engine::each_record)), rather than kept
//! to the end in the [`Summary`](crate::Summary).
//!
//! After every batch the workers release the records of the flows below the
//! lowest id any of them may still complete (`Lane::floor` in the private
//! `run` module: the oldest flow a worker still tracks, or the next frame
//! to come). Those records, in id order, go through a bounded queue to a
//! thread of their own that calls the consumer, so writing them overlaps
//! the reassembly. A flow that stays open holds back every record after it;
//! the records past the in-memory budget then go to disk as before, and
//! whatever was not released during the run is handed at its end, merged
//! in id order, after the rest. The consumer sees every record once, in id
//! order, whatever the number of workers.

use std::sync::mpsc;

use crate::flow::FlowRecord;
use crate::spill::RecordStore;

/// The consumer of [`Engine::each_record`](crate::Engine::each_record):
/// called once per flow, in id order; an error stops the run.
pub type EachRecord<'a> = dyn FnMut(&FlowRecord) -> anyhow::Result<()> + Send + 'a;

/// Rounds of records queued for the consumer before the workers wait for
/// it (each round is the records one batch released, a few hundred at
/// most on captures of short flows).
const QUEUED: usize = 16;

/// What the consumer thread is sent.
enum Handed {
    /// One round's records, in id order, all below the next round's.
    Round(Vec<FlowRecord>),
    /// The records kept to the end, all above those of the rounds.
    Rest(RecordStore),
}

/// Run `run` beside a thread that calls `each` on every record: `run` gets
/// the function that queues a round of records (it fails once the consumer
/// has stopped) and gives back its result with the store of the records it
/// kept to the end, which are handed last. Returns `run`'s result, the
/// number of records handed, and the consumer's error (which stopped it);
/// `Err` when the thread could not be started (nothing was run).
pub(crate) fn consume<R>(
    each: &mut EachRecord<'_>,
    run: impl FnOnce(&mut dyn FnMut(Vec<FlowRecord>) -> anyhow::Result<()>) -> (R, RecordStore),
) -> anyhow::Result<(R, u64, Option<anyhow::Error>)> {
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Handed>(QUEUED);
        let consumer = std::thread::Builder::new()
            .name("streamcut-records".into())
            .spawn_scoped(s, move || {
                let mut handed = 0u64;
                let mut call = |r: &FlowRecord| {
                    each(r)?;
                    handed += 1;
                    anyhow::Ok(())
                };
                let result = rx.iter().try_for_each(|h| match h {
                    Handed::Round(records) => records.iter().try_for_each(&mut call),
                    Handed::Rest(store) => {
                        let (mem, spilled) = store.finish();
                        let result =
                            crate::spill::sorted(&mem, &spilled).try_for_each(|r| call(&*r?));
                        result
                    }
                });
                (handed, result.err())
            });
        let consumer = match consumer {
            Ok(c) => c,
            Err(e) => return Err(anyhow::Error::new(e).context("starting the flow record thread")),
        };
        let mut hand = |records: Vec<FlowRecord>| {
            if records.is_empty() {
                return Ok(());
            }
            tx.send(Handed::Round(records))
                .map_err(|_| anyhow::anyhow!("the consumer of flow records stopped"))
        };
        let (out, rest) = run(&mut hand);
        // Fails only when the consumer stopped (its error says why).
        let _ = tx.send(Handed::Rest(rest));
        drop(tx);
        match consumer.join() {
            Ok((handed, error)) => Ok((out, handed, error)),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
