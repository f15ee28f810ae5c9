//! Checklists: what must be done to enter and to leave a stage transition.
//!
//! Each rule is its own item (`CHECKLIST` / `STAGE#{from}#TO#{to}`), and the
//! same rule is mirrored, in the same transaction, onto one summary item
//! (`CHECKLIST` / `RULES`) so a state change reads its rule in the batch that
//! reads the patient. Where no rule exists a transition is allowed.

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Update};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::input::{key_text, texts_within};
use crate::http::{view_json, ApiRequest, Reply};
use crate::keys;
use crate::store::{self, tx, Item, Query, Refused};

use crate::http::route::Route;

/// The routes of this domain (see `router`).
pub const ROUTES: &[Route] = &[
    Route::reference("GET /checklists", |c, _, _| Box::pin(list(c))),
    Route::reference("GET /checklists/{from}/{to}", |c, _, p| {
        Box::pin(get(c, p.get("from"), p.get("to")))
    }),
    Route::configure("PUT /checklists/{from}/{to}", |c, r, p| {
        Box::pin(put(c, p.get("from"), p.get("to"), r))
    }),
    Route::configure("DELETE /checklists/{from}/{to}", |c, r, p| {
        Box::pin(delete(c, p.get("from"), p.get("to"), r))
    }),
];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default)]
    pub from_state: String,
    #[serde(default)]
    pub to_state: String,
    #[serde(default)]
    pub in_required: Vec<String>,
    #[serde(default)]
    pub out_required: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// The rule item as stored.
#[derive(Serialize, Deserialize)]
struct RuleItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(flatten)]
    rule: Rule,
}

/// A checklist rule as answered: every key, null where absent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleView<'a> {
    from: &'a str,
    to: &'a str,
    in_required: &'a [String],
    out_required: &'a [String],
    updated_at: Option<&'a str>,
}

impl Rule {
    /// The rule as answered: its states as `from` and `to`.
    pub fn view(&self) -> RuleView<'_> {
        RuleView {
            from: &self.from_state,
            to: &self.to_state,
            in_required: &self.in_required,
            out_required: &self.out_required,
            updated_at: self.updated_at.as_deref(),
        }
    }

    pub fn to_json(&self) -> Value {
        view_json(&self.view())
    }

    /// Items of each list not in the matching done list: (missing in, missing out).
    pub fn missing(&self, in_done: &[String], out_done: &[String]) -> (Vec<String>, Vec<String>) {
        let absent = |required: &[String], done: &[String]| {
            required
                .iter()
                .filter(|r| !done.contains(r))
                .cloned()
                .collect::<Vec<_>>()
        };
        (
            absent(&self.in_required, in_done),
            absent(&self.out_required, out_done),
        )
    }
}

pub fn summary_key() -> (String, String) {
    (
        keys::CHECKLIST_PK.to_string(),
        keys::CHECKLIST_SUMMARY_SK.to_string(),
    )
}

/// What the summary item says about (from, to): `Some(rule)` when mirrored there.
pub fn rule_from_summary(summary: Option<&Item>, from: &str, to: &str) -> ApiResult<Option<Rule>> {
    let Some(value) = summary.and_then(|s| s.get(&keys::transition_name(from, to))) else {
        return Ok(None);
    };
    let mut rule: Rule = serde_dynamo::from_attribute_value(value.clone())?;
    rule.from_state = from.to_string();
    rule.to_state = to.to_string();
    Ok(Some(rule))
}

/// Guards a transition taken as "no rule": fails the transaction if a rule item
/// exists that the summary lacks (written before the summary existed).
pub fn no_rule_check(
    table: &str,
    from: &str,
    to: &str,
) -> ApiResult<aws_sdk_dynamodb::types::TransactWriteItem> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(store::key(
            keys::CHECKLIST_PK,
            keys::checklist_sk(from, to),
        )))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(|e| ApiError::Internal(format!("condition check: {e}")))?;
    Ok(tx::check(check))
}

