//! Access policies for `rill serve --auth FILE`: identity policies per access key and the
//! resource policies set with PutResourcePolicy, evaluated as IAM does for one account.
//!
//! A policy is IAM JSON: `{"Statement": [{"Effect": "Allow"|"Deny", "Action": "kinesis:Put*"
//! | [...], "Resource": "arn:aws:kinesis:...:stream/orders" | [...], "Principal": ...}]}`
//! (`Statement` may also be a single object). `Action` and `Resource` match with `*` (any run
//! of characters) and `?` (one character); actions compare case-insensitively. `Principal`
//! appears only in resource policies: `"*"`, `{"AWS": "*"}`, or `{"AWS": [...]}` listing
//! principal ARNs (`arn:aws:iam::<account>:user/<access key id>` by default), account ids or
//! `arn:aws:iam::<account>:root` (the whole account).
//!
//! Decision for a request (action `kinesis:<Operation>` on a resource ARN): an explicit
//! `Deny` in the key's identity policy or in the resource's policy refuses it; otherwise an
//! `Allow` in either grants it; otherwise it is refused. A key configured without an identity
//! policy is allowed everything its resource policies do not deny.

use serde_json::Value;

/// Allow or Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Refuses, whatever else grants.
    Deny,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    actions: Vec<String>,
    resources: Vec<String>,
    /// `None`: no Principal element (identity policies); `Some(vec![])` never matches.
    principals: Option<Vec<String>>,
}

/// A parsed policy document.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    statements: Vec<Statement>,
}

fn strings(member: &'static str, v: Option<&Value>) -> Result<Vec<String>, PolicyError> {
    let not_strings = || PolicyError::NotStrings { member };
    match v {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(not_strings))
            .collect(),
        Some(_) => Err(not_strings()),
    }
}

/// A policy document that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The text is not JSON.
    #[error("policy is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// `Statement` is neither an object nor a list.
    #[error("Statement must be an object or a list")]
    Statement,
    /// A statement's `Effect` is missing or not `Allow`/`Deny`.
    #[error("Effect must be Allow or Deny, not {0:?}")]
    Effect(Option<String>),
    /// A statement's `Principal` is neither `"*"`-like text nor `{"AWS": ...}`.
    #[error("Principal must be \"*\" or {{\"AWS\": ...}}")]
    Principal,
    /// `Action`, `Resource` or `Principal.AWS` is not a string or a list of strings.
    #[error("{member} must be a string or a list of strings")]
    NotStrings {
        /// The member.
        member: &'static str,
    },
}

/// `*` and `?` glob matching.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl Policy {
    /// Parses a policy document.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let v: Value = serde_json::from_str(text).map_err(PolicyError::NotJson)?;
        Policy::from_value(&v)
    }

    /// Parses a policy from a JSON value.
    pub fn from_value(v: &Value) -> Result<Policy, PolicyError> {
        let statements = match v.get("Statement") {
            None => return Ok(Policy::default()),
            Some(Value::Array(a)) => a.clone(),
            Some(s @ Value::Object(_)) => vec![s.clone()],
            Some(_) => return Err(PolicyError::Statement),
        };
        let mut out = Vec::new();
        for s in statements {
            let effect = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                other => return Err(PolicyError::Effect(other.map(str::to_string))),
            };
            let actions = strings("Action", s.get("Action"))?;
            let resources = strings("Resource", s.get("Resource"))?;
            let principals = match s.get("Principal") {
                None => None,
                Some(Value::String(p)) => Some(vec![p.clone()]),
                Some(Value::Object(m)) => Some(strings("Principal.AWS", m.get("AWS"))?),
                Some(_) => return Err(PolicyError::Principal),
            };
            out.push(Statement {
                effect,
                actions,
                resources,
                principals,
            });
        }
        Ok(Policy { statements: out })
    }

    /// One policy with the statements of both.
    pub fn merge(mut self, other: Policy) -> Policy {
        self.statements.extend(other.statements);
        self
    }

    /// The strongest effect of the statements that match (Deny over Allow), if any.
    pub fn evaluate(
        &self,
        principal: &str,
        account: &str,
        action: &str,
        resource: &str,
    ) -> Option<Effect> {
        let action = action.to_ascii_lowercase();
        let mut result = None;
        for s in &self.statements {
            let principal_ok = match &s.principals {
                None => true,
                Some(ps) => ps.iter().any(|p| {
                    p == "*"
                        || p == principal
                        || p == account
                        || *p == format!("arn:aws:iam::{account}:root")
                }),
            };
            let action_ok = s
                .actions
                .iter()
                .any(|a| glob(&a.to_ascii_lowercase(), &action));
            let resource_ok =
                s.resources.is_empty() || s.resources.iter().any(|r| glob(r, resource));
            if principal_ok && action_ok && resource_ok {
                if s.effect == Effect::Deny {
                    return Some(Effect::Deny);
                }
                result = Some(Effect::Allow);
            }
        }
        result
    }
}

