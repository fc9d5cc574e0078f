//! The benchmark workload: a typical ticket (about 1 KB of text) and two rule sets, the default
//! one and a 500-rule one, as codec requests.

use serde_json::{Value, json};

const T0: i64 = 1_735_689_600_000;

/// A typical ticket: a short title and a description of about 1 KB.
pub fn typical_ticket() -> Value {
    let description = "Since the deploy at 09:05 the checkout service answers 502 for roughly a third of \
        requests. Customers in the EU region report that payment confirmation pages time out, and \
        the support queue has grown to 140 open conversations. The load balancer health checks are \
        green, but the application logs show connection pool exhaustion on the primary database. \
        We rolled back the feature flag for the new pricing widget without effect. The on-call \
        engineer suspects the migration that added an index on orders.created_at is still running \
        and holding locks. Please treat this as urgent: the marketing campaign starts at 14:00 and \
        traffic is expected to triple. Attached: Grafana screenshots, the last 500 lines of the \
        checkout log, and the output of pg_stat_activity. Steps tried so far: restarted two pods, \
        scaled the pool from 20 to 40, cleared the CDN cache for the checkout path. Nothing has \
        changed the error rate, which is now steady at 31 percent.";
    json!({
        "id": "TKT-20250101-0042",
        "title": "Checkout errors after deploy, payments failing",
        "description": description,
        "category": "ProductionChange",
        "requester": "u-req-7",
        "status": "InApproval",
        "created_at": T0,
    })
}

/// Helpdesk members for the workload.
pub fn users() -> Value {
    json!([
        {"id": "u-eng-1", "roles": ["Engineer"]},
        {"id": "u-eng-2", "roles": ["Engineer"], "available": false},
        {"id": "u-eng-3", "roles": ["Engineer"], "open_tickets": 2, "max_open_tickets": 8},
        {"id": "u-hw-1", "roles": ["Hardware Engineer"]},
        {"id": "u-mgr-1", "roles": ["Manager"]},
        {"id": "u-dir-1", "roles": ["Director"]},
    ])
}

/// The default rule set.
pub fn default_rules() -> Value {
    serde_json::from_str(rules_core::DEFAULT_RULE_SET_JSON).unwrap_or_default()
}

/// A 500-rule set: 400 keyword rules (two keywords each, some of them in the typical ticket),
/// 50 assignment rules and 50 escalation rules, plus SLA targets.
pub fn large_rules() -> Value {
    let priorities = ["Low", "Medium", "High", "Critical"];
    let statuses = ["InApproval", "Approved", "InProgress", "OnHold"];
    let real = ["checkout", "payment", "database", "deploy", "timeout", "locks", "urgent", "outage"];
    let prioritization: Vec<Value> = (0..400)
        .map(|i| {
            let first = if i % 50 == 0 { real[(i / 50) % real.len()].to_owned() } else { format!("term{i}") };
            json!({"id": format!("p{i}"), "keywords": [first, format!("phrase {i} alpha")], "priority": priorities[i % 4]})
        })
        .collect();
    let mut assignment: Vec<Value> = (0..49)
        .map(|i| json!({"id": format!("a{i}"), "category": format!("Category{i}"), "role": "Engineer"}))
        .collect();
    assignment.push(json!({"id": "a-prod", "category": "ProductionChange", "role": "Engineer"}));
    let escalation: Vec<Value> = (0..50)
        .map(|i| {
            json!({"id": format!("e{i}"), "priority": priorities[i % 4], "status": statuses[i % 4],
                   "after": 30 + i as u64 * 10, "escalate_to_role": "Manager"})
        })
        .collect();
    let mut rules = default_rules();
    rules["version"] = json!(2);
    rules["prioritization"] = json!(prioritization);
    rules["assignment"] = json!(assignment);
    rules["escalation"] = json!(escalation);
    rules
}

/// An `evaluate` request for the typical ticket under `rules`, as bytes.
pub fn evaluate_request(rules: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "op": "evaluate",
        "rule_set": rules,
        "ticket": typical_ticket(),
        "now": T0,
        "users": users(),
        "counters": {"Engineer": 17},
    }))
    .unwrap_or_default()
}
