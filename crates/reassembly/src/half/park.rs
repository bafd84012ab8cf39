//! A direction of a connection that went quiet: parking it (everything
//! delivered, memory released, delivery point kept) and the sequence number
//! a packet must bring to continue it.

use crate::stream::Dir;

use super::{Calls, Ctx, Half};

impl Half {
    /// The connection went quiet: deliver everything past any holes (as a
    /// flush does, deciding a pending start) and release the verify window.
    /// The delivery point, the ledger and bytes the stream asked to keep
    /// stay, so delivery carries on where it stopped.
    pub(crate) fn park<S: Calls>(&mut self, dir: Dir, ctx: &mut Ctx<'_>, stream: &mut S) {
        self.flush(None, dir, ctx, stream);
        if let Some(w) = self.verify.take() {
            w.release(ctx.verify_mem);
        }
    }

    /// The sequence number this direction's next byte should carry: the
    /// delivery point once started, else (nothing of it seen) where the
    /// peer's ACKs said it starts.
    pub(crate) fn expected_seq(&self) -> Option<u32> {
        match self.space {
            Some(_) => self.next_seq(),
            None => self.hint_seq,
        }
    }
}