/// What a request may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Refused: explicitly (which policy) or for want of an Allow.
    Deny(String),
}

/// Decides a request of `principal` for `action` on `resource` under its identity policy
/// (`None`: none configured, which allows) and the resource's policy.
pub fn decide(
    identity: Option<&Policy>,
    resource_policy: Option<&Policy>,
    principal: &str,
    account: &str,
    action: &str,
    resource: &str,
) -> Decision {
    let id = identity.map(|p| p.evaluate(principal, account, action, resource));
    let res = resource_policy.and_then(|p| p.evaluate(principal, account, action, resource));
    if id == Some(Some(Effect::Deny)) {
        return Decision::Deny("with an explicit deny in an identity-based policy".into());
    }
    if res == Some(Effect::Deny) {
        return Decision::Deny("with an explicit deny in a resource-based policy".into());
    }
    match (id, res) {
        (None, _) | (Some(Some(Effect::Allow)), _) | (_, Some(Effect::Allow)) => Decision::Allow,
        _ => Decision::Deny("because no identity-based policy allows the action".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob("kinesis:put*", "kinesis:putrecords"));
        assert!(glob("*", ""));
        assert!(glob("arn:*:stream/a?c", "arn:aws:kinesis:x:1:stream/abc"));
        assert!(!glob("arn:*:stream/a", "arn:aws:kinesis:x:1:stream/ab"));
    }

    #[test]
    fn deny_wins_and_default_is_deny() -> Result<(), PolicyError> {
        let id = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Action":"kinesis:PutRecord*","Resource":"arn:aws:kinesis:*:*:stream/orders"}]}"#,
        )?;
        let p = "arn:aws:iam::000000000000:user/k";
        let a = "000000000000";
        let orders = "arn:aws:kinesis:us-east-1:000000000000:stream/orders";
        let other = "arn:aws:kinesis:us-east-1:000000000000:stream/other";
        assert_eq!(
            decide(Some(&id), None, p, a, "kinesis:PutRecords", orders),
            Decision::Allow
        );
        assert!(matches!(
            decide(Some(&id), None, p, a, "kinesis:DescribeStream", orders),
            Decision::Deny(_)
        ));
        assert!(matches!(
            decide(Some(&id), None, p, a, "kinesis:PutRecord", other),
            Decision::Deny(_)
        ));
        let deny = Policy::parse(
            r#"{"Statement":{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:user/k"},"Action":"kinesis:*","Resource":"*"}}"#,
        )?;
        assert!(
            matches!(decide(Some(&id), Some(&deny), p, a, "kinesis:PutRecord", orders), Decision::Deny(m) if m.contains("resource-based"))
        );
        assert_eq!(
            decide(None, None, p, a, "kinesis:Anything", orders),
            Decision::Allow
        );
        let grant = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kinesis:DescribeStream","Resource":"*"}]}"#,
        )?;
        assert_eq!(
            decide(
                Some(&id),
                Some(&grant),
                p,
                a,
                "kinesis:DescribeStream",
                orders
            ),
            Decision::Allow
        );
        assert!(matches!(
            Policy::parse(r#"{"Statement":[{"Effect":"Maybe"}]}"#),
            Err(PolicyError::Effect(Some(e))) if e == "Maybe"
        ));
        assert!(matches!(
            Policy::parse(r#"{"Statement":{"Effect":"Allow","Action":[1]}}"#),
            Err(PolicyError::NotStrings { member: "Action" })
        ));
        assert!(matches!(Policy::parse("{"), Err(PolicyError::NotJson(_))));
        Ok(())
    }
}
