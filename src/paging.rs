//! Pages of one patient's items of one kind (notes, medications): a keyed
//! Query on the patient's partition, optionally filtered. A filter is applied
//! by DynamoDB after `Limit`, so a single Query could return a short page;
//! instead this reads on (a bounded number of rounds) until the page is full,
//! and cuts the cursor at the last item it returns. A cursor is therefore
//! given exactly when more matching items may follow, and a page is only short
//! when it is the last one or when a long run of filtered-out items was met.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::store::{self, Item};

/// Query rounds per page; each reads at most `limit + 1` items.
const MAX_ROUNDS: usize = 5;

/// A filter applied to each item read (e.g. "not deleted").
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub expression: String,
    pub names: HashMap<String, String>,
    pub values: Item,
}

/// Items of `pk` whose sort key starts with `sk_prefix`.
#[derive(Debug, Clone)]
pub struct PageQuery<'a> {
    pub pk: String,
    pub sk_prefix: &'a str,
    pub newest_first: bool,
    pub filter: Option<Filter>,
}

#[derive(Debug)]
pub struct Page {
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

/// Decodes a cursor for this query: it must name this partition and this
/// kind of item (a 400 otherwise).
fn start_key(query: &PageQuery<'_>, cursor: &str) -> ApiResult<Item> {
    let key = store::decode_cursor(cursor, &["PK", "SK"], &[("PK", query.pk.as_str())])?;
    match key.get("SK") {
        Some(AttributeValue::S(sk)) if sk.starts_with(query.sk_prefix) => Ok(key),
        _ => Err(ApiError::bad_request("Invalid cursor")),
    }
}

fn key_of(item: &Item) -> Item {
    item.iter()
        .filter(|(name, _)| *name == "PK" || *name == "SK")
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// One page of at most `limit` items, resuming after `cursor`.
pub async fn query_page(
    ctx: &Context,
    query: &PageQuery<'_>,
    limit: usize,
    cursor: Option<&str>,
) -> ApiResult<Page> {
    let mut start = cursor.map(|c| start_key(query, c)).transpose()?;
    let mut items: Vec<Item> = Vec::new();
    // One more than the page holds, to learn whether anything follows.
    let read_limit = i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX);
    let mut values = HashMap::from([
        (":pk".to_string(), store::s(query.pk.as_str())),
        (":prefix".to_string(), store::s(query.sk_prefix)),
    ]);
    let mut names = HashMap::new();
    if let Some(filter) = &query.filter {
        values.extend(filter.values.clone());
        names.extend(filter.names.clone());
    }
    for _ in 0..MAX_ROUNDS {
        let out = ctx
            .ddb
            .query()
            .table_name(ctx.table())
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .set_filter_expression(query.filter.as_ref().map(|f| f.expression.clone()))
            .set_expression_attribute_names((!names.is_empty()).then(|| names.clone()))
            .set_expression_attribute_values(Some(values.clone()))
            .scan_index_forward(!query.newest_first)
            .limit(read_limit)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await?;
        for item in out.items.unwrap_or_default() {
            if items.len() == limit {
                // Another match exists: the page ends at the last item kept.
                let next_cursor = items
                    .last()
                    .map(key_of)
                    .and_then(|k| store::encode_cursor(&k));
                return Ok(Page { items, next_cursor });
            }
            items.push(item);
        }
        match out.last_evaluated_key {
            Some(last) => start = Some(last),
            None => {
                return Ok(Page {
                    items,
                    next_cursor: None,
                })
            }
        }
    }
    // A long run of filtered-out items: a short page that resumes where the
    // reads stopped.
    let next_cursor = start.as_ref().and_then(store::encode_cursor);
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    fn notes_query() -> PageQuery<'static> {
        PageQuery {
            pk: keys::patient_pk("u1"),
            sk_prefix: keys::NOTE_PREFIX,
            newest_first: true,
            filter: None,
        }
    }

    #[test]
    fn a_cursor_must_name_this_partition_and_this_kind_of_item() {
        // Given cursors made for the patient's notes, another patient, and meds
        let own = store::encode_cursor(&store::key("PATIENT#u1", "NOTE#n1")).unwrap();
        let other_patient = store::encode_cursor(&store::key("PATIENT#u2", "NOTE#n1")).unwrap();
        let other_kind = store::encode_cursor(&store::key("PATIENT#u1", "MED#m1")).unwrap();
        // Then only the first resumes a notes query
        assert!(start_key(&notes_query(), &own).is_ok());
        for bad in [other_patient, other_kind, "junk".to_string()] {
            let err = start_key(&notes_query(), &bad).unwrap_err();
            assert_eq!(err.status().as_u16(), 400);
        }
    }

    #[test]
    fn a_cursor_holds_only_the_table_key() {
        let mut item = store::key("PATIENT#u1", "NOTE#n1");
        item.insert("content".into(), store::s("text"));
        let key = key_of(&item);
        assert_eq!(key, store::key("PATIENT#u1", "NOTE#n1"));
    }
}
