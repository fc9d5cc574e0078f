//! The request reader (`rules_core::read`) against serde_json, the reader it replaced: on the
//! parity corpus's tickets, users, rule sets and inputs, and on tens of thousands of mutations
//! of them (fields removed, added, repeated and retyped; text truncated, bytes inserted and
//! deleted; whitespace, escapes and surrogate pairs written out), both readers must read the
//! same value or both refuse — and refuse with the same message, except where the message quotes
//! a float (we quote it as written, serde_json prints it) or serde accepts a shape no one writes
//! by hand and we refuse it (a struct as an array, a unit variant as a map).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;

use rules_core::codec::{CheckInput, EvaluateInput};
use rules_core::duration::DurationSpec;
use rules_core::read::{FromJson, from_str, raw_value};
use rules_core::{RuleSetSpec, Ticket, User};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// xorshift64*: seeded, so a failure names a case that reruns.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Values of each type, taken from the parity corpus.
#[derive(Default)]
struct Seeds {
    tickets: Vec<Value>,
    users: Vec<Value>,
    rule_sets: Vec<Value>,
    evaluate_inputs: Vec<Value>,
    check_inputs: Vec<Value>,
    counters: Vec<Value>,
}

fn seeds() -> Seeds {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut s = Seeds::default();
    s.rule_sets.push(serde_json::from_str(rules_core::DEFAULT_RULE_SET_JSON).unwrap());
    let mut files: Vec<_> = std::fs::read_dir(root.join("tests/vectors")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files {
        let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        if doc["rule_set"].is_object() {
            s.rule_sets.push(doc["rule_set"].clone());
        }
        for case in doc["cases"].as_array().unwrap() {
            let request = &case["request"];
            if request["rule_set"].is_object() {
                s.rule_sets.push(request["rule_set"].clone());
            }
            if request["ticket"].is_object() {
                s.tickets.push(request["ticket"].clone());
                let mut input = Map::new();
                for key in ["ticket", "now", "users", "counters"] {
                    if let Some(v) = request.get(key) {
                        input.insert(key.to_owned(), v.clone());
                    }
                }
                if input.contains_key("counters") {
                    s.counters.push(input["counters"].clone());
                    s.evaluate_inputs.push(Value::Object(input));
                } else {
                    s.evaluate_inputs.push(Value::Object(input.clone()));
                    s.check_inputs.push(Value::Object(input));
                }
            }
            for ticket in request["tickets"].as_array().into_iter().flatten().take(3) {
                s.tickets.push(ticket.clone());
            }
            for user in request["users"].as_array().into_iter().flatten() {
                s.users.push(user.clone());
            }
        }
    }
    for values in
        [&mut s.tickets, &mut s.users, &mut s.rule_sets, &mut s.evaluate_inputs, &mut s.check_inputs, &mut s.counters]
    {
        let mut seen = std::collections::BTreeSet::new();
        values.retain(|v| seen.insert(v.to_string()));
        // Some cases carry thousands of users (the limits); a few hundred seeds are plenty.
        values.truncate(300);
    }
    s
}

/// Replacement values, each of a JSON type something somewhere does not take.
fn odd_value(rng: &mut Rng) -> Value {
    let odd = [
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(7),
        json!(-1),
        json!(-9_223_372_036_854_775_808_i64),
        json!(4_294_967_296_u64),
        json!(18_446_744_073_709_551_615_u64),
        json!(""),
        json!("Critical"),
        json!("PT2H"),
        json!("x\u{e9}\u{1F600}\"\\/\n"),
        json!([]),
        json!(["title"]),
        json!({}),
        json!({"id": "u"}),
    ];
    odd[rng.below(odd.len())].clone()
}

/// Number literals serde_json would print differently from how they are written, or refuse.
const ODD_NUMBERS: [&str; 9] =
    ["1.5", "-0", "1e3", "2E-2", "18446744073709551616", "-9223372036854775809", "0.0", "1e400", "-1.0e+2"];

/// Changes one node of `v`: removes a key, adds an unknown one, or replaces a value.
fn mutate(v: &mut Value, rng: &mut Rng) {
    match v {
        Value::Object(map) if !map.is_empty() && !rng.chance(4) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[rng.below(keys.len())];
            match rng.below(4) {
                0 => {
                    map.remove(key);
                }
                1 => {
                    map.insert(format!("{key}x"), json!(1));
                }
                _ => mutate(map.get_mut(key).unwrap(), rng),
            }
        }
        Value::Array(items) if !items.is_empty() && !rng.chance(4) => {
            let i = rng.below(items.len());
            mutate(&mut items[i], rng)
        }
        _ => *v = odd_value(rng),
    }
}

