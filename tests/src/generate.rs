//! A seeded generator of codec requests: random rule sets, tickets, histories, users and ops,
//! biased towards the edges (thresholds, word boundaries, Unicode, invalid values).
//!
//! The PRNG is SplitMix64, written out here rather than taken from `rand`, so that a seed names
//! the same requests forever, whatever version of a dependency is resolved.

use serde_json::{Value, json};

/// SplitMix64.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent`%.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const T0: i64 = 1_735_689_600_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

const KEYWORDS: &[&str] = &[
    "down",
    "outage",
    "urgent",
    "disk",
    "printer",
    "vpn",
    "email",
    "straße",
    "οδος",
    "障害",
    "c++",
    "server down",
    "crash",
    "DOWN",
    "Outage",
    "упал",
    "ｏｕｔａｇｅ",
    "x",
];
const FILLER: &[&str] = &[
    "the",
    "download",
    "countdown",
    "shutdown",
    "is",
    "not",
    "working",
    "since",
    "noon",
    "STRASSE",
    "ΟΔΟΣ",
    "システム",
    "障害発生",
    "c++11",
    "abc++",
    "down-time",
    "down_time",
    "down.",
    "(outage)",
    "🔥",
    "é",
    "İstanbul",
    "ß",
    "\t",
    "\n",
    "urgent!",
    "URGENT",
    "Down2",
    "",
];
const PRIORITIES: &[&str] = &["Low", "Medium", "High", "Critical"];
const STATUSES: &[&str] = &["InApproval", "Approved", "Rejected", "InProgress", "OnHold", "Resolved", "Closed"];
const CATEGORIES: &[&str] = &["Hardware", "ProductionChange", "Software", "Access", "Network"];
const ROLES: &[&str] = &["Hardware Engineer", "Engineer", "Manager", "Director"];

fn priority(rng: &mut Rng) -> Value {
    // 2% invalid, to walk the failure paths too.
    if rng.chance(2) { json!("P9") } else { json!(rng.pick(PRIORITIES)) }
}

fn duration(rng: &mut Rng) -> Value {
    match rng.below(4) {
        0 => json!(1 + rng.below(600)),
        1 => json!(format!("PT{}H", 1 + rng.below(48))),
        2 => json!(format!("PT{}M", 1 + rng.below(300))),
        _ => json!(format!("P{}DT{}H", rng.below(3), 1 + rng.below(23))),
    }
}

/// A random rule set (occasionally invalid).
pub fn rule_set(rng: &mut Rng) -> Value {
    let mut prioritization = Vec::new();
    for i in 0..rng.below(8) {
        let mut rule = json!({
            "id": format!("p{i}"),
            "keywords": (0..1 + rng.below(3)).map(|_| *rng.pick(KEYWORDS)).collect::<Vec<_>>(),
            "priority": priority(rng),
        });
        if rng.chance(20) {
            rule["match_mode"] = json!("substring");
        }
        if rng.chance(15) {
            rule["fields"] = json!([rng.pick(&["title", "description"])]);
        }
        if rng.chance(15) {
            rule["categories"] = json!([rng.pick(CATEGORIES)]);
        }
        if rng.chance(10) {
            rule["requesters"] = json!(["u-req-1"]);
        }
        if rng.chance(15) {
            rule["may_lower"] = json!(true);
        }
        prioritization.push(rule);
    }
    let mut assignment = Vec::new();
    for (i, c) in CATEGORIES.iter().enumerate() {
        if rng.chance(50) {
            assignment.push(json!({"id": format!("a{i}"), "category": c, "role": rng.pick(ROLES)}));
        }
    }
    let mut escalation = Vec::new();
    for i in 0..rng.below(5) {
        let mut rule = json!({
            "id": format!("e{i}"),
            "priority": priority(rng),
            "status": rng.pick(STATUSES),
            "after": duration(rng),
            "escalate_to_role": rng.pick(ROLES),
        });
        if rng.chance(25) {
            rule["set_priority"] = priority(rng);
        }
        escalation.push(rule);
    }
    let mut set = json!({
        "version": rng.below(1000),
        "prioritization": prioritization,
        "assignment": assignment,
        "escalation": escalation,
    });
    if rng.chance(70) {
        let mut targets = Vec::new();
        for p in PRIORITIES {
            if rng.chance(80) {
                targets.push(json!({"priority": p, "first_response": duration(rng), "resolution": duration(rng)}));
            }
        }
        set["sla"] = json!({
            "warning_bp": if rng.chance(3) { 0 } else { 1 + rng.below(9999) },
            "pause_statuses": if rng.chance(50) { json!(["OnHold"]) } else { json!(["OnHold", "InApproval"]) },
            "targets": targets,
        });
    }
    set
}

fn text(rng: &mut Rng, words: u64) -> String {
    let mut out = String::new();
    for _ in 0..words {
        let w = if rng.chance(30) { *rng.pick(KEYWORDS) } else { *rng.pick(FILLER) };
        let w = match rng.below(4) {
            0 => w.to_uppercase(),
            _ => w.to_owned(),
        };
        out.push_str(&w);
        const SEPARATORS: &[&str] = &[" ", " ", " ", ", ", ". ", "-", ""];
        let separator = rng.pick(SEPARATORS);
        out.push_str(separator);
    }
    out
}

