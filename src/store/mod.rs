//! A thin seam over DynamoDB: typed items through serde_dynamo, consistent key
//! reads, batched reads that finish their unprocessed keys, and opaque
//! pagination cursors. No Scan exists here: everything is keyed.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub mod retry;
pub mod sdk_errors;

pub use retry::back_off;

pub use sdk_errors::{
    cancellation_codes, failed_conditions, is_condition_failure, is_lost_race,
    is_transaction_conflict, ConflictRetry,
};

use crate::context::Context;
use crate::error::{ApiError, ApiResult};

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))])
}

pub fn to_item<T: Serialize>(value: &T) -> ApiResult<Item> {
    Ok(serde_dynamo::to_item(value)?)
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> ApiResult<T> {
    Ok(serde_dynamo::from_item(item)?)
}

pub fn to_attr<T: Serialize>(value: &T) -> ApiResult<AttributeValue> {
    Ok(serde_dynamo::to_attribute_value(value)?)
}

/// One strongly consistent GetItem, typed.
pub async fn get<T: DeserializeOwned>(ctx: &Context, pk: &str, sk: &str) -> ApiResult<Option<T>> {
    get_raw(ctx, pk, sk).await?.map(from_item).transpose()
}

/// One strongly consistent GetItem, as stored.
pub async fn get_raw(ctx: &Context, pk: &str, sk: &str) -> ApiResult<Option<Item>> {
    let out = ctx
        .ddb
        .get_item()
        .table_name(ctx.table())
        .set_key(Some(key(pk, sk)))
        .consistent_read(true)
        .send()
        .await?;
    Ok(out.item)
}

/// Strongly consistent BatchGetItem of up to 100 keys; unprocessed keys are
/// retried (a bounded number of times) so the answer is complete. Returns items
/// by `(PK, SK)`.
pub async fn batch_get(
    ctx: &Context,
    keys: &[(String, String)],
) -> ApiResult<HashMap<(String, String), Item>> {
    let mut found = HashMap::new();
    if keys.is_empty() {
        return Ok(found);
    }
    let mut pending: Vec<Item> = keys
        .iter()
        .map(|(pk, sk)| key(pk.as_str(), sk.as_str()))
        .collect();
    for attempt in 0..5 {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(pending))
            .consistent_read(true)
            .build()
            .map_err(|e| ApiError::Internal(format!("batch request: {e}")))?;
        let out = ctx
            .ddb
            .batch_get_item()
            .request_items(ctx.table(), request)
            .send()
            .await?;
        for item in out
            .responses
            .and_then(|mut r| r.remove(ctx.table()))
            .unwrap_or_default()
        {
            if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
                (item.get("PK"), item.get("SK"))
            {
                found.insert((pk.clone(), sk.clone()), item);
            }
        }
        pending = out
            .unprocessed_keys
            .and_then(|mut u| u.remove(ctx.table()))
            .map(|k| k.keys)
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok(found);
        }
        back_off(attempt).await;
    }
    // DynamoDB leaves keys unprocessed when it is short of capacity: transient.
    Err(ApiError::Unavailable(
        "BatchGetItem left keys unprocessed".into(),
    ))
}

/// Encodes a LastEvaluatedKey as an opaque cursor (base64url of its JSON).
pub fn encode_cursor(last_key: &Item) -> Option<String> {
    let mut plain = serde_json::Map::new();
    for (name, value) in last_key {
        match value {
            AttributeValue::S(v) => {
                plain.insert(name.clone(), serde_json::Value::String(v.clone()));
            }
            _ => return None,
        }
    }
    Some(URL_SAFE_NO_PAD.encode(serde_json::Value::Object(plain).to_string()))
}