/// Writes `v` as JSON with random whitespace, escapes, repeated keys and odd number literals.
fn write(v: &Value, rng: &mut Rng, out: &mut String) {
    let space = |rng: &mut Rng, out: &mut String| {
        if rng.chance(12) {
            out.push_str([" ", "\n", "\t", "\r\n  "][rng.below(4)]);
        }
    };
    space(rng, out);
    match v {
        Value::Object(map) => {
            out.push('{');
            let mut first = true;
            let repeat = if rng.chance(40) && !map.is_empty() { Some(rng.below(map.len())) } else { None };
            for (i, (k, v)) in map.iter().enumerate() {
                let times = if repeat == Some(i) { 2 } else { 1 };
                for _ in 0..times {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    write_str(k, rng, out);
                    space(rng, out);
                    out.push(':');
                    write(v, rng, out);
                }
            }
            space(rng, out);
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, rng, out);
            }
            space(rng, out);
            out.push(']');
        }
        Value::String(s) => write_str(s, rng, out),
        Value::Number(n) if rng.chance(30) => out.push_str(ODD_NUMBERS[rng.below(ODD_NUMBERS.len())]),
        other => out.push_str(&other.to_string()),
    }
    space(rng, out);
}

/// A JSON string, some characters escaped (`\u` with surrogate pairs above the BMP).
fn write_str(s: &str, rng: &mut Rng, out: &mut String) {
    let escape_all = rng.chance(10);
    out.push('"');
    for c in s.chars() {
        if escape_all || rng.chance(50) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04X}"));
            }
        } else {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// A byte-level change of a JSON text: truncation, insertion or deletion.
fn damage(text: &str, rng: &mut Rng) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let at = rng.below(bytes.len() + 1);
    match rng.below(3) {
        0 => bytes.truncate(at),
        1 => {
            let inserts: &[&[u8]] = &[
                b"{", b"}", b"[", b"]", b",", b":", b"\"", b"\\", b"0", b"-", b".", b"e", b"n", b"t", b" ", b"\x01",
                b"\\u", b"\\ud83d", b"\\udc00", b"1e",
            ];
            let insert = inserts[rng.below(inserts.len())];
            bytes.splice(at.min(bytes.len())..at.min(bytes.len()), insert.iter().copied());
        }
        _ => {
            if at < bytes.len() {
                bytes.remove(at);
            }
        }
    }
    // Both readers take text; a deletion inside a multi-byte character is not a case.
    String::from_utf8(bytes).unwrap_or_else(|_| text.to_owned())
}

/// Messages that may differ: floats quoted as written; serde's struct-as-array and
/// variant-as-map shapes, which we refuse as the wrong type; and a variant name that is not a
/// string, which serde_json calls a syntax error (`expected value`) and we the wrong type.
fn may_differ(ours: &str, serde: &str) -> bool {
    let float = |m: &str| m.contains("floating point `") || m.starts_with("number out of range");
    float(ours) && float(serde)
        || ours.contains("invalid type: sequence, expected struct ")
        || ours.contains("invalid type: map, expected enum ")
        // serde_json refuses any other value where a variant name belongs with a syntax error.
        || (serde.starts_with("expected value") || serde.starts_with("expected ident"))
            && ours.contains(", expected enum ")
}

/// A text for a failure message: long ones (a 64 KB description) cut in the middle.
fn shown(text: &str) -> String {
    if text.len() <= 600 {
        return format!("{text:?}");
    }
    let cut = |at: usize| (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    format!("{:?} … {:?} ({} bytes)", &text[..cut(300)], &text[cut(text.len() - 300)..], text.len())
}

#[derive(Default)]
struct Tally {
    cases: usize,
    accepted: usize,
    same_message: usize,
    excused: usize,
}

fn compare<T: FromJson + DeserializeOwned + PartialEq + Debug>(text: &str, tally: &mut Tally) {
    let ours = from_str::<T>(text);
    let serde = serde_json::from_str::<T>(text);
    tally.cases += 1;
    match (&ours, &serde) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "both read {} as {}, differently", shown(text), std::any::type_name::<T>());
            tally.accepted += 1;
        }
        (Err(a), Err(b)) => {
            let (a, b) = (a.to_string(), b.to_string());
            if a == b {
                tally.same_message += 1;
            } else {
                assert!(
                    may_differ(&a, &b),
                    "{} of {}:\n ours:  {a}\n serde: {b}",
                    std::any::type_name::<T>(),
                    shown(text)
                );
                tally.excused += 1;
            }
        }
        (Ok(_), Err(e)) => panic!("we read {} as {}; serde_json refuses: {e}", shown(text), std::any::type_name::<T>()),
        (Err(e), Ok(_)) => {
            let e = e.to_string();
            assert!(
                may_differ(&e, ""),
                "we refuse {} as {} ({e}); serde_json reads it",
                shown(text),
                std::any::type_name::<T>()
            );
            tally.excused += 1;
        }
    }
}

