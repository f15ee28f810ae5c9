//! The one pager: a keyed Query on the table or an index, read a page at a
//! time behind an opaque cursor, or read to the end. No Scan exists here.
//!
//! A filter is applied by DynamoDB after `Limit`, so a single Query could
//! return a short page; a page instead reads on (a bounded number of rounds,
//! each at most `limit + 1` items) until it is full, and its cursor is the
//! key of the last item it returns. A cursor is therefore given exactly when
//! more matching items may follow, and a page is only short when it is the
//! last one or a long run of filtered-out items was met (then the cursor
//! resumes where the reads stopped).
//!
//! A cursor is base64url of the key's JSON; it decodes only into the query's
//! own partition and key range (a 400 otherwise), so it can never move a
//! read to another patient.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{s, Item};
use crate::context::Context;
use crate::error::{ApiError, ApiResult};

/// Query rounds per page.
const MAX_ROUNDS: usize = 5;

/// A filter applied to each item read (e.g. "not deleted").
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub expression: String,
    pub names: HashMap<String, String>,
    pub values: Item,
}

/// An index: its name and key attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub hash: &'static str,
    pub range: Option<&'static str>,
}

/// Items of one partition of the table or of an index, optionally those
/// whose sort key starts with a prefix, optionally filtered.
#[derive(Debug, Clone)]
pub struct Query {
    index: Option<Index>,
    hash: String,
    prefix: Option<String>,
    filter: Option<Filter>,
    newest_first: bool,
}

/// One page and the cursor of the next, if more may follow.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

impl Page {
    /// Each item as the API shows it (`view` reads it and makes its JSON),
    /// in order, and the cursor of the next page.
    pub fn views(
        self,
        view: impl FnMut(Item) -> ApiResult<serde_json::Value>,
    ) -> ApiResult<(Vec<serde_json::Value>, Option<String>)> {
        let items = self.items.into_iter().map(view).collect::<ApiResult<_>>()?;
        Ok((items, self.next_cursor))
    }
}

impl Query {
    /// The table partition `pk`.
    pub fn partition(pk: impl Into<String>) -> Self {
        Self {
            index: None,
            hash: pk.into(),
            prefix: None,
            filter: None,
            newest_first: false,
        }
    }

    /// The partition `hash` of `index`.
    pub fn index(index: Index, hash: impl Into<String>) -> Self {
        Self {
            index: Some(index),
            ..Self::partition(hash)
        }
    }

