//! Partial updates as data: "as read" and "as it should become" turned into
//! one `SET …/REMOVE …` of only the changed attributes, so attributes this
//! code does not model survive and derived index keys change in the same
//! write as the fields they come from.
//!
//! The condition pins the item's existence (an unknown id never creates a
//! ghost item) and each guarded attribute's value as read (two concurrent
//! patches cannot leave keys computed from stale fields). The guarded-write
//! loop that re-reads after a refused write is `store::modify`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Update};

use crate::error::{ApiError, ApiResult};
use crate::store::Item;

/// `modeled` (the item as the code serializes it) laid over the stored item,
/// so attributes this code does not model (written by earlier versions)
/// survive; each `removable` attribute absent from `modeled` is dropped.
pub fn overlay(stored: &Item, modeled: Item, removable: &[&str]) -> Item {
    let mut out = stored.clone();
    for name in removable {
        if !modeled.contains_key(*name) {
            out.remove(*name);
        }
    }
    out.extend(modeled);
    out
}

/// The attribute-level difference between two versions of one item.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub set: Vec<(String, AttributeValue)>,
    pub remove: Vec<String>,
}

impl Changes {
    /// What turns `before` into `after` (key attributes never change).
    pub fn between(before: &Item, after: &Item) -> Self {
        let mut set: Vec<(String, AttributeValue)> = after
            .iter()
            .filter(|(name, _)| !is_key(name))
            .filter(|(name, value)| before.get(*name) != Some(*value))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        set.sort_by(|a, b| a.0.cmp(&b.0));
        let mut remove: Vec<String> = before
            .keys()
            .filter(|name| !is_key(name) && !after.contains_key(*name))
            .cloned()
            .collect();
        remove.sort();
        Self { set, remove }
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    /// The attributes set or removed, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .set
            .iter()
            .map(|(name, _)| name.clone())
            .chain(self.remove.iter().cloned())
            .collect();
        names.sort();
        names
    }
}

fn is_key(name: &str) -> bool {
    name == "PK" || name == "SK"
}

/// An UpdateItem expression with its placeholders.
#[derive(Debug, Default, PartialEq)]
pub struct Expression {
    pub update: String,
    pub condition: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

/// Builds the update for `changes`, conditioned on the item existing and on
/// every `guards` attribute still holding its value in `before` (or still
/// being absent).
pub fn expression(changes: &Changes, before: &Item, guards: &[&str]) -> Expression {
    let mut e = Expression::default();
    let mut sets = Vec::new();
    for (i, (name, value)) in changes.set.iter().enumerate() {
        e.names.insert(format!("#s{i}"), name.clone());
        e.values.insert(format!(":s{i}"), value.clone());
        sets.push(format!("#s{i} = :s{i}"));
    }
    let mut removes = Vec::new();
    for (i, name) in changes.remove.iter().enumerate() {
        e.names.insert(format!("#r{i}"), name.clone());
        removes.push(format!("#r{i}"));
    }
    let mut parts = Vec::new();
    if !sets.is_empty() {
        parts.push(format!("SET {}", sets.join(", ")));
    }
    if !removes.is_empty() {
        parts.push(format!("REMOVE {}", removes.join(", ")));
    }
    e.update = parts.join(" ");

    let mut conditions = vec!["attribute_exists(PK)".to_string()];
    for (i, name) in guards.iter().enumerate() {
        e.names.insert(format!("#g{i}"), name.to_string());
        match before.get(*name) {
            Some(value) => {
                e.values.insert(format!(":g{i}"), value.clone());
                conditions.push(format!("#g{i} = :g{i}"));
            }
            None => conditions.push(format!("attribute_not_exists(#g{i})")),
        }
    }
    e.condition = conditions.join(" AND ");
    e
}

impl Expression {
    /// The update as a member of a transaction on `key`.
    pub fn into_update(self, table: &str, key: Item) -> ApiResult<Update> {
        Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(self.update)
            .set_condition_expression(Some(self.condition).filter(|c| !c.is_empty()))
            .set_expression_attribute_names(Some(self.names).filter(|n| !n.is_empty()))
            .set_expression_attribute_values(Some(self.values).filter(|v| !v.is_empty()))
            .build()
            .map_err(|e| ApiError::Internal(format!("update: {e}")))
    }
}

/// The table key (`PK`, `SK`) of a stored item.
pub fn key_of(item: &Item) -> Item {
    item.iter()
        .filter(|(name, _)| is_key(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::s;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs.iter().map(|(k, v)| (k.to_string(), s(*v))).collect()
    }

    #[test]
    fn only_changed_attributes_are_written_and_keys_never() {
        // Given an item as read and as it should become
        let before = item(&[
            ("PK", "P"),
            ("SK", "S"),
            ("title", "old"),
            ("status", "open"),
            ("GSI2PK", "TASK#OPEN#DEPT#A"),
            ("details", "gone soon"),
        ]);
        let after = item(&[
            ("PK", "P"),
            ("SK", "S"),
            ("title", "old"),
            ("status", "done"),
            ("GSI2PK", "TASK#DONE#DEPT#A"),
        ]);
        // When the changes are computed
        let changes = Changes::between(&before, &after);
        // Then only the status, its index key and the removal are in it
        assert_eq!(
            changes.set,
            vec![
                ("GSI2PK".to_string(), s("TASK#DONE#DEPT#A")),
                ("status".to_string(), s("done")),
            ]
        );
        assert_eq!(changes.remove, vec!["details".to_string()]);
        assert!(Changes::between(&before, &before).is_empty());
    }

    #[test]
    fn the_condition_pins_existence_and_every_guarded_attribute() {
        let before = item(&[("PK", "P"), ("SK", "S"), ("status", "open")]);
        let after = item(&[("PK", "P"), ("SK", "S"), ("status", "done")]);
        let e = expression(
            &Changes::between(&before, &after),
            &before,
            &["status", "department"],
        );
        assert_eq!(e.update, "SET #s0 = :s0");
        assert_eq!(
            e.condition,
            "attribute_exists(PK) AND #g0 = :g0 AND attribute_not_exists(#g1)"
        );
        assert_eq!(e.values[":g0"], s("open"));
        assert_eq!(e.values[":s0"], s("done"));
        assert_eq!(e.names["#g1"], "department");
    }

    #[test]
    fn overlay_keeps_unmodeled_attributes_and_drops_cleared_ones() {
        let stored = item(&[
            ("PK", "P"),
            ("legacy_flag", "x"),
            ("GSI1PK", "DEPT#A#ROLE#DOCTOR"),
            ("name", "old"),
        ]);
        let modeled = item(&[("PK", "P"), ("name", "new")]);
        let out = overlay(&stored, modeled, &["GSI1PK", "avatar"]);
        assert_eq!(
            out,
            item(&[("PK", "P"), ("legacy_flag", "x"), ("name", "new")])
        );
    }
}