fn run<T: FromJson + DeserializeOwned + PartialEq + Debug>(seeds: &[Value], rounds: usize, seed: u64) -> Tally {
    assert!(!seeds.is_empty(), "no seeds for {}", std::any::type_name::<T>());
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    for seed in seeds {
        compare::<T>(&seed.to_string(), &mut tally);
        compare::<T>(&serde_json::to_string_pretty(seed).unwrap(), &mut tally);
    }
    for _ in 0..rounds {
        let mut v = seeds[rng.below(seeds.len())].clone();
        let mutations = rng.below(3);
        for _ in 0..mutations {
            mutate(&mut v, &mut rng);
        }
        let mut text = String::new();
        write(&v, &mut rng, &mut text);
        compare::<T>(&text, &mut tally);
        if rng.chance(3) {
            compare::<T>(&damage(&text, &mut rng), &mut tally);
        }
    }
    tally
}

#[test]
fn reads_what_serde_json_reads_and_refuses_what_it_refuses() {
    let s = seeds();
    let tallies = [
        ("Ticket", run::<Ticket>(&s.tickets, 6_000, 1)),
        ("User", run::<User>(&s.users, 2_000, 2)),
        (
            "Vec<User>",
            run::<Vec<User>>(&s.users.chunks(4).map(|c| Value::Array(c.to_vec())).collect::<Vec<_>>(), 1_000, 3),
        ),
        ("RuleSetSpec", run::<RuleSetSpec>(&s.rule_sets, 6_000, 4)),
        ("EvaluateInput", run::<EvaluateInput>(&s.evaluate_inputs, 4_000, 5)),
        ("CheckInput", run::<CheckInput>(&s.check_inputs, 2_000, 6)),
        ("BTreeMap<String, u64>", run::<BTreeMap<String, u64>>(&s.counters, 1_000, 7)),
        ("DurationSpec", run::<DurationSpec>(&[json!(120), json!("PT2H"), json!("P1DT12H")], 500, 8)),
    ];
    for (name, t) in &tallies {
        eprintln!(
            "{name}: {} texts, {} read alike, {} refused with the same message, {} refused with an excused difference",
            t.cases, t.accepted, t.same_message, t.excused
        );
        // The mutations must exercise both sides: values read, and refusals compared.
        assert!(t.accepted * 10 > t.cases, "{name}: too few texts read");
        assert!(t.same_message * 10 > t.cases, "{name}: too few refusals compared");
        assert!(t.excused * 5 < t.cases, "{name}: too many excused differences");
    }
}

#[test]
fn checks_raw_values_as_serde_json_does() {
    let s = seeds();
    let mut rng = Rng(9);
    let (mut read, mut refused) = (0, 0);
    let values: Vec<&Value> = s.rule_sets.iter().chain(&s.evaluate_inputs).collect();
    for round in 0..6_000 {
        let mut v = values[rng.below(values.len())].clone();
        mutate(&mut v, &mut rng);
        let mut text = String::new();
        write(&v, &mut rng, &mut text);
        if round % 2 == 1 {
            text = damage(&text, &mut rng);
        }
        let ours = raw_value(&text).map_err(|e| e.to_string());
        let serde =
            serde_json::from_str::<&serde_json::value::RawValue>(&text).map(|v| v.get()).map_err(|e| e.to_string());
        assert_eq!(ours, serde, "{}", shown(&text));
        if ours.is_ok() { read += 1 } else { refused += 1 }
    }
    assert!(read > 1_000 && refused > 1_000, "{read} read, {refused} refused");
}

#[test]
fn refuses_nesting_deeper_than_serde_json_does_without_recursing() {
    for depth in [126, 127, 128, 129, 100_000] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let input = format!(r#"{{"op":"validate","rule_set":{text}}}"#);
        let ours = rules_core::codec::call(input.as_bytes());
        let serde = serde_json::from_str::<Value>(&input).map(|_| ()).map_err(|e| e.to_string());
        match serde {
            Ok(()) => assert!(ours.contains("invalid type: sequence, expected struct RuleSetSpec"), "{depth}: {ours}"),
            Err(e) => assert!(ours.contains(&e), "{depth}: {ours} (serde_json: {e})"),
        }
    }
}