    /// Only items whose sort key starts with `prefix`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    pub fn filter(mut self, filter: Option<Filter>) -> Self {
        self.filter = filter;
        self
    }

    /// Descending sort key order.
    pub fn newest_first(mut self, newest_first: bool) -> Self {
        self.newest_first = newest_first;
        self
    }

    fn hash_name(&self) -> &'static str {
        self.index.map_or("PK", |i| i.hash)
    }

    fn range_name(&self) -> Option<&'static str> {
        match self.index {
            Some(i) => i.range,
            None => Some("SK"),
        }
    }

    /// The attributes of a position in this query: the table key, plus the
    /// index key for an index.
    fn key_names(&self) -> Vec<&'static str> {
        let mut names = vec!["PK", "SK"];
        if let Some(i) = self.index {
            names.push(i.hash);
            names.extend(i.range);
        }
        names
    }

    /// Decodes a cursor for this query: it must name this partition and lie
    /// in this key range.
    fn start_key(&self, cursor: &str) -> ApiResult<Item> {
        let bad = || ApiError::bad_request("Invalid cursor");
        let key = decode_cursor(
            cursor,
            &self.key_names(),
            &[(self.hash_name(), self.hash.as_str())],
        )?;
        if let (Some(prefix), Some(range)) = (&self.prefix, self.range_name()) {
            match key.get(range) {
                Some(AttributeValue::S(v)) if v.starts_with(prefix.as_str()) => {}
                _ => return Err(bad()),
            }
        }
        Ok(key)
    }

    fn position_of(&self, item: &Item) -> Item {
        self.key_names()
            .into_iter()
            .filter_map(|name| item.get(name).map(|v| (name.to_string(), v.clone())))
            .collect()
    }

    /// The Query request of this query, from `start`.
    fn request(
        &self,
        ctx: &Context,
        start: Option<Item>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let mut names = HashMap::from([("#h".to_string(), self.hash_name().to_string())]);
        let mut values = HashMap::from([(":h".to_string(), s(self.hash.as_str()))]);
        let mut condition = "#h = :h".to_string();
        if let (Some(prefix), Some(range)) = (&self.prefix, self.range_name()) {
            names.insert("#r".to_string(), range.to_string());
            values.insert(":prefix".to_string(), s(prefix.as_str()));
            condition.push_str(" AND begins_with(#r, :prefix)");
        }
        if let Some(filter) = &self.filter {
            names.extend(filter.names.clone());
            values.extend(filter.values.clone());
        }
        ctx.ddb
            .query()
            .table_name(ctx.table())
            .set_index_name(self.index.map(|i| i.name.to_string()))
            .key_condition_expression(condition)
            .set_filter_expression(self.filter.as_ref().map(|f| f.expression.clone()))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(!self.newest_first)
            // Index reads are eventually consistent by nature.
            .consistent_read(self.index.is_none())
            .set_exclusive_start_key(start)
    }

    /// One Query call from `start`, reading at most `limit` items.
    async fn read(
        &self,
        ctx: &Context,
        limit: Option<usize>,
        start: Option<Item>,
    ) -> ApiResult<(Vec<Item>, Option<Item>)> {
        let out = self
            .request(ctx, start)
            .set_limit(limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
            .send()
            .await?;
        let next = out.last_evaluated_key.filter(|k| !k.is_empty());
        Ok((out.items.unwrap_or_default(), next))
    }

    /// How many items match, counted by DynamoDB (no item leaves the table).
    pub async fn count(&self, ctx: &Context) -> ApiResult<u64> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .request(ctx, start.take())
                .select(aws_sdk_dynamodb::types::Select::Count)
                .send()
                .await?;
            total += u64::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(last) => start = Some(last),
                None => return Ok(total),
            }
        }
    }

    /// One page of at most `limit` items, resuming after `cursor`.
    pub async fn page(&self, ctx: &Context, limit: usize, cursor: Option<&str>) -> ApiResult<Page> {
        let mut start = cursor.map(|c| self.start_key(c)).transpose()?;
        let mut items: Vec<Item> = Vec::new();
        for _ in 0..MAX_ROUNDS {
            // One more than the page holds, to learn whether anything follows.
            let (read, next) = self
                .read(ctx, Some(limit.saturating_add(1)), start.take())
                .await?;
            for item in read {
                if items.len() == limit {
                    // Another match exists: the page ends at the last item kept.
                    let next_cursor = items
                        .last()
                        .map(|i| self.position_of(i))
                        .and_then(|k| encode_cursor(&k));
                    return Ok(Page { items, next_cursor });
                }
                items.push(item);
            }
            match next {
                Some(last) => start = Some(last),
                None => {
                    return Ok(Page {
                        items,
                        next_cursor: None,
                    })
                }
            }
        }
        let next_cursor = start.as_ref().and_then(encode_cursor);
        Ok(Page { items, next_cursor })
    }

    /// Every matching item, reading page after page to the end.
    pub async fn all(&self, ctx: &Context) -> ApiResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let (read, next) = self.read(ctx, None, start.take()).await?;
            items.extend(read);
            match next {
                Some(last) => start = Some(last),
                None => return Ok(items),
            }
        }
    }
}

/// Encodes a key as an opaque cursor (base64url of its JSON); `None` for a
/// key with a non-string attribute (none of this table's keys).
fn encode_cursor(last_key: &Item) -> Option<String> {
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

/// Whether `raw` has a cursor's shape (base64url of a JSON object of
/// strings), so a read can refuse a malformed one before it starts; which
/// query it belongs to is checked when it is used.
pub fn check_cursor_shape(raw: &str) -> ApiResult<()> {
    cursor_object(raw).map(drop)
}

fn bad_cursor() -> ApiError {
    ApiError::bad_request("Invalid cursor")
}

/// The JSON object a cursor carries: base64url of a non-empty object of
/// strings, or a 400.
fn cursor_object(raw: &str) -> ApiResult<serde_json::Map<String, serde_json::Value>> {
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|_| bad_cursor())?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(obj))
            if !obj.is_empty() && obj.values().all(serde_json::Value::is_string) =>
        {
            Ok(obj)
        }
        _ => Err(bad_cursor()),
    }
}

