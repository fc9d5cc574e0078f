//! Consistency checks and size limits on request data, so every evaluator may assume them.

use crate::error::{Problem, ProblemCode};
use crate::model::{MAX_INSTANT, Millis, Ticket, User, limits};

// The checks take the path as a closure: it is formatted only when there is a problem, so a
// valid request (the common case) allocates nothing here.

fn instant(
    problems: &mut Vec<Problem>,
    code: ProblemCode,
    path: impl FnOnce() -> String,
    at: Millis,
    now: Option<Millis>,
) {
    if !(0..=MAX_INSTANT).contains(&at) {
        problems.push(Problem::new(code, format!("instant `{at}` is outside 1970..9999")).at(path()));
    } else if let Some(now) = now.filter(|&now| at > now) {
        problems.push(Problem::new(code, format!("instant `{at}` is after now `{now}`")).at(path()));
    }
}

fn text(problems: &mut Vec<Problem>, code: ProblemCode, path: impl FnOnce() -> String, value: &str, max: usize) {
    if value.len() > max {
        problems.push(Problem::new(code, format!("{} bytes; the limit is {max}", value.len())).at(path()));
    }
}

/// Checks `now` itself.
pub(crate) fn check_now(now: Millis, path: &str) -> Vec<Problem> {
    let mut p = Vec::new();
    instant(&mut p, ProblemCode::InvalidContext, || path.to_owned(), now, None);
    p
}

/// Checks a ticket: limits, instants in range and not after `now`, and a chronological history
/// that starts at creation and ends in the current status.
pub(crate) fn check_ticket(t: &Ticket, now: Option<Millis>, path: &str) -> Vec<Problem> {
    use ProblemCode::InvalidTicket as C;
    let mut p = Vec::new();
    text(&mut p, C, || format!("{path}.title"), &t.title, limits::TITLE_BYTES);
    text(&mut p, C, || format!("{path}.description"), &t.description, limits::DESCRIPTION_BYTES);
    text(&mut p, C, || format!("{path}.id"), &t.id, limits::NAME_BYTES);
    text(&mut p, C, || format!("{path}.category"), &t.category, limits::NAME_BYTES);
    text(&mut p, C, || format!("{path}.requester"), &t.requester, limits::NAME_BYTES);
    if let Some(a) = &t.assignee {
        text(&mut p, C, || format!("{path}.assignee"), a, limits::NAME_BYTES);
    }
    instant(&mut p, C, || format!("{path}.created_at"), t.created_at, now);
    if let Some(at) = t.first_response_at {
        instant(&mut p, C, || format!("{path}.first_response_at"), at, now);
        if at < t.created_at {
            p.push(Problem::new(C, "first response before creation").at(format!("{path}.first_response_at")));
        }
    }
    if t.history.len() > limits::HISTORY_ENTRIES || t.escalations_fired.len() > limits::HISTORY_ENTRIES {
        p.push(Problem::new(C, format!("more than {} history entries", limits::HISTORY_ENTRIES)).at(path.to_owned()));
        return p;
    }
    let mut previous = t.created_at;
    for (i, e) in t.history.iter().enumerate() {
        let at_path = || format!("{path}.history[{i}].at");
        instant(&mut p, C, at_path, e.at, now);
        if i == 0 && e.at != t.created_at {
            p.push(Problem::new(C, "history must start with the creation status at `created_at`").at(at_path()));
        } else if e.at < previous {
            p.push(Problem::new(C, format!("history entry at `{}` is before the previous one", e.at)).at(at_path()));
        }
        previous = e.at;
    }
    if let Some(last) = t.history.last()
        && last.status != t.status
    {
        p.push(
            Problem::new(
                C,
                format!("history ends in `{}` but the status is `{}`", last.status.as_str(), t.status.as_str()),
            )
            .at(format!("{path}.status")),
        );
    }
    for (i, f) in t.escalations_fired.iter().enumerate() {
        text(&mut p, C, || format!("{path}.escalations_fired[{i}].rule"), &f.rule, limits::NAME_BYTES);
        instant(&mut p, C, || format!("{path}.escalations_fired[{i}].status_entered_at"), f.status_entered_at, None);
    }
    p
}

/// Checks users: ids present and within limits.
pub(crate) fn check_users(users: &[User]) -> Vec<Problem> {
    use ProblemCode::InvalidContext as C;
    let mut p = Vec::new();
    if users.len() > limits::USERS {
        p.push(Problem::new(C, format!("{} users; the limit is {}", users.len(), limits::USERS)).at("users"));
        return p;
    }
    for (i, u) in users.iter().enumerate() {
        if u.id.is_empty() {
            p.push(Problem::new(C, "empty user id").at(format!("users[{i}].id")));
        }
        text(&mut p, C, || format!("users[{i}].id"), &u.id, limits::NAME_BYTES);
        if u.roles.len() > 100 {
            p.push(Problem::new(C, "more than 100 roles").at(format!("users[{i}].roles")));
        }
        for (k, r) in u.roles.iter().enumerate() {
            text(&mut p, C, || format!("users[{i}].roles[{k}]"), r, limits::NAME_BYTES);
        }
    }
    p
}
