//! The one back-off of every guarded write that lost a race (and of batch
//! reads DynamoDB left unfinished).

/// The pause before re-reading after the `attempt`-th lost race: doubling
/// from 10 ms up to 250 ms, each drawn between half and all of it, so that
/// writers racing on one item spread out instead of colliding again.
pub fn back_off_delay(attempt: u32) -> std::time::Duration {
    let ceiling = (10u64 << attempt.min(5)).min(250);
    let spread = uuid::Uuid::new_v4().as_u128() as u64 % (ceiling / 2 + 1);
    std::time::Duration::from_millis(ceiling / 2 + spread)
}

/// Sleeps [`back_off_delay`] of `attempt`.
pub async fn back_off(attempt: u32) {
    tokio::time::sleep(back_off_delay(attempt)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_to_a_ceiling_with_jitter() {
        for (attempt, (low, high)) in [(0, (5, 10)), (1, (10, 20)), (3, (40, 80)), (9, (125, 250))]
        {
            for _ in 0..50 {
                let ms = back_off_delay(attempt).as_millis() as u64;
                assert!((low..=high).contains(&ms), "attempt {attempt}: {ms} ms");
            }
        }
    }
}
