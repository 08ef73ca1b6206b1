//! The items `l402 check` reports: one verdict each, whether the item is
//! required, what was seen and, for a failure, what to change.

use serde::Serialize;
use serde_json::{Value, json};

/// How much an item counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// A deployed client fails, or access is granted without a verified
    /// payment, when this item fails: the exit code is 1.
    Required,
    /// Some clients or setups suffer (browsers, old Loop/Pool clients,
    /// shared caches): reported as a warning, the exit code is unchanged.
    Advisory,
    /// Reported for information (what the server does, not right or wrong).
    Info,
}

/// The outcome of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// As the deployed clients expect.
    Pass,
    /// Not as they expect (a warning for an advisory item).
    Fail,
    /// Could not be checked (says why); not counted.
    Skip,
    /// Information only.
    Info,
}

/// One checked item.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// Stable identifier (`header_form`, `garbage_credential`...).
    pub id: &'static str,
    /// Required, advisory or information.
    pub level: Level,
    /// The verdict.
    pub verdict: Verdict,
    /// What was seen.
    pub detail: String,
    /// What to change (failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Item {
    fn new(id: &'static str, level: Level, verdict: Verdict, detail: impl Into<String>) -> Self {
        Item {
            id,
            level,
            verdict,
            detail: detail.into(),
            hint: None,
        }
    }

    /// A passed item.
    pub fn pass(id: &'static str, level: Level, detail: impl Into<String>) -> Self {
        Item::new(id, level, Verdict::Pass, detail)
    }

    /// A failed item, with what to change.
    pub fn fail(
        id: &'static str,
        level: Level,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Item {
            hint: Some(hint.into()),
            ..Item::new(id, level, Verdict::Fail, detail)
        }
    }

    /// An item that could not be checked, and why.
    pub fn skip(id: &'static str, level: Level, why: impl Into<String>) -> Self {
        Item::new(id, level, Verdict::Skip, why)
    }

    /// Information.
    pub fn info(id: &'static str, detail: impl Into<String>) -> Self {
        Item::new(id, Level::Info, Verdict::Info, detail)
    }

    /// Passes when `ok`, else fails with `hint`.
    pub fn check(
        id: &'static str,
        level: Level,
        ok: bool,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        if ok {
            Item::pass(id, level, detail)
        } else {
            Item::fail(id, level, detail, hint)
        }
    }

    fn label(&self) -> &'static str {
        match (self.verdict, self.level) {
            (Verdict::Pass, _) => "PASS",
            (Verdict::Fail, Level::Required) => "FAIL",
            (Verdict::Fail, _) => "WARN",
            (Verdict::Skip, _) => "SKIP",
            (Verdict::Info, _) => "INFO",
        }
    }
}

/// Why the check stopped before every item ran (the items so far are
/// still reported).
#[derive(Debug, Clone, Serialize)]
pub struct Incomplete {
    /// A stable code: `unreachable`, `not_bought`.
    pub code: &'static str,
    /// What happened.
    pub message: String,
    /// Whether money moved (`no`, `yes`, `unknown`), for a purchase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub money_moved: Option<&'static str>,
}

/// Everything one `l402 check` found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The URL checked.
    pub url: String,
    /// Items in the order they ran.
    pub items: Vec<Item>,
    /// Set when the check could not run to the end.
    pub incomplete: Option<Incomplete>,
    /// What `--pay` bought (amount, payment hash), if anything.
    pub purchase: Option<Value>,
}

impl Report {
    /// Adds an item.
    pub fn push(&mut self, item: Item) {
        self.items.push(item);
    }

    fn count(&self, level: Level, verdict: Verdict) -> usize {
        self.items
            .iter()
            .filter(|i| i.level == level && i.verdict == verdict)
            .count()
    }

    /// Whether every required item that ran passed.
    pub fn required_passed(&self) -> bool {
        self.count(Level::Required, Verdict::Fail) == 0
    }

    /// The item with `id`, if it ran.
    #[cfg(test)]
    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }

    /// The JSON report.
    pub fn json(&self, exit_code: u8) -> Value {
        let mut out = json!({
            "url": self.url,
            "ok": exit_code == 0,
            "exit_code": exit_code,
            "summary": {
                "required_passed": self.count(Level::Required, Verdict::Pass),
                "required_failed": self.count(Level::Required, Verdict::Fail),
                "advisory_passed": self.count(Level::Advisory, Verdict::Pass),
                "warnings": self.count(Level::Advisory, Verdict::Fail),
                "skipped": self.items.iter().filter(|i| i.verdict == Verdict::Skip).count(),
            },
            "items": self.items,
        });
        if let Some(incomplete) = &self.incomplete {
            out["incomplete"] = json!(incomplete);
        }
        if let Some(purchase) = &self.purchase {
            out["purchase"] = purchase.clone();
        }
        out
    }

    /// The report for people.
    pub fn human(&self, exit_code: u8) -> String {
        let mut out = format!("l402 check {}\n", self.url);
        let width = self.items.iter().map(|i| i.id.len()).max().unwrap_or(0);
        for item in &self.items {
            let level = match item.level {
                Level::Required => "required",
                Level::Advisory => "advisory",
                Level::Info => "",
            };
            out.push_str(&format!(
                "  {}  {:width$}  {:8}  {}\n",
                item.label(),
                item.id,
                level,
                item.detail
            ));
            if let Some(hint) = &item.hint {
                out.push_str(&format!("        hint: {hint}\n"));
            }
        }
        if let Some(incomplete) = &self.incomplete {
            out.push_str(&format!("  stopped: {}", incomplete.message));
            if let Some(moved) = incomplete.money_moved {
                out.push_str(&format!(" (money moved: {moved})"));
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "result: {} required passed, {} failed; {} warning(s); exit {exit_code}\n",
            self.count(Level::Required, Verdict::Pass),
            self.count(Level::Required, Verdict::Fail),
            self.count(Level::Advisory, Verdict::Fail),
        ));
        out
    }
}