/// One rule read by key.
pub async fn get_rule(ctx: &Context, from: &str, to: &str) -> ApiResult<Option<Rule>> {
    let item =
        store::get::<RuleItem>(ctx, keys::CHECKLIST_PK, &keys::checklist_sk(from, to)).await?;
    Ok(item.map(|i| i.rule))
}

fn states(from: &str, to: &str) -> ApiResult<(String, String)> {
    Ok((key_text(from, "from")?, key_text(to, "to")?))
}

pub async fn list(ctx: &Context) -> ApiResult<Reply> {
    let rules = Query::partition(keys::CHECKLIST_PK)
        .prefix(keys::CHECKLIST_PREFIX)
        .all(ctx)
        .await?
        .into_iter()
        .map(|item| store::from_item::<RuleItem>(item).map(|r| r.rule.to_json()))
        .collect::<ApiResult<Vec<Value>>>()?;
    Ok(Reply::ok(Value::Array(rules)))
}

pub async fn get(ctx: &Context, from: &str, to: &str) -> ApiResult<Reply> {
    let (from, to) = states(from, to)?;
    let rule = get_rule(ctx, &from, &to)
        .await?
        .ok_or_else(|| ApiError::not_found("Checklist rule not found"))?;
    Ok(Reply::ok(rule.to_json()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleBody {
    in_required: Option<Vec<String>>,
    out_required: Option<Vec<String>>,
}

/// Items of a rule's list: at most this many, each this long (every rule
/// is mirrored onto one summary item, which must stay below 400 KB).
const MAX_ITEMS: usize = 50;
const MAX_ITEM: usize = 200;

fn clean_list(items: Option<Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items.unwrap_or_default() {
        let item = item.trim().to_string();
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn checked_list(items: Option<Vec<String>>, field: &str) -> ApiResult<Vec<String>> {
    texts_within(&clean_list(items), field, MAX_ITEMS, MAX_ITEM)
}

pub async fn put(ctx: &Context, from: &str, to: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let (from, to) = states(from, to)?;
    let body: RuleBody = req.json()?;
    if body.in_required.is_none() && body.out_required.is_none() {
        return Err(ApiError::bad_request(
            "inRequired or outRequired is required",
        ));
    }
    let rule = Rule {
        from_state: from.clone(),
        to_state: to.clone(),
        in_required: checked_list(body.in_required, "inRequired")?,
        out_required: checked_list(body.out_required, "outRequired")?,
        updated_at: Some(clock::now_rfc3339()),
    };
    let item = store::to_item(&RuleItem {
        pk: keys::CHECKLIST_PK.to_string(),
        sk: keys::checklist_sk(&from, &to),
        rule: rule.clone(),
    })?;
    let mirror = Update::builder()
        .table_name(ctx.table())
        .set_key(Some(store::key(
            keys::CHECKLIST_PK,
            keys::CHECKLIST_SUMMARY_SK,
        )))
        .update_expression("SET #rule = :rule")
        .expression_attribute_names("#rule", keys::transition_name(&from, &to))
        .expression_attribute_values(":rule", store::to_attr(&rule)?)
        .build()
        .map_err(|e| ApiError::Internal(format!("summary update: {e}")))?;
    let audit = Audit::of(req, "checklist.save")
        .target(keys::transition_name(&from, &to))
        .fields(["inRequired", "outRequired"]);
    store::transact(
        ctx,
        vec![
            tx::put(ctx.table(), item, None)?,
            tx::update(mirror),
            audit.tx_item(ctx.table(), keys::CONFIG_LEDGER)?,
        ],
    )
    .await??;
    Ok(Reply::ok(
        json!({"message": "saved", "rule": rule.to_json()}),
    ))
}

pub async fn delete(ctx: &Context, from: &str, to: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let (from, to) = states(from, to)?;
    let delete = Delete::builder()
        .table_name(ctx.table())
        .set_key(Some(store::key(
            keys::CHECKLIST_PK,
            keys::checklist_sk(&from, &to),
        )))
        .condition_expression("attribute_exists(PK)")
        .build()
        .map_err(|e| ApiError::Internal(format!("delete rule: {e}")))?;
    let unmirror = Update::builder()
        .table_name(ctx.table())
        .set_key(Some(store::key(
            keys::CHECKLIST_PK,
            keys::CHECKLIST_SUMMARY_SK,
        )))
        .update_expression("REMOVE #rule")
        .expression_attribute_names("#rule", keys::transition_name(&from, &to))
        .build()
        .map_err(|e| ApiError::Internal(format!("summary update: {e}")))?;
    let items = vec![
        aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .delete(delete)
            .build(),
        tx::update(unmirror),
        Audit::of(req, "checklist.delete")
            .target(keys::transition_name(&from, &to))
            .tx_item(ctx.table(), keys::CONFIG_LEDGER)?,
    ];
    match store::transact(ctx, items).await? {
        Ok(()) => Ok(Reply::ok(json!({"message": "deleted"}))),
        Err(Refused::Condition(_)) => Err(ApiError::not_found("Checklist rule not found")),
        Err(refused) => Err(refused.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use std::collections::HashMap;

    fn full_rule() -> Rule {
        Rule {
            from_state: "preop".into(),
            to_state: "intraop".into(),
            in_required: vec!["consent".into(), "fasting".into()],
            out_required: vec!["handover".into()],
            updated_at: Some("2025-01-01T00:00:00.000Z".into()),
        }
    }

    #[test]
    fn a_rule_answers_from_to_and_both_lists() {
        assert_eq!(
            full_rule().to_json(),
            json!({
                "from": "preop",
                "inRequired": ["consent", "fasting"],
                "outRequired": ["handover"],
                "to": "intraop",
                "updatedAt": "2025-01-01T00:00:00.000Z"
            })
        );
        assert_eq!(
            Rule::default().to_json(),
            json!({
                "from": "",
                "inRequired": [],
                "outRequired": [],
                "to": "",
                "updatedAt": null
            })
        );
    }

    fn summary_attribute(rule: &Rule) -> ApiResult<HashMap<String, AttributeValue>> {
        Ok(HashMap::from([(
            keys::transition_name(&rule.from_state, &rule.to_state),
            store::to_attr(rule)?,
        )]))
    }

    #[test]
    fn missing_items_are_listed_per_side() {
        let rule = Rule {
            in_required: vec!["consent".into(), "fasting".into()],
            out_required: vec!["handover".into()],
            ..Default::default()
        };
        let (missing_in, missing_out) = rule.missing(&["consent".into()], &[]);
        assert_eq!(missing_in, vec!["fasting"]);
        assert_eq!(missing_out, vec!["handover"]);
        let (a, b) = rule.missing(&["fasting".into(), "consent".into()], &["handover".into()]);
        assert!(a.is_empty() && b.is_empty());
    }

    #[test]
    fn the_summary_item_yields_the_rule_of_a_transition() {
        let rule = Rule {
            from_state: "preop".into(),
            to_state: "intraop".into(),
            in_required: vec!["consent".into()],
            ..Default::default()
        };
        let summary: Item = summary_attribute(&rule).unwrap();
        assert_eq!(
            rule_from_summary(Some(&summary), "preop", "intraop").unwrap(),
            Some(rule)
        );
        assert_eq!(
            rule_from_summary(Some(&summary), "intraop", "postop").unwrap(),
            None
        );
        assert_eq!(rule_from_summary(None, "preop", "intraop").unwrap(), None);
        assert_eq!(
            clean_list(Some(vec![" a ".into(), "a".into(), "".into(), "b".into()])),
            vec!["a", "b"]
        );
    }
}