/// A random, consistent ticket created at or after `T0`, with events up to its returned `now`.
pub fn ticket(rng: &mut Rng, index: usize) -> (Value, i64) {
    let created_at = T0 + rng.below(1000) as i64 * MINUTE;
    let mut at = created_at;
    let mut status = *rng.pick(&["InApproval", "Approved", "InProgress"]);
    let mut history = vec![json!({"status": status, "at": at})];
    for _ in 0..rng.below(6) {
        // Steps land on round numbers often, so thresholds are hit exactly.
        at += if rng.chance(50) { rng.below(10) as i64 * 30 * MINUTE } else { rng.below(20 * HOUR as u64) as i64 };
        status = *rng.pick(STATUSES);
        history.push(json!({"status": status, "at": at}));
    }
    let (title_words, description_words) = (rng.below(8), rng.below(40));
    let mut ticket = json!({
        "id": format!("TKT-20250101-{index:04}"),
        "title": text(rng, title_words),
        "description": text(rng, description_words),
        "category": rng.pick(CATEGORIES),
        "requester": if rng.chance(20) { "u-req-1" } else { "u-req-2" },
        "status": status,
        "created_at": created_at,
    });
    if rng.chance(85) {
        ticket["history"] = json!(history);
    } else {
        ticket["status"] = json!(history[0]["status"]);
    }
    if rng.chance(50) {
        ticket["priority"] = json!(rng.pick(PRIORITIES));
        ticket["priority_source"] = json!(rng.pick(&["person", "automation"]));
    }
    if rng.chance(30) {
        ticket["assignee"] = json!("u-eng-1");
    }
    if rng.chance(40) {
        ticket["first_response_at"] = json!(created_at + rng.below(3 * HOUR as u64) as i64);
    }
    if rng.chance(20) {
        let entered = history.last().map_or(created_at, |h| h["at"].as_i64().unwrap_or(created_at));
        ticket["escalations_fired"] = json!([{"rule": format!("e{}", rng.below(5)), "status_entered_at": entered}]);
    }
    let last = at.max(ticket["first_response_at"].as_i64().unwrap_or(0));
    let now = last
        + match rng.below(3) {
            0 => 0,
            1 => rng.below(10) as i64 * 30 * MINUTE + rng.below(3) as i64 - 1,
            _ => rng.below(72 * HOUR as u64) as i64,
        };
    (ticket, now.max(last))
}

fn users(rng: &mut Rng) -> Value {
    let mut users = Vec::new();
    for i in 0..rng.below(9) {
        let mut u = json!({"id": format!("u-{}", rng.below(6) * 7 + i), "roles": [rng.pick(ROLES)]});
        if rng.chance(20) {
            u["available"] = json!(false);
        }
        if rng.chance(20) {
            u["open_tickets"] = json!(rng.below(5));
            u["max_open_tickets"] = json!(rng.below(5));
        }
        users.push(u);
    }
    json!(users)
}

/// A random request of any op.
pub fn request(rng: &mut Rng) -> Value {
    let rules = rule_set(rng);
    let (ticket, now) = ticket(rng, 1);
    match rng.below(7) {
        0 => json!({"op": "validate", "rule_set": rules}),
        1 => {
            let mut counters = serde_json::Map::new();
            for role in ROLES {
                if rng.chance(70) {
                    counters.insert((*role).to_owned(), json!(rng.below(50)));
                }
            }
            json!({"op": "evaluate", "rule_set": rules, "ticket": ticket, "now": now, "users": users(rng), "counters": counters})
        }
        2 => json!({"op": "check_escalations", "rule_set": rules, "ticket": ticket, "now": now, "users": users(rng)}),
        3 => json!({"op": "sla_status", "rule_set": rules, "ticket": ticket, "now": now}),
        4 => json!({"op": "next_wake_up", "rule_set": rules, "ticket": ticket, "now": now, "users": users(rng)}),
        5 => json!({"op": "counter_needed", "rule_set": rules, "ticket": ticket, "now": now, "users": users(rng)}),
        _ => {
            let mut tickets = vec![ticket];
            let mut latest = now;
            for i in 0..rng.below(6) {
                let (t, n) = self::ticket(rng, i as usize + 2);
                latest = latest.max(n);
                tickets.push(t);
            }
            let from = T0 + rng.below(24) as i64 * HOUR;
            json!({"op": "compliance_report", "rule_set": rules, "tickets": tickets, "now": latest,
                   "from": from, "to": from + rng.below(96) as i64 * HOUR})
        }
    }
}

/// Random bytes: sometimes valid UTF-8 fragments of JSON, sometimes anything.
pub fn garbage(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(300) as usize;
    match rng.below(3) {
        0 => (0..len).map(|_| rng.next_u64() as u8).collect(),
        1 => {
            let alphabet = br#"{}[]":,0123456789.eE+-truefalsnul opvidateuleskcw\"#;
            (0..len).map(|_| alphabet[rng.below(alphabet.len() as u64) as usize]).collect()
        }
        _ => {
            let mut valid = serde_json::to_vec(&request(rng)).unwrap_or_default();
            let cut = rng.below(valid.len() as u64 + 1) as usize;
            valid.truncate(cut);
            valid
        }
    }
}
