//! The one guarded-write loop: read, edit, write guarded by what was read;
//! when the write is refused (the item changed underneath, or met a running
//! transaction), back off and run the attempt again from a fresh read. One
//! budget, one back-off and one answer when it runs out (409, refetch and
//! retry) for every read-modify-write in the crate.

use super::changes::{self, Changes};
use super::write;
use super::{back_off, get_raw, key, tx, Item};
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use aws_sdk_dynamodb::types::TransactWriteItem;

/// Attempts of one guarded write before it answers 409. With the back-off
/// (10 ms doubling to 250 ms) the budget spans about two seconds of
/// contention, well inside the request deadline.
pub const MAX_ATTEMPTS: u32 = 16;

/// The attempts of one guarded write: `next` waits out the back-off before
/// each attempt after the first and ends the loop when the budget is spent;
/// `exhausted` is the answer then.
///
/// ```text
/// let mut attempts = store::Attempts::new("note");
/// while attempts.next().await {
///     let read = /* read afresh */;
///     match /* guarded write of the edit */ {
///         Ok(()) => return Ok(read),
///         Err(_refused) => continue, // lost the race: read again
///     }
/// }
/// Err(attempts.exhausted())
/// ```
#[derive(Debug)]
pub struct Attempts<'a> {
    noun: &'a str,
    made: u32,
}

impl<'a> Attempts<'a> {
    /// Attempts at writing a `noun` ("task", "patient", …).
    pub fn new(noun: &'a str) -> Self {
        Self { noun, made: 0 }
    }

    /// Whether to make another attempt (after backing off, unless first).
    pub async fn next(&mut self) -> bool {
        if self.made >= MAX_ATTEMPTS {
            return false;
        }
        if self.made > 0 {
            back_off(self.made - 1).await;
        }
        self.made += 1;
        true
    }

    /// Whether the attempt under way is the first (nothing re-read yet).
    pub fn first(&self) -> bool {
        self.made <= 1
    }

    /// The answer once every attempt lost its race: 409, refetch and retry.
    pub fn exhausted(&self) -> ApiError {
        tracing::warn!(
            item = self.noun,
            attempts = self.made,
            "stayed contended; answering 409"
        );
        ApiError::conflict(format!(
            "The {} was changed concurrently; refetch and retry",
            self.noun
        ))
    }
}

/// One item's read-modify-write in [`Attempts`]: `edit` (pure) turns the item
/// as stored into the item as it should become, and one UpdateItem writes
/// only the attributes that differ, guarded by the item's existence and the
/// `guards` attributes as read. `first` is the item if already read (say,
/// in the batch that resolved its patient); later attempts read it by key.
/// Returns the item as stored afterwards; `missing` is the error for an
/// item that does not exist. With `along` (say, the change's ledger entry)
/// the write is one transaction of the update and those items.
#[allow(clippy::too_many_arguments)]
pub async fn modify_item(
    ctx: &Context,
    noun: &str,
    (pk, sk): (&str, &str),
    first: Option<Option<Item>>,
    guards: &[&str],
    missing: impl Fn() -> ApiError,
    along: &[TransactWriteItem],
    edit: impl Fn(&Item) -> ApiResult<Item>,
) -> ApiResult<Item> {
    let mut first = first;
    let mut attempts = Attempts::new(noun);
    while attempts.next().await {
        let read = match first.take() {
            Some(read) => read,
            None => get_raw(ctx, pk, sk).await?,
        };
        let before = read.ok_or_else(&missing)?;
        let after = edit(&before)?;
        let e = changes::expression(&Changes::between(&before, &after), &before, guards);
        if along.is_empty() {
            if let Ok(stored) = write::update(ctx, key(pk, sk), e).await? {
                return Ok(stored);
            }
            continue;
        }
        let mut items = vec![tx::update_of(ctx.table(), key(pk, sk), e)?];
        items.extend(along.iter().cloned());
        // Guarded on every attribute it changes: stored is `after`.
        if write::transact(ctx, items).await?.is_ok() {
            return Ok(after);
        }
    }
    Err(attempts.exhausted())
}