/// Decodes a cursor made by [`encode_cursor`]. It must hold exactly the
/// `names` attributes as strings, and each `(name, value)` of `fixed` must
/// match. Anything else is a 400.
fn decode_cursor(raw: &str, names: &[&str], fixed: &[(&str, &str)]) -> ApiResult<Item> {
    let obj = cursor_object(raw)?;
    if obj.len() != names.len() {
        return Err(bad_cursor());
    }
    let mut item = Item::new();
    for name in names {
        let v = obj
            .get(*name)
            .and_then(|v| v.as_str())
            .ok_or_else(bad_cursor)?;
        item.insert(name.to_string(), s(v));
    }
    for (name, expected) in fixed {
        if obj.get(*name).and_then(|v| v.as_str()) != Some(*expected) {
            return Err(bad_cursor());
        }
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;
    use crate::store::key;

    fn notes_query() -> Query {
        Query::partition(keys::patient_pk("u1"))
            .prefix(keys::NOTE_PREFIX)
            .newest_first(true)
    }

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

    #[test]
    fn a_cursor_must_name_this_partition_and_this_kind_of_item() {
        // Given cursors made for the patient's notes, another patient, and meds
        let own = encode_cursor(&key("PATIENT#u1", "NOTE#n1")).unwrap();
        let other_patient = encode_cursor(&key("PATIENT#u2", "NOTE#n1")).unwrap();
        let other_kind = encode_cursor(&key("PATIENT#u1", "MED#m1")).unwrap();
        // Then only the first resumes a notes query
        assert!(notes_query().start_key(&own).is_ok());
        for bad in [other_patient, other_kind, "junk".to_string()] {
            let err = notes_query().start_key(&bad).unwrap_err();
            assert_eq!(err.status().as_u16(), 400);
        }
    }

    #[test]
    fn an_index_cursor_holds_the_table_and_index_keys_of_its_range() {
        // Given the dashboard index of one department, one assignee's range
        let gsi2 = Index {
            name: keys::GSI2,
            hash: "GSI2PK",
            range: Some("GSI2SK"),
        };
        let query = Query::index(gsi2, "TASK#OPEN#DEPT#A").prefix("ASSIGNEE#d1#");
        let mut item = key("PATIENT#u1", "TASK#t1");
        item.insert("GSI2PK".into(), s("TASK#OPEN#DEPT#A"));
        item.insert("GSI2SK".into(), s("ASSIGNEE#d1#x"));
        item.insert("title".into(), s("text"));
        // Then its position is the four key attributes and resumes the query
        let position = query.position_of(&item);
        assert_eq!(position.len(), 4);
        let cursor = encode_cursor(&position).unwrap();
        assert_eq!(query.start_key(&cursor).unwrap(), position);
        // And not another assignee's range or department
        let other = Query::index(gsi2, "TASK#OPEN#DEPT#A").prefix("ASSIGNEE#d2#");
        assert!(other.start_key(&cursor).is_err());
        let other = Query::index(gsi2, "TASK#OPEN#DEPT#B");
        assert!(other.start_key(&cursor).is_err());
    }
}

#[cfg(test)]
mod properties {
    //! A cursor decodes only into its own partition and round-trips.

    use proptest::prelude::*;

    use super::{decode_cursor, encode_cursor};
    use crate::proptest_support::{config, is_client_error};
    use crate::store;

    proptest! {
        #![proptest_config(config())]

    #[test]
        fn cursors_decode_only_into_their_own_partition(raw in ".{0,80}", pk in ".{1,20}", sk in ".{0,20}") {
            let decoded = decode_cursor(&raw, &["PK", "SK"], &[("PK", pk.as_str())]);
            prop_assert!(is_client_error(&decoded));
            if let Ok(item) = decoded {
                prop_assert_eq!(item.get("PK"), Some(&store::s(pk.as_str())));
            }
            let made = encode_cursor(&store::key(pk.as_str(), sk.as_str()));
            let made = made.unwrap_or_default();
            let back = decode_cursor(&made, &["PK", "SK"], &[("PK", pk.as_str())]);
            prop_assert_eq!(back.ok(), Some(store::key(pk.as_str(), sk.as_str())));
        }
    }
}