/// Decodes a cursor made by [`encode_cursor`]. It must hold exactly the
/// `names` attributes as strings, and each `(name, value)` of `fixed` must
/// match (so a cursor cannot move a query to another partition). Anything else
/// is a 400.
pub fn decode_cursor(raw: &str, names: &[&str], fixed: &[(&str, &str)]) -> ApiResult<Item> {
    let bad = || ApiError::bad_request("Invalid cursor");
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|_| bad())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let obj = value.as_object().ok_or_else(bad)?;
    if obj.len() != names.len() {
        return Err(bad());
    }
    let mut item = Item::new();
    for name in names {
        let v = obj.get(*name).and_then(|v| v.as_str()).ok_or_else(bad)?;
        item.insert(name.to_string(), s(v));
    }
    for (name, expected) in fixed {
        if obj.get(*name).and_then(|v| v.as_str()) != Some(*expected) {
            return Err(bad());
        }
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let last = key("PATIENT#u1", "NOTE#n9");
        let raw = encode_cursor(&last).unwrap();
        assert!(!raw.contains("PATIENT"), "cursor is opaque");
        let back = decode_cursor(&raw, &["PK", "SK"], &[("PK", "PATIENT#u1")]).unwrap();
        assert_eq!(back, last);
    }

    #[test]
    fn tampered_cursors_are_rejected() {
        let raw = encode_cursor(&key("PATIENT#u1", "NOTE#n9")).unwrap();
        // another patient's partition
        assert!(decode_cursor(&raw, &["PK", "SK"], &[("PK", "PATIENT#u2")]).is_err());
        // missing attributes for this index
        assert!(decode_cursor(&raw, &["PK", "SK", "GSI1PK"], &[]).is_err());
        // not base64 / not JSON / not an object
        for junk in ["%%%", "bm90IGpzb24", "WzFd", ""] {
            let err = decode_cursor(junk, &["PK", "SK"], &[]).unwrap_err();
            assert_eq!(err.status(), lambda_http::http::StatusCode::BAD_REQUEST);
        }
    }
}

/// Builders for transaction parts, so call sites read as what they do.
pub mod tx {
    use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};

    use super::{ApiError, ApiResult, Item};

    fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> ApiResult<T> {
        r.map_err(|e| ApiError::Internal(format!("transaction item: {e}")))
    }

    /// Put that must not overwrite an existing item.
    pub fn put_new(table: &str, item: Item) -> ApiResult<TransactWriteItem> {
        let put = built(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Put guarded by an arbitrary condition (`None`: unconditional).
    pub fn put(
        table: &str,
        item: Item,
        condition: Option<(&str, Item)>,
    ) -> ApiResult<TransactWriteItem> {
        let mut b = Put::builder().table_name(table).set_item(Some(item));
        if let Some((expr, values)) = condition {
            b = b.condition_expression(expr);
            if !values.is_empty() {
                b = b.set_expression_attribute_values(Some(values));
            }
        }
        Ok(TransactWriteItem::builder().put(built(b.build())?).build())
    }

    pub fn update(update: Update) -> TransactWriteItem {
        TransactWriteItem::builder().update(update).build()
    }

    pub fn check(check: ConditionCheck) -> TransactWriteItem {
        TransactWriteItem::builder().condition_check(check).build()
    }
}

#[cfg(test)]
mod properties {
    //! A cursor decodes only into its own partition and round-trips.

    use proptest::prelude::*;

    use crate::proptest_support::{config, is_client_error};
    use crate::store;

    proptest! {
        #![proptest_config(config())]

    #[test]
        fn cursors_decode_only_into_their_own_partition(raw in ".{0,80}", pk in ".{1,20}", sk in ".{0,20}") {
            let decoded = store::decode_cursor(&raw, &["PK", "SK"], &[("PK", pk.as_str())]);
            prop_assert!(is_client_error(&decoded));
            if let Ok(item) = decoded {
                prop_assert_eq!(item.get("PK"), Some(&store::s(pk.as_str())));
            }
            let made = store::encode_cursor(&store::key(pk.as_str(), sk.as_str()));
            let made = made.unwrap_or_default();
            let back = store::decode_cursor(&made, &["PK", "SK"], &[("PK", pk.as_str())]);
            prop_assert_eq!(back.ok(), Some(store::key(pk.as_str(), sk.as_str())));
        }
    }
}
